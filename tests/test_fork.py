"""Forking a run (core/fork.py, `gan-studio fork`): a fork with no change trains on bit for bit as
its parent did, from the last checkpoint or an earlier kept evaluation; a fork with a change matches
its parent up to the branch step and differs after it; lineage is recorded and chains; bad input is
one line."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_studio.cli import main
from gan_studio.core.config import Config
from gan_studio.core.errors import ConfigError, RunError
from gan_studio.core.families.registry import make_trainer
from gan_studio.core.fork import fork_run, kept_steps
from gan_studio.core.runs import RunFolder, load_checkpoint_file, trainer_from_run
from gan_studio.core.training.run_loop import RunLoop

STATE_KEYS = ("G", "D", "opt_g", "opt_d", "rng", "torch_rng", "extra", "step", "events_json")


def tiny(**overrides) -> Config:
    """A run that evaluates every 10 steps and keeps the last 3 evaluations, with replay (its ring
    wraps every 5 steps) and G's moving average on: trick state that must be carried exactly."""
    cfg = Config()
    for k, v in {"model.g_width": 16, "model.d_width": 16, "model.g_depth": 2, "model.d_depth": 2,
                 "train.batch_size": 32, "train.log_every": 5, "train.eval_every": 10,
                 "train.snapshot_every": 10, "train.checkpoint_every": 1000, "train.fork_keep": 3,
                 "train.keep_samples_at": [0, 20, 30], "train.device": "cpu",
                 "tricks.replay.enabled": True, "tricks.replay.buffer_size": 40,
                 "tricks.g_ema.enabled": True, "tricks.g_ema.decay": 0.9, **overrides}.items():
        cfg.set(k, v)
    return cfg


def train(path: Path, steps: int, cfg: Config | None = None, finish: bool = True) -> None:
    """What `gan-studio train` does: a new run for ``cfg``, else ``--resume path``."""
    if cfg is not None:
        tr, run = make_trainer(cfg.copy()), RunFolder.create(path, cfg, lock=True)
    else:
        tr, run = trainer_from_run(path, writable=True)
    loop = RunLoop(tr, run)
    try:
        for _ in range(steps):
            loop.advance()
        if finish:
            loop.finish()
    finally:
        run.unlock()


def checkpoint(path: Path, step: int | None = None) -> dict:
    return load_checkpoint_file(path / ("checkpoint.pt" if step is None else f"forks/step_{step:08d}.pt"))


def rows(path: Path, upto: int | None = None) -> list[dict]:
    """The metrics log without its wall-clock column."""
    return [{k: v for k, v in r.items() if k != "steps_per_s"} for r in RunFolder(path).read_metrics()
            if upto is None or r["step"] <= upto]


def assert_same(a, b, where="state"):
    """Every tensor bit for bit, every plain value equal, through nested dicts and lists."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys differ"
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: lengths"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}.{i}")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_same_state(a: dict, b: dict) -> None:
    for key in STATE_KEYS:
        assert_same(a[key], b[key], key)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A parent trained 40 steps: it kept the states of steps 20, 30 and 40 (10 was dropped)."""
    path = tmp_path_factory.mktemp("fork") / "parent"
    train(path, 40, tiny())
    return path


@pytest.fixture
def parent(trained, tmp_path) -> Path:
    """A copy of the trained parent that a test may train on."""
    return Path(shutil.copytree(trained, tmp_path / "parent"))


def test_the_run_keeps_the_last_evaluations_and_its_checkpoint(trained):
    assert sorted(p.name for p in (trained / "forks").iterdir()) == [
        "step_00000020.pt", "step_00000030.pt", "step_00000040.pt"]
    assert kept_steps(trained) == [20, 30, 40]
    assert checkpoint(trained, 30)["step"] == 30


@pytest.mark.parametrize("at", [None, 20], ids=["last-checkpoint", "earlier-kept-step"])
def test_a_fork_without_change_trains_on_bit_for_bit_as_its_parent(parent, tmp_path, at):
    fork = fork_run(parent, tmp_path / "fork", at_step=at)
    branch = 40 if at is None else at
    assert checkpoint(fork)["step"] == branch
    assert rows(fork) == rows(parent, branch)   # the history up to the branch step, no further
    train(fork, 20)
    if at is None:
        train(parent, 20)   # the parent trained the same 20 more steps
    # the parent's state at the fork's step: its checkpoint, or the state it kept at that evaluation
    theirs = checkpoint(parent) if at is None else checkpoint(parent, branch + 20)
    assert_same_state(checkpoint(fork), theirs)
    assert rows(fork) == rows(parent, branch + 20)
    assert (fork / "events.jsonl").read_text() == ""   # no change, no event
    # pictures and kept samples: the parent's up to the branch, then the same ones made again
    shots = sorted(p.name for p in (fork / "snapshots").iterdir())
    assert shots == [f"step_{s:08d}.png" for s in range(10, branch + 21, 10)]
    for name in shots:
        assert (fork / "snapshots" / name).read_bytes() == (parent / "snapshots" / name).read_bytes()
    for s in (0, 20, 30):
        if s <= branch + 20:
            np.testing.assert_array_equal(RunFolder(fork).load_samples(s), RunFolder(parent).load_samples(s))


@pytest.mark.parametrize("change", [{"tricks.packing.enabled": "true"}, {"train.lr_g": "5e-4"}],
                         ids=["packing", "lr_g"])
def test_a_fork_with_a_change_matches_up_to_the_branch_and_differs_after(trained, tmp_path, change):
    (key, text), = change.items()
    fork = fork_run(trained, tmp_path / "fork", at_step=20, changes=change)
    at_branch = checkpoint(fork)
    assert at_branch["step"] == 20
    assert_same(at_branch["G"], checkpoint(trained, 20)["G"], "G")   # the same G, changed from here on
    assert_same(at_branch["rng"], checkpoint(trained, 20)["rng"], "rng")
    expected = Config()
    expected.set(key, text)
    assert RunFolder(fork).config().get(key) == expected.get(key) != Config().get(key)
    events = RunFolder(fork).read_events()
    assert events[-1]["step"] == 20 and events[-1]["event"] == "set" and events[-1]["key"] == key

    train(fork, 20)
    mine, theirs = rows(fork), rows(trained)
    assert [r for r in mine if r["step"] <= 20] == [r for r in theirs if r["step"] <= 20]
    after = {r["step"]: r["loss_d"] for r in mine if r["step"] > 20}
    assert after and all(after[r["step"]] != r["loss_d"] for r in theirs if r["step"] in after)
    g_fork, g_parent = checkpoint(fork)["G"], checkpoint(trained)["G"]
    assert any(not torch.equal(g_fork[k], g_parent[k]) for k in g_parent)

    lineage = json.loads((fork / "lineage.json").read_text())
    assert lineage["parent"] == str(trained.resolve()) and lineage["branch_step"] == 20
    assert list(lineage["changes"]) == [key]


def test_a_fork_of_a_fork_chains_its_lineage(trained, tmp_path):
    first = fork_run(trained, tmp_path / "first", at_step=20, changes={"train.lr_d": "5e-4"})
    train(first, 20)
    assert kept_steps(first) == [30, 40]   # its own evaluations, from the branch on
    second = fork_run(first, tmp_path / "second", at_step=30, changes={"tricks.packing.enabled": "true"})
    lineage = json.loads((second / "lineage.json").read_text())
    assert lineage["parent"] == str(first.resolve()) and lineage["branch_step"] == 30
    assert [(a["run"], a["branch_step"]) for a in lineage["ancestry"]] == [
        (str(trained.resolve()), 20), (str(first.resolve()), 30)]
    assert [e["key"] for e in RunFolder(second).read_events()] == ["train.lr_d", "tricks.packing.enabled"]


def test_fork_keep_zero_keeps_only_the_checkpoint(tmp_path):
    run = tmp_path / "run"
    train(run, 20, tiny(**{"train.fork_keep": 0}))
    assert not (run / "forks").exists() and kept_steps(run) == [20]
    with pytest.raises(RunError, match=r"kept no state at step 10 to fork from; the steps it kept: 20 "):
        fork_run(run, tmp_path / "fork", at_step=10)


def test_a_resume_drops_the_states_kept_past_its_checkpoint(tmp_path):
    run = tmp_path / "run"
    train(run, 35, tiny(**{"train.checkpoint_every": 20}), finish=False)   # killed at step 35
    assert kept_steps(run) == [10, 20, 30]
    trainer_from_run(run, writable=True)[1].unlock()   # `train --resume`: the run goes on from step 20
    assert kept_steps(run) == [10, 20]


# -- bad input: one line ---------------------------------------------------------------------------
def one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text
    return text


def test_a_step_that_was_not_kept_names_the_kept_steps(trained, tmp_path):
    with pytest.raises(RunError) as e:
        fork_run(trained, tmp_path / "fork", at_step=10)
    assert "kept no state at step 10" in one_line(e) and "the steps it kept: 20, 30, 40" in one_line(e)
    assert not (tmp_path / "fork").exists()


@pytest.mark.parametrize("change, words", [
    ({"model.g_width": "32"}, "model.g_width is fixed when a run is built"),
    ({"train.seed": "3"}, "train.seed is fixed when a run is built"),
    ({"tricks.nope.enabled": "true"}, "unknown config key 'tricks.nope.enabled'"),
    ({"train.lr_g": "fast"}, "train.lr_g"),
])
def test_a_change_that_is_no_live_setting_is_refused(trained, tmp_path, change, words):
    with pytest.raises(ConfigError) as e:
        fork_run(trained, tmp_path / "fork", changes=change)
    assert words in one_line(e)
    assert not (tmp_path / "fork").exists() and not list(tmp_path.glob(".fork*"))


def test_the_new_folder_must_be_new_or_empty(trained, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="is not empty; a fork needs a new or empty folder"):
        fork_run(trained, tmp_path / "full")
    (tmp_path / "empty").mkdir()
    assert fork_run(trained, tmp_path / "empty") == tmp_path / "empty"
    assert (tmp_path / "empty" / "checkpoint.pt").is_file()


def test_a_run_being_trained_by_another_process_is_not_forked(parent, tmp_path, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from gan_studio.core.io import RunLock; "
         "lock = RunLock(sys.argv[1], 'gan-studio train').acquire(); print('held', flush=True); time.sleep(60)",
         str(parent)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunError) as e:
            fork_run(parent, tmp_path / "fork")
        assert f"is being trained by pid {holder.pid} (gan-studio train)" in one_line(e)
        assert main(["fork", str(parent), "--out", str(tmp_path / "fork")]) == 2
        err = capsys.readouterr().err
        assert "fork it once that run has stopped" in err and err.count("\n") == 1
    finally:
        holder.kill()
        holder.wait(10)
    assert not (tmp_path / "fork").exists()
    fork_run(parent, tmp_path / "fork")   # the writer has gone: forking works


@pytest.mark.parametrize("args, words", [
    (["--at", "10"], "the steps it kept: 20, 30, 40"),
    (["--set", "model.d_width=8"], "model.d_width is fixed when a run is built"),
    (["--set", "nonsense"], "--set expects KEY=VALUE"),
    ([], "name the new run folder with --out DIR"),
])
def test_the_cli_says_what_is_wrong_in_one_line(trained, tmp_path, capsys, args, words):
    out = [] if not args else ["--out", str(tmp_path / "fork")]
    assert main(["fork", str(trained), *args, *out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gan-studio fork: error: ") and words in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_the_cli_forks_lists_and_the_fork_resumes(trained, tmp_path, capsys):
    assert main(["fork", str(trained), "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["step", "kept", "as"]
    assert [line.split()[0] for line in lines[1:]] == ["20", "30", "40"]
    out = tmp_path / "branch"
    assert main(["fork", str(trained), "--at", "30", "--set", "tricks.packing.enabled=true",
                 "--out", str(out)]) == 0
    assert "forked" in capsys.readouterr().err
    assert main(["train", "--resume", str(out), "--steps", "5", "--quiet", "--threads", "1"]) == 0
    assert checkpoint(out)["step"] == 35
    assert RunFolder(out).config().tricks.packing.enabled


def _table(capsys, run) -> list[str]:
    capsys.readouterr()
    assert main(["fork", str(run), "--list"]) == 0
    out, err = capsys.readouterr()
    assert not err
    return out.splitlines()


def test_the_list_shows_each_kept_step_with_the_runs_state_there(trained, capsys):
    """--list is for choosing where to branch: each kept step's row holds the losses logged at that step
    and its evaluation's metrics (modes, HQ, ...), as metrics.jsonl has them, under named columns."""
    lines = _table(capsys, trained)
    head = lines[0].split()
    for column in ("modes", "modes_strict", "hq", "rkl", "loss_d", "loss_g"):
        assert column in head
    logged = {r["step"]: r for r in RunFolder(trained).read_metrics()}
    from gan_studio.core.metrics import format_value
    for line in lines[1:]:
        cells = line.split()
        step = int(cells[0])
        assert cells[1] == "evaluation" and step in (20, 30, 40)
        values = dict(zip(head[3:], cells[2:]))   # "kept as" is two words in the head
        for column in ("modes", "hq", "rkl", "loss_d", "loss_g"):
            assert values[column] == format_value(logged[step][column]), (step, column)


def test_the_list_puts_each_live_change_between_the_states_it_falls_between(parent, capsys):
    """A change made at step 40 (on resume) was applied after the state kept at 40: it is listed after
    that row, before the next kept state, which has it; one made after the last kept step says a fork
    there does not have it."""
    tr, run = trainer_from_run(parent, writable=True)
    loop = RunLoop(tr, run)
    try:
        tr.apply_setting("tricks.packing.enabled", True)   # at step 40, as --resume --set does
        for _ in range(10):
            loop.advance()
        loop.finish()
    finally:
        run.unlock()
    events = RunFolder(parent).read_events()
    assert [e["step"] for e in events] == [40]
    lines = _table(capsys, parent)
    steps = [int(line.split()[0]) for line in lines[1:] if not line.startswith(" ")]
    assert steps == [30, 40, 50]
    at = lines.index(next(line for line in lines if line.startswith("40 ")))
    assert lines[at + 1] == "  change at step 40: tricks.packing.enabled = on (was off)"
    assert lines[at + 2].startswith("50 ")
    # a change after the last kept step: listed last, with what it means for a fork
    run = RunFolder(parent)
    run.append_event({"step": 50, "event": "set", "key": "tricks.packing.m", "value": 4, "old": 2})
    lines = _table(capsys, parent)
    assert lines[-1] == ("  change at step 50: tricks.packing.m = 4 (was 2) (after the last kept step: a fork "
                         "at it does not have it)")


def test_a_checkpoint_between_evaluations_names_the_evaluation_its_metrics_come_from(parent, capsys):
    """A run stopped between evaluations has its checkpoint's row show the losses of its own step and the
    metrics of the evaluation before it, saying which."""
    rows_ = RunFolder(parent).read_metrics()
    last = rows_[-1]
    assert last["step"] == 40 and "modes" in last
    cut = {k: v for k, v in last.items() if k in ("step", "loss_d", "loss_g", "d_real", "d_fake")}
    (parent / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows_[:-1] + [cut]))
    for state in (parent / "forks").glob("step_00000040.pt"):
        state.unlink()
    lines = _table(capsys, parent)
    row = next(line for line in lines if line.startswith("40 "))
    assert "checkpoint (evaluation of 30)" in row
    from gan_studio.core.metrics import format_value
    assert row.split()[-2:] == [format_value(last["loss_d"]), format_value(last["loss_g"])]
