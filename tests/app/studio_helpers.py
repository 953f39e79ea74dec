"""Small helpers shared by the window tests."""
from __future__ import annotations

import math
import operator

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
    """Ask the engine a question about its Trainer (answered between two steps). The windows train
    in a training process, so ``fn`` must pickle: :func:`trainer_attr` or a function below."""
    return win.worker.call(fn).result(timeout=WAIT_MS / 1000)


def trainer_attr(path: str):
    """A picklable ``lambda tr: tr.<path>`` (dotted)."""
    return operator.attrgetter(path)


# -- questions for the Trainer, module-level so they travel to the training process ---------------
def lr_d(tr) -> float:
    return tr.opt_d.param_groups[0]["lr"]


def poison_generator(tr) -> None:
    """Every weight of G becomes NaN: the next step diverges."""
    for p in tr.G.parameters():
        p.data.fill_(math.nan)


def generate(tr, z, label=None):
    """G(z) as numpy, with a conditional GAN's label for every image."""
    import torch
    z = torch.from_numpy(z)
    return (tr.generate(z) if label is None else tr.generate(z, label)).cpu().numpy()


def fork_and_wait(win, qtbot):
    """Fork the window's selected branch at its current step and wait until the new branch's own
    training process has started (a new Python that imports torch: slow on a loaded machine); the branch."""
    n = len(win.branches) + 1
    win.fork()
    qtbot.waitUntil(lambda: len(win.branches) == n, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: win.branches[-1].state.session is not None, timeout=6 * WAIT_MS)
    return win.branches[-1]


def poison_d_moments(tr) -> None:
    """Adam's moments of D become infinite, the weights and losses stay finite: no step notices,
    saving does (Adam's second moment overflows so under a huge learning rate)."""
    for state in tr.opt_d.state.values():
        for value in state.values():
            if hasattr(value, "fill_") and value.dim() > 0:
                value.fill_(math.inf)
