"""Open generators trained by other programs as run folders that ``sample`` and the latent lab use.

Two kinds of file:

- a ``state_dict`` of the pytorch/examples DCGAN Generator (``dcgan/main.py``: keys ``main.0.weight``
  ... ``main.12.weight``), loaded with ``weights_only=True`` into :class:`DCGANGenerator`, which has
  the same modules. Batch norm samples with the stored running averages by default (one image per
  z, whatever the batch: ``netG.eval()`` in the original program); ``bn_stats="batch"`` reproduces
  the program's train-mode outputs for a whole batch instead.
- a TorchScript module mapping (N, nz) or (N, nz, 1, 1) to (N, C, S, S) images. It is copied into the
  run folder and run as it was saved (its own train/eval mode). A TorchScript file is a program
  (TorchScript, not Python): it is loaded only when trusted (:mod:`gan_studio.core.trust`: ``--trust-code``
  or the window's confirmation, remembered per sha256), here on import and in every run that opens it.

Weights that are NaN or infinite, negative batch-norm running variances, and a module that draws
non-finite images are refused with one line.

The run folder holds a checkpoint at step 0 with a data set named ``imported`` that has a shape and
no images: it can be sampled, not trained.
"""
from __future__ import annotations

import io
import re
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from gan_studio.core.config import Config, ConfigError
from gan_studio.core.runs import CheckpointError, RunError, RunFolder, atomic_write_bytes

SCRIPT_FILE = "generator.torchscript.pt"


# -- the generator of a torchscript run -----------------------------------------------------------
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
    from gan_studio.core.trust import UntrustedCodeError, hash_trusted, sha256_bytes
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no TorchScript file at {path}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read the TorchScript file {path} ({e.strerror or e})") from None
    sha = sha256_bytes(data)
    if not (trust is True or hash_trusted(sha)):
        raise UntrustedCodeError(path, sha)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still supported
            return data, torch.jit.load(io.BytesIO(data), map_location="cpu")
    except Exception as e:  # noqa: BLE001 - whatever torch raises, the user needs one line
        raise CheckpointError(f"{path} is not a TorchScript module ({_first_line(e)}); "
                              "a state_dict needs --arch dcgan") from None


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
            errors.append(_first_line(e))
            continue
        if not isinstance(out, torch.Tensor) or out.ndim != 4 or out.shape[0] != 2:
            raise CheckpointError(f"the TorchScript module maps z of shape {tuple(z.shape)} to "
                                  f"{_describe(out)}; images (N, C, S, S) are expected")
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
    from gan_studio.core.models import MLPDiscriminator
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


def check_finite_state(state: dict, path) -> None:
    """One line for the first NaN/inf weight or negative batch-norm running variance in ``state``."""
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            continue
        bad = int((~torch.isfinite(value)).sum())
        if bad:
            raise CheckpointError(f"{path}: {key} holds {bad} NaN or infinite value{'s' * (bad > 1)}; "
                                  "weights must be finite")
        if key.endswith("running_var") and value.numel() and float(value.min()) < 0:
            raise CheckpointError(f"{path}: {key} holds negative running variances (min "
                                  f"{float(value.min()):.4g}); a variance must be >= 0")


# -- state_dicts of the pytorch/examples DCGAN ------------------------------------------------------
def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state_dict from FILE without running code; common wrappers ({"state_dict": ...}, "module."
    prefixes of DataParallel) are unwrapped."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no file at {path}")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            if any("/code/" in n for n in zf.namelist()):  # TorchScript archives carry their code
                raise CheckpointError(f"{path} is a TorchScript module, not a state_dict: use --arch torchscript")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - unpickling errors, truncation, not a torch file at all
        raise CheckpointError(f"{path} cannot be read as a PyTorch state_dict with weights_only=True "
                              f"({_first_line(e)[:160]})") from None
    if isinstance(state, dict) and str(state.get("format", "")).startswith("gan-studio-checkpoint"):
        raise CheckpointError(f"{path} is a GAN Studio checkpoint: open its run folder instead of importing it")
    if isinstance(state, dict):
        for key in ("state_dict", "netG", "G", "generator", "model"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} holds {_describe(state)}, not a state_dict (a dict of tensors)")
    return {re.sub(r"^module\.", "", k): v for k, v in state.items()}


def check_dcgan_state(state: dict, G: nn.Module, path, nz: int, ngf: int, nc: int, size: int) -> None:
    """Raise one line naming the first thing that does not fit, and what the file looks like instead."""
    want = G.state_dict()
    what = f"a DCGAN generator with nz={nz}, ngf={ngf}, nc={nc} at {size} px"
    missing = [k for k in want if k not in state]
    extra = [k for k in state if k not in want]
    bad = [k for k in want if k in state and tuple(state[k].shape) != tuple(want[k].shape)]
    if not (missing or extra or bad):
        return
    guess = guess_dcgan(state)
    hint = (f"; the file looks like nz={guess['nz']}, ngf={guess['ngf']}, nc={guess['nc']} at "
            f"{guess['image_size']} px") if guess else ""
    if bad:
        k = bad[0]
        raise CheckpointError(f"{path} does not fit {what}: {k} is {tuple(state[k].shape)} in the file, "
                              f"{tuple(want[k].shape)} expected{hint}")
    if missing:
        raise CheckpointError(f"{path} does not fit {what}: it lacks {', '.join(missing[:3])}"
                              f"{' ...' if len(missing) > 3 else ''}{hint}")
    raise CheckpointError(f"{path} does not fit {what}: unexpected keys {', '.join(extra[:3])}"
                          f"{' ...' if len(extra) > 3 else ''}{hint}")


def guess_dcgan(state: dict) -> dict | None:
    """nz, ngf, nc and the image size of a pytorch/examples-style generator state_dict, or None."""
    convs = sorted((int(m.group(1)), v) for k, v in state.items()
                   if (m := re.fullmatch(r"main\.(\d+)\.weight", k)) and v.ndim == 4)
    if len(convs) < 3:
        return None
    first, last = convs[0][1], convs[-1][1]
    stages = len(convs) - 1
    return {"nz": first.shape[0], "ngf": last.shape[0], "nc": last.shape[1], "image_size": 4 * 2 ** stages}


# -- the run folder -----------------------------------------------------------------------------------
def import_generator(file: str | Path, out: str | Path, arch: str = "dcgan", nz: int = 100, nc: int = 3,
                     ngf: int = 64, image_size: int = 64, bn_stats: str = "running",
                     trust_code: bool = False) -> RunFolder:
    """Make a run folder at ``out`` whose generator is the one in ``file``. ``arch="torchscript"``
    runs the file (to probe it), so it needs ``trust_code=True`` or a file already trusted; trust is
    then remembered for its sha256, so the run folder made here samples on this machine."""
    from gan_studio.core.trainer import Trainer
    from gan_studio.core.trust import granted, sha256_bytes, trust_hash
    file, out = Path(file), Path(out)
    if (out / "checkpoint.pt").exists():
        raise CheckpointError(f"{out} already holds a run; choose another --out")
    if nz < 1:
        raise ConfigError(f"--nz = {nz}: must be >= 1")
    cfg = Config()
    cfg.name = f"imported-{file.stem}"
    cfg.description = f"generator imported from {file.name} ({arch})"
    cfg.set("data.name", "imported")
    cfg.set("model.latent_dim", nz)
    cfg.set("train.device", "cpu")
    if arch == "dcgan":
        if nc not in (1, 3):
            raise ConfigError(f"--nc = {nc}: choose 1 (grey) or 3 (colour)")
        state = read_state_dict(file)
        cfg.set("data.image_size", image_size)
        cfg.set("data.channels", nc)
        cfg.set("model.arch", "dcgan")
        cfg.set("model.ngf", ngf)
        cfg.set("model.ndf", 8)  # D is never trained here: keep the checkpoint small
        cfg.set("model.g_bn_stats", bn_stats)
        tr = Trainer(cfg, device="cpu")
        check_dcgan_state(state, tr.G, file, nz, ngf, nc, image_size)
        check_finite_state(state, file)
        tr.G.load_state_dict(state)
        probe = tr.generate(torch.randn(2, nz, generator=torch.Generator().manual_seed(0)))
        if not bool(torch.isfinite(probe).all()):
            raise CheckpointError(f"{file}: the generator draws non-finite (NaN or infinite) images; refusing it")
        run = RunFolder.create(out, cfg)
    elif arch == "torchscript":
        data, module = read_script(file, trust=trust_code)
        sha = sha256_bytes(data)
        check_finite_state(dict(module.state_dict()), file)
        input_4d, (c, h, w) = probe_script(module, nz)
        if c not in (1, 3) or h != w or h not in (8, 16, 32, 64):
            raise CheckpointError(f"{file} draws images of shape ({c}, {h}, {w}); the studio shows 1 or 3 "
                                  "channels, square, 8/16/32/64 px")
        cfg.set("data.image_size", h)
        cfg.set("data.channels", c)
        cfg.set("model.arch", "torchscript")
        cfg.set("model.script_path", SCRIPT_FILE)
        if trust_code:
            try:
                trust_hash(sha, file.name)  # remembered: this machine's runs of this file open without asking
            except RunError:  # a read-only config folder: trusted for this import only
                pass
        run = RunFolder.create(out, cfg)
        atomic_write_bytes(run.path / SCRIPT_FILE, data)  # the very bytes that were hashed and probed
        built = cfg.copy()
        built.model.script_path = str(run.path / SCRIPT_FILE)
        with granted(sha):
            tr = Trainer(built, device="cpu")
        tr.cfg.model.script_path = SCRIPT_FILE  # the checkpoint names it relative to the run folder
    else:
        raise ConfigError(f"--arch = {arch!r} is not allowed; choose dcgan or torchscript")
    run_events = {"event": "imported", "key": str(file), "value": arch}
    tr.on_event.append(run.append_event)
    tr.record_event(run_events)
    run.save_checkpoint(tr)
    run.save_snapshot(tr)
    return run


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"


def _describe(obj) -> str:
    if isinstance(obj, torch.Tensor):
        return f"a tensor of shape {tuple(obj.shape)}"
    if isinstance(obj, dict):
        return f"a dict with {len(obj)} entries" + (" that are not all tensors" if obj else "")
    return f"a {type(obj).__name__}"
