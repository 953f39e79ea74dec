"""Tricks toggled from another thread while a Trainer runs: each change lands at a step boundary,
is logged with its step, and no step is lost or run twice."""
from __future__ import annotations

import threading
import time

from gan_studio.core.config import Config
from gan_studio.core.runs import RunFolder
from gan_studio.core.training.run_loop import RunLoop
from gan_studio.core.training.trainer import Trainer

WATCHED = ("label_smoothing", "packing", "replay", "minibatch_discrimination", "instance_noise")


def test_tricks_toggled_from_another_thread_apply_between_steps(tmp_path):
    cfg = Config()
    for k, v in {"train.batch_size": 32, "model.latent_dim": 4, "model.g_width": 32, "model.d_width": 32,
                 "model.g_depth": 2, "model.d_depth": 2, "train.log_every": 1000, "train.eval_every": 10**6,
                 "train.snapshot_every": 10**6, "train.checkpoint_every": 10**6,
                 "tricks.minibatch_discrimination.kernels": 4}.items():
        cfg.set(k, v)
    tr = Trainer(cfg, device="cpu")
    run = RunFolder.create(tmp_path / "run", cfg)
    loop = RunLoop(tr, run)
    seen: list[tuple[int, dict]] = []   # (step, the switches in force during that step)
    stop = threading.Event()

    def worker():
        while not stop.is_set():
            loop.advance()
            # settings change only while commands are drained at the start of a step, so the
            # config read after the step returns is the one that step used
            seen.append((tr.step_count, {n: getattr(tr.cfg.tricks, n).enabled for n in WATCHED}))

    th = threading.Thread(target=worker)
    th.start()
    futures = []
    try:
        for i in range(12):
            name = WATCHED[i % len(WATCHED)]
            futures.append(tr.set(f"tricks.{name}.enabled", i % 10 < 5))
            time.sleep(0.01)
        for f in futures:
            f.result(timeout=30)
        target = tr.step_count + 3
        while tr.step_count < target:
            time.sleep(0.005)
    finally:
        stop.set()
        th.join(timeout=30)
    assert not th.is_alive()

    steps = [s for s, _ in seen]
    assert steps == list(range(1, len(steps) + 1))  # every step once, none lost, none run twice
    events = [e for e in tr.events if e["event"] == "set"]
    assert len(events) == 12  # on, off, and on again: every request is a change
    by_step = dict(seen)
    # several requests can land at one boundary: the first one's old value ran before it,
    # the last one's new value runs after it
    first, last = {}, {}
    for e in events:
        first.setdefault((e["step"], e["key"]), e)
        last[(e["step"], e["key"])] = e
    for (step, key), e in last.items():
        name = key.split(".")[1]
        if step > 0:
            assert by_step[step][name] == first[(step, key)]["old"]
        assert by_step[step + 1][name] == e["value"]
    logged = [r for r in run.read_events() if r["event"] == "set"]
    assert [(r["step"], r["key"], r["value"]) for r in logged] == [(e["step"], e["key"], e["value"]) for e in events]
