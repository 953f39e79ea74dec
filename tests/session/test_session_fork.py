"""Fork in the training engine, through the process transport: the engine keeps the states of its
last evaluations in memory and lists them (ForkPointsChanged); Fork writes a branch folder from
memory at a kept step or the current one, with changes, while the run goes on; the branch trains
on (here headless, as `gan-studio train --resume` would; the window opens it in a second client)
bit for bit as the parent did."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gan_studio.core.errors import RunError
from gan_studio.core.runs import RunFolder, load_checkpoint_file, trainer_from_run
from gan_studio.core.training.run_loop import RunLoop
from gan_studio.session import protocol as P

from conftest import tiny_config

STATE_KEYS = ("G", "D", "opt_g", "opt_d", "rng", "extra", "step", "events_json")


def rows(path, upto: int) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "steps_per_s"} for r in RunFolder(path).read_metrics()
            if r["step"] <= upto]


def test_the_engine_forks_from_memory_and_the_branch_trains_on_exactly(drive, pool, tmp_path):
    cfg = tiny_config(**{"train.eval_every": 10, "train.fork_keep": 2, "tricks.replay.enabled": True,
                         "tricks.replay.buffer_size": 40})
    parent = drive(P.New(cfg), engine="process")
    run_path = Path(parent.wait_for(P.Opened).info.run_path)
    parent.client.send(P.RunSteps(30))
    assert parent.wait_for(P.TargetReached).step == 30
    assert parent.ask(P.ForkPoints()) == [20, 30]
    assert parent.client.fork_steps == (20, 30)   # step 10 was kept, then dropped
    shown = [r.steps for r in parent.replies if isinstance(r, P.ForkPointsChanged)]
    assert shown == [(), (10,), (10, 20), (20, 30)]

    at_20 = parent.ask(P.Fork(20, str(tmp_path / "at20")))
    assert at_20 == str(tmp_path / "at20")
    packed = Path(parent.ask(P.Fork(None, str(tmp_path / "packed"), {"tricks.packing.enabled": True})))
    with pytest.raises(RunError, match="step 10 was not kept to fork from; the steps kept: 20, 30"):
        parent.ask(P.Fork(10, str(tmp_path / "nope")))
    assert not (tmp_path / "nope").exists()

    lineage = json.loads((packed / "lineage.json").read_text())
    assert (lineage["parent"], lineage["branch_step"]) == (str(run_path.resolve()), 30)
    assert RunFolder(packed).config().tricks.packing.enabled
    assert RunFolder(packed).read_events()[-1]["key"] == "tricks.packing.enabled"
    assert rows(packed, 10**9) == rows(run_path, 30)

    parent.client.send(P.RunSteps(10))   # the parent goes on as if nothing happened
    assert parent.wait_for(P.TargetReached).step == 40
    at_40 = Path(parent.ask(P.Fork(None, str(tmp_path / "at40"))))
    parent.stop()

    tr, run = trainer_from_run(at_20, writable=True)
    loop = RunLoop(tr, run)
    for _ in range(20):
        loop.advance()
    loop.finish()
    run.unlock()
    mine, theirs = load_checkpoint_file(Path(at_20) / "checkpoint.pt"), load_checkpoint_file(at_40 / "checkpoint.pt")
    for key in STATE_KEYS:
        flat_a, flat_b = _flat(mine[key]), _flat(theirs[key])
        assert flat_a.keys() == flat_b.keys(), key
        for name in flat_a:
            assert _equal(flat_a[name], flat_b[name]), f"{key}.{name} differs"
    assert rows(at_20, 40) == rows(run_path, 40)


def _flat(obj, prefix=""):
    if isinstance(obj, dict):
        return {k2: v2 for k, v in obj.items() for k2, v2 in _flat(v, f"{prefix}.{k}").items()}
    if isinstance(obj, (list, tuple)):
        return {k2: v2 for i, v in enumerate(obj) for k2, v2 in _flat(v, f"{prefix}.{i}").items()}
    return {prefix: obj}


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    return a == b
