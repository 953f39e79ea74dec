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
  or the window's confirmation, remembered per sha256), here on import and in every run that opens it
  (:mod:`gan_studio.core.nets.scripted` runs it as G).

Weights that are NaN or infinite, negative batch-norm running variances, and a module that draws
non-finite images are refused with one line.

The run folder holds a checkpoint at step 0 with a data set named ``imported`` that has a shape and
no images: it can be sampled, not trained.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

import torch
from torch import nn

from gan_studio.core.config import Config
from gan_studio.core.errors import CheckpointError, ConfigError, RunError
from gan_studio.core.io import atomic_write_bytes
from gan_studio.core.nets.scripted import describe_value, probe_script, read_script
from gan_studio.core.runs import RunFolder, load_plain

SCRIPT_FILE = "generator.torchscript.pt"


def run_name_for(file: Path) -> str:
    """``imported-<stem>``, the stem made a valid run name (core.config.check_run_name): characters
    a folder name should not hold become '-', and it is cut to the longest name allowed."""
    from gan_studio.core.config import MAX_NAME
    stem = "".join(c if (c.isalnum() or c in "-_.") else "-" for c in file.stem).strip("-.") or "generator"
    return f"imported-{stem}"[:MAX_NAME]


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
    state = load_plain(path, "a PyTorch state_dict",   # tensors and plain data only, never code
                       remedy="copy the file again, or save it again with torch.save(netG.state_dict(), FILE)")
    if isinstance(state, dict) and str(state.get("format", "")).startswith("gan-studio-checkpoint"):
        raise CheckpointError(f"{path} is a GAN Studio checkpoint: open its run folder instead of importing it")
    if isinstance(state, dict):
        for key in ("state_dict", "netG", "G", "generator", "model"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} holds {describe_value(state)}, not a state_dict (a dict of tensors)")
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
def _set_option(cfg: Config, key: str, value, option: str) -> None:
    """``cfg.set``, its refusal said of the command's option ('--ngf: model.ngf = 0 is out of range; ...')."""
    try:
        cfg.set(key, value)
    except ConfigError as e:
        raise ConfigError(f"{option}: {e}") from None


def import_generator(file: str | Path, out: str | Path, arch: str = "dcgan", nz: int = 100, nc: int = 3,
                     ngf: int = 64, image_size: int = 64, bn_stats: str = "running",
                     trust_code: bool = False) -> RunFolder:
    """Make a run folder at ``out`` whose generator is the one in ``file``. ``arch="torchscript"``
    runs the file (to probe it), so it needs ``trust_code=True`` or a file already trusted; trust is
    then remembered for its sha256, so the run folder made here samples on this machine."""
    from gan_studio.core.training.trainer import Trainer
    from gan_studio.core.trust import granted, sha256_bytes, trust_hash
    file, out = Path(file), Path(out)
    if (out / "checkpoint.pt").exists():
        raise CheckpointError(f"{out} already holds a run; choose another --out")
    if nz < 1:
        raise ConfigError(f"--nz = {nz}: must be >= 1")
    cfg = Config()
    cfg.name = run_name_for(file)
    cfg.description = f"generator imported from {file.name} ({arch})"
    cfg.set("data.name", "imported")
    _set_option(cfg, "model.latent_dim", nz, "--nz")
    cfg.set("train.device", "cpu")
    if arch == "dcgan":
        if nc not in (1, 3):
            raise ConfigError(f"--nc = {nc}: choose 1 (grey) or 3 (colour)")
        state = read_state_dict(file)
        cfg.set("data.image_size", image_size)
        cfg.set("data.channels", nc)
        cfg.set("model.arch", "dcgan")
        _set_option(cfg, "model.ngf", ngf, "--ngf")
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
