"""mode_hops: how often the dominant mode changes between evaluations (the lecture's rotation)."""
from __future__ import annotations

import pytest

from gan_studio.core.config import Config
from gan_studio.core.families.registry import make_trainer
from gan_studio.core.metrics.modes import ModeHops, dominant_mode, mode_hops
from gan_studio.core.runs import RunFolder, trainer_from_run
from gan_studio.core.training.run_loop import RunLoop


def one_hot(k, n=8, total=800):
    c = [0] * n
    c[k] = total
    return c


def test_a_generator_rotating_through_the_modes_hops_and_a_spread_one_does_not():
    rotating = ModeHops()
    hops = [rotating.add(one_hot(k % 8)) for k in range(6)]
    assert hops == [0, 1, 2, 3, 4, 5]
    settled = ModeHops()
    assert [settled.add(one_hot(3)) for _ in range(6)] == [0] * 6
    spread = ModeHops()   # all modes about equal: the arg-max is noise, not a hop
    assert [spread.add([100 + (i * 7 + k) % 5 for i in range(8)]) for k in range(6)] == [0] * 6


def test_dominance_needs_twice_the_fair_share():
    assert dominant_mode([0] * 8) is None
    assert dominant_mode([13, 12, 12, 13, 12, 13, 12, 13]) is None  # spread: under 2/K
    assert dominant_mode([26, 24, 25, 25, 0, 0, 0, 0]) is None      # four modes alike: no leader
    assert dominant_mode([60, 40, 0, 0, 0, 0, 0, 0]) == 0
    assert mode_hops([0, None, 1, 1, 2]) == 1                        # gaps are not hops


def test_the_window_forgets_old_hops():
    h = ModeHops(window=3)
    for k in range(5):
        h.add(one_hot(k))
    assert h.add(one_hot(4)) == 1   # evaluations 3, 4, 4 in the window


def _cfg():
    cfg = Config()
    cfg.set("data.name", "ring8")
    for k, v in {"model.g_width": 16, "model.d_width": 16, "model.g_depth": 2, "model.d_depth": 2,
                 "train.batch_size": 32, "train.log_every": 5, "train.eval_every": 5,
                 "train.checkpoint_every": 20, "train.snapshot_every": 1000}.items():
        cfg.set(k, v)
    return cfg


def test_rows_carry_mode_hops_and_a_resumed_run_continues_the_count(tmp_path):
    straight = RunLoop(make_trainer(_cfg(), device="cpu"))
    rows = [r for r in (straight.advance() for _ in range(40)) if r]
    assert all("mode_hops" in r for r in rows)

    run = RunFolder.create(tmp_path / "r", _cfg())
    loop = RunLoop(make_trainer(_cfg(), device="cpu"), run)
    for _ in range(20):
        loop.advance()
    loop.finish()
    run.unlock()
    tr, run2 = trainer_from_run(tmp_path / "r", writable=True)
    loop2 = RunLoop(tr, run2)
    resumed = [r for r in (loop2.advance() for _ in range(20)) if r]
    assert [r["mode_hops"] for r in resumed] == [r["mode_hops"] for r in rows if r["step"] > 20]


def _off_schedule_cfg():
    cfg = _cfg()
    cfg.set("train.log_every", 4)
    cfg.set("train.eval_every", 8)
    return cfg


def test_a_run_that_ends_between_two_evaluations_ends_with_its_quality_metrics(tmp_path):
    """`train --steps 300` with evaluations every 250: step 300 is logged, not evaluated. The run's
    last row must still hold modes, HQ, reverse KL and mode_hops (the CLI's summary prints it)."""
    for steps in (12, 14):   # 12: a logged step between two evaluations; 14: not even logged
        run = RunFolder.create(tmp_path / f"r{steps}", _off_schedule_cfg())
        loop = RunLoop(make_trainer(_off_schedule_cfg(), device="cpu"), run)
        for _ in range(steps):
            loop.advance()
        loop.finish()
        run.unlock()
        rows = run.read_metrics()
        last = rows[-1]
        assert last["step"] == steps
        # one row a step: a logged last step's row takes the evaluation, it gets no second row
        assert [r["step"] for r in rows] == sorted({r["step"] for r in rows})
        assert "loss_d" in last and ("steps_per_s" in last) == (steps == 12)   # 12's logged row, kept
        for key in ("modes", "modes_strict", "hq", "rkl", "mode_hops", "mode_counts"):
            assert key in last, (steps, key)
        assert loop.last_row is not None and "mode_hops" in loop.last_row


@pytest.mark.parametrize("stop", [12, 14])
def test_the_evaluation_a_stop_adds_does_not_change_the_hops_still_to_come(tmp_path, stop):
    """A run stopped at step 12 or 14 evaluates there (above); trained on, its later mode_hops must
    be those of the same run trained without the stop, whose evaluations are only at 8, 16, 24..."""
    straight = RunLoop(make_trainer(_off_schedule_cfg(), device="cpu"))
    rows = [r for r in (straight.advance() for _ in range(40)) if r and "mode_hops" in r]
    run = RunFolder.create(tmp_path / "r", _off_schedule_cfg())
    loop = RunLoop(make_trainer(_off_schedule_cfg(), device="cpu"), run)
    for _ in range(stop):
        loop.advance()
    loop.finish()
    run.unlock()
    tr, run2 = trainer_from_run(tmp_path / "r", writable=True)
    loop2 = RunLoop(tr, run2)
    assert loop2.mode_hops.dominants == straight_dominants_at(8)
    resumed = [r for r in (loop2.advance() for _ in range(40 - stop)) if r and "mode_hops" in r]
    assert [(r["step"], r["mode_hops"]) for r in resumed] == [(r["step"], r["mode_hops"]) for r in rows
                                                             if r["step"] > stop]


def straight_dominants_at(step):
    """The dominant modes a straight run has kept by ``step`` (its evaluations at 8, 16, ...)."""
    loop = RunLoop(make_trainer(_off_schedule_cfg(), device="cpu"))
    for _ in range(step):
        loop.advance()
    return list(loop.mode_hops.dominants)


def test_the_last_row_is_completed_not_repeated_and_a_cut_line_is_replaced(tmp_path):
    run = RunFolder.create(tmp_path / "r", _cfg())
    run.append_metrics({"step": 4, "loss_d": 1.0})
    run.append_metrics({"step": 8, "loss_d": 0.5})
    run.complete_last_metrics({"step": 8, "modes": 3})
    assert run.read_metrics() == [{"step": 4, "loss_d": 1.0}, {"step": 8, "loss_d": 0.5, "modes": 3}]
    run.complete_last_metrics({"step": 9, "modes": 4})          # a step not logged: a row of its own
    assert [r["step"] for r in run.read_metrics()] == [4, 8, 9]
    with open(run.path / "metrics.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"step": 10, "loss_')                          # a writer killed mid-line
    run.complete_last_metrics({"step": 10, "modes": 5})
    assert run.read_metrics()[-1] == {"step": 10, "modes": 5}
    assert (run.path / "metrics.jsonl").read_text().endswith("}\n")
    run.unlock()
