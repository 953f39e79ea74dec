"""Small helpers shared by the window tests."""
from __future__ import annotations

from gan_studio.core.presets import load_preset

#: a worker answers a command within this many ms even on a loaded 2-core machine
WAIT_MS = 20_000


def tiny_config(preset: str = "ring8", **overrides):
    cfg = load_preset(preset)
    for key, value in {"model.g_width": 32, "model.d_width": 32, "model.g_depth": 2, "model.d_depth": 2,
                       "train.batch_size": 64, "train.log_every": 5, "train.eval_every": 10_000,
                       "train.snapshot_every": 10_000, "train.checkpoint_every": 10_000, **overrides}.items():
        cfg.set(key, value)
    return cfg


def call(win, fn):
    """Ask the worker a question about its Trainer (answered between two steps)."""
    return win.worker.call(fn).result(timeout=WAIT_MS / 1000)
