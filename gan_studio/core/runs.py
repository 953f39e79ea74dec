"""Run folders: config.json, metrics.jsonl, events.jsonl, checkpoint.pt, snapshots/*.png.

Every file that is rewritten is written atomically (temporary file, fsync, rename), so a crash or a
full disk never leaves half a checkpoint. Checkpoints are loaded with ``weights_only=True``: loading
never runs code from the file; a file that tries to is refused with a clear message.
"""
from __future__ import annotations

import io
import json
import math
import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from gan_studio.core.config import Config, ConfigError

CHECKPOINT = "checkpoint.pt"
FORMAT = "gan-studio-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, corrupt, hostile or not ours; the message says which."""


class RunError(ValueError):
    """A run folder is missing or lacks what it needs."""


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_safe(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return _json_safe(obj.item())
    return obj


def save_checkpoint_file(state: dict, path: str | Path) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint_file(path: str | Path) -> dict:
    """Load and check a checkpoint without running code from it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (an interrupted write?)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CheckpointError(f"{path} was refused: it holds objects other than tensors and plain data "
                              f"(loading it could run code), so it was not loaded. {first[:160]}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, AttributeError,
            ImportError, IndexError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path} is truncated or corrupt and cannot be read "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a GAN Studio checkpoint (format {FORMAT} expected)")
    for key in ("step", "config_json", "G", "D", "opt_g", "opt_d", "rng"):
        if key not in state:
            raise CheckpointError(f"{path} lacks {key!r}: it is incomplete or from another program")
    try:
        Config.from_dict(json.loads(state["config_json"]))
    except (ConfigError, json.JSONDecodeError, TypeError) as e:
        raise CheckpointError(f"{path} holds an invalid config: {e}") from None
    return state


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # -- creation / opening ------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, cfg: Config) -> "RunFolder":
        run = cls(path)
        if (run.path / CHECKPOINT).exists():
            raise RunError(f"{run.path} already holds a run; resume it with --resume {run.path} "
                           "or choose another --out")
        run.path.mkdir(parents=True, exist_ok=True)
        cfg.save(run.path / "config.json")
        for name in ("metrics.jsonl", "events.jsonl"):
            (run.path / name).write_text("")
        return run

    @classmethod
    def open(cls, path: str | Path) -> "RunFolder":
        run = cls(path)
        if not run.path.is_dir():
            raise RunError(f"no run folder at {run.path}")
        if not (run.path / CHECKPOINT).is_file():
            raise RunError(f"{run.path} has no {CHECKPOINT}: it is not a run folder, or no step was saved")
        return run

    def config(self) -> Config:
        return Config.load(self.path / "config.json")

    # -- logs ----------------------------------------------------------------------------------
    def _append(self, name: str, row: dict) -> None:
        with open(self.path / name, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(_json_safe(row)) + "\n")

    def append_metrics(self, row: dict) -> None:
        self._append("metrics.jsonl", row)

    def append_event(self, event: dict) -> None:
        self._append("events.jsonl", event)

    def _read(self, name: str) -> list[dict]:
        p = self.path / name
        if not p.exists():
            return []
        rows = []
        for line in p.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash mid-write: skip it
        return rows

    def read_metrics(self) -> list[dict]:
        return self._read("metrics.jsonl")

    def read_events(self) -> list[dict]:
        return self._read("events.jsonl")

    def truncate_after(self, step: int) -> None:
        """Drop log rows past ``step``: after a resume from that step they will be written again."""
        for name in ("metrics.jsonl", "events.jsonl"):
            rows = [r for r in self._read(name) if r.get("step", 0) <= step]
            atomic_write_text(self.path / name, "".join(json.dumps(r) + "\n" for r in rows))

    # -- checkpoints and snapshots ---------------------------------------------------------------
    def save_checkpoint(self, trainer) -> Path:
        path = self.path / CHECKPOINT
        save_checkpoint_file(trainer.state_dict(), path)
        return path

    def load_checkpoint(self) -> dict:
        return load_checkpoint_file(self.path / CHECKPOINT)

    def save_snapshot(self, trainer) -> Path:
        from gan_studio.core.render import render_snapshot_png
        out = self.path / "snapshots" / f"step_{trainer.step_count:08d}.png"
        atomic_write_bytes(out, render_snapshot_png(trainer))
        return out


def trainer_from_run(path: str | Path, device: str | None = None):
    """Rebuild the Trainer of a run folder at its last checkpoint; log rows past it are dropped."""
    from gan_studio.core.families import make_trainer
    run = RunFolder.open(path)
    state = run.load_checkpoint()
    cfg = Config.from_dict(json.loads(state["config_json"]))
    if cfg.model.script_path and not Path(cfg.model.script_path).is_absolute():
        cfg.model.script_path = str(run.path / cfg.model.script_path)  # imported TorchScript G
    try:
        tr = make_trainer(cfg, device=device)
        tr.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        if isinstance(e, ConfigError):
            raise
        raise CheckpointError(f"{run.path / CHECKPOINT} does not fit its own config "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:160]})") from None
    run.truncate_after(tr.step_count)
    return tr, run
