"""A generator imported as TorchScript (``model.arch = "torchscript"``): G runs the scripted module.

A TorchScript file is a program (TorchScript, not Python): :func:`read_script` is the one place one
is loaded, and it loads only a file whose sha256 is trusted (:mod:`gan_studio.core.trust`:
``--trust-code`` or the window's confirmation) or whose caller passes ``trust=True`` explicitly.
Such a run can be sampled, not trained: D is a placeholder.
"""
from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from gan_studio.core.config import Config
from gan_studio.core.errors import CheckpointError, ConfigError
from gan_studio.core.nets.mlp import MLPDiscriminator
from gan_studio.core.trust import UntrustedCodeError, hash_trusted, sha256_bytes

class ScriptedGenerator(nn.Module):
    """z (N, nz) -> the scripted module's images; reshapes z to (N, nz, 1, 1) when the module wants it."""

    def __init__(self, module: torch.jit.ScriptModule, nz: int, input_4d: bool):
        super().__init__()
        self.module, self.nz, self.input_4d = module, nz, input_4d
        if not any(True for _ in module.parameters()):
            # the Trainer's Adam refuses an empty parameter list; this one is never used
            self.placeholder = nn.Parameter(torch.zeros(0))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z.reshape(z.shape[0], self.nz, 1, 1) if self.input_4d else z.reshape(z.shape[0], self.nz)
        return self.module(z)

    def train(self, mode: bool = True):
        self.training = mode  # the scripted module keeps the mode it was saved in
        return self


def read_script(path: str | Path, trust: bool = False) -> tuple[bytes, torch.jit.ScriptModule]:
    """The bytes of a TorchScript file and the module loaded from exactly those bytes. The only place a
    script is loaded: refused (UntrustedCodeError, nothing run) unless its sha256 is trusted
    (gan_studio.core.trust) or the caller passes ``trust=True`` explicitly."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no TorchScript file at {path}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read the TorchScript file {path} ({e.strerror or e})") from None
    if not holds_script_code(data):   # a state_dict or a stray file is no program: say so, not "untrusted"
        raise CheckpointError(f"{path} is not a TorchScript module (it holds no TorchScript code); "
                              "a state_dict needs --arch dcgan")
    sha = sha256_bytes(data)
    if not (trust is True or hash_trusted(sha)):
        raise UntrustedCodeError(path, sha)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still supported
            return data, torch.jit.load(io.BytesIO(data), map_location="cpu")
    except Exception as e:  # noqa: BLE001 - whatever torch raises, the user needs one line
        raise CheckpointError(f"{path} is not a TorchScript module ({first_line(e)}); "
                              "a state_dict needs --arch dcgan") from None


def holds_script_code(data: bytes) -> bool:
    """Whether ``data`` is a zip archive with TorchScript code in it (read from the archive's listing
    only: nothing in it is loaded or run)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return any("/code/" in name or name.startswith("code/") for name in zf.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return False


def load_script(path: str | Path, trust: bool = False) -> torch.jit.ScriptModule:
    """The module of a trusted TorchScript file (see :func:`read_script`)."""
    return read_script(path, trust=trust)[1]


def probe_script(module, nz: int) -> tuple[bool, tuple[int, int, int]]:
    """(takes (N, nz, 1, 1)?, image shape (C, S, S)): tries (N, nz) first, then (N, nz, 1, 1)."""
    errors = []
    for input_4d in (False, True):
        z = torch.zeros(2, nz, 1, 1) if input_4d else torch.zeros(2, nz)
        try:
            with torch.no_grad():
                out = module(z)
        except Exception as e:  # noqa: BLE001 - a wrong input shape raises anything
            errors.append(first_line(e))
            continue
        if not isinstance(out, torch.Tensor) or out.ndim != 4 or out.shape[0] != 2:
            raise CheckpointError(f"the TorchScript module maps z of shape {tuple(z.shape)} to "
                                  f"{describe_value(out)}; images (N, C, S, S) are expected")
        zr = torch.randn(z.shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            more = module(zr)
        for probe, img in (("zeros", out), ("random", more)):
            if not (isinstance(img, torch.Tensor) and img.is_floating_point() and bool(torch.isfinite(img).all())):
                raise CheckpointError(f"the TorchScript module draws non-finite (NaN or infinite) images "
                                      f"for z of {probe}; refusing it")
        return input_4d, tuple(out.shape[1:])
    raise CheckpointError(f"the TorchScript module takes neither z of shape (N, {nz}) nor (N, {nz}, 1, 1) "
                          f"(is --nz right?): {errors[-1][:160]}")


def build_scripted(cfg: Config, data) -> tuple[nn.Module, nn.Module]:
    """model.arch = 'torchscript': G runs the scripted file; D is a placeholder (no training)."""
    if not cfg.model.script_path:
        raise ConfigError("model.arch = 'torchscript' needs model.script_path (made by gan-studio import-generator)")
    module = load_script(cfg.model.script_path)
    input_4d, shape = probe_script(module, cfg.model.latent_dim)
    if tuple(shape) != tuple(data.shape):
        raise ConfigError(f"the TorchScript generator draws images of shape {shape}, the data set "
                          f"{cfg.data.name!r} has {tuple(data.shape)}")
    G = ScriptedGenerator(module, cfg.model.latent_dim, input_4d)
    D = MLPDiscriminator(data.shape, 1, 8, "leaky_relu")
    return G, D


def first_line(e: BaseException) -> str:
    """``Type: first line of the message`` of an error that torch or a foreign file raised."""
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"


def describe_value(obj) -> str:
    """What a file or a module handed back, in a few words, for a message."""
    if isinstance(obj, torch.Tensor):
        return f"a tensor of shape {tuple(obj.shape)}"
    if isinstance(obj, dict):
        return f"a dict with {len(obj)} entries" + (" that are not all tensors" if obj else "")
    return f"a {type(obj).__name__}"
