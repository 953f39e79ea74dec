"""The window's training engine driven headless in the test's thread, for the tests of what it does and
replies when a run meets trouble: a tiny ring8 config, an engine whose replies are kept, and the steps
its serving loop would run."""
from __future__ import annotations

import queue

from gan_studio.core.config import Config
from gan_studio.session import protocol as P

#: a ring8 run small enough for a test: logged every 10 steps, evaluated, pictured and saved only when asked
TINY_SETTINGS = {"model.g_width": 16, "model.d_width": 16, "train.batch_size": 32, "train.device": "cpu",
                 "train.log_every": 10, "train.eval_every": 1000, "train.snapshot_every": 1000,
                 "train.checkpoint_every": 1000}


def out_of_memory() -> BaseException:
    """What PyTorch raises when a GPU's memory runs out (an older torch: a RuntimeError saying so)."""
    import torch
    oom = getattr(torch, "OutOfMemoryError", None)
    return oom("CUDA out of memory. Tried to allocate 2.00 GiB") if oom else RuntimeError("CUDA out of memory")


def tiny_cfg(settings: dict | None = None) -> Config:
    """The tiny config, with ``settings`` (dotted key -> value) over it."""
    cfg = Config()
    for key, value in {**TINY_SETTINGS, **(settings or {})}.items():
        cfg.set(key, value)
    return cfg


def engine_with_run(tmp_path, cfg: Config, inbox: queue.Queue | None = None):
    """A TrainingEngine writing under ``tmp_path`` with a new run of ``cfg``, and the list its replies go to."""
    from gan_studio.session.engine import TrainingEngine
    replies: list = []
    engine = TrainingEngine(tmp_path, "cpu", inbox if inbox is not None else queue.Queue(), replies.append)
    engine.new_run(P.New(cfg))
    return engine, replies


def train(engine, steps: int) -> None:
    """Ask the engine for ``steps`` steps and advance it as its serving loop would, until it stops (done or
    paused); bounded, so that an engine that never stops fails its test instead of hanging it."""
    engine.run_steps(P.RunSteps(steps))
    for _ in range(10 * steps + 10):
        if not engine._busy():
            return
        engine._advance()


def diverged_replies(replies: list) -> list:
    """The Diverged replies among ``replies``."""
    return [r for r in replies if isinstance(r, P.Diverged)]


def paused_once_at(replies: list, step: int) -> str:
    """The message of the one Diverged reply among ``replies``, which says the run was paused at ``step``."""
    paused = diverged_replies(replies)
    assert len(paused) == 1 and paused[0].step == step, replies
    return paused[0].message
