"""Drawing or writing a step's snapshot or kept samples that raises something other than an OSError
(the renderer's RuntimeError, PIL's ValueError) pauses the run at that step, saved, instead of ending
`gan-studio train` with a traceback and the steps since the last checkpoint lost."""
import json

import pytest

from cli_helpers import cli
from engine_helpers import engine_with_run, paused_once_at, tiny_cfg, train
from gan_studio.core.events import event_text
from gan_studio.core.runs import RunFolder, load_checkpoint_file

TINY = ["--set", "model.g_width=16", "--set", "model.d_width=16", "--set", "train.batch_size=32",
        "--set", "train.log_every=5", "--set", "train.eval_every=10", "--set", "train.checkpoint_every=15",
        "--set", "train.snapshot_every=10", "--set", "train.keep_samples_at=[20]", "--device", "cpu", "--quiet"]


@pytest.mark.parametrize("method, what, error", [
    ("save_snapshot", "snapshot", RuntimeError("the renderer failed: no font")),
    ("save_samples", "kept samples", ValueError("tile cannot extend outside image")),
])
def test_a_step_whose_snapshot_or_samples_cannot_be_drawn_pauses_the_run_saved(tmp_path, capsys, monkeypatch,
                                                                               method, what, error):
    run = tmp_path / "r"
    real = getattr(RunFolder, method)

    def failing(self, trainer, *args, **kwargs):
        if trainer.step_count == 20:
            raise error
        return real(self, trainer, *args, **kwargs)
    monkeypatch.setattr(RunFolder, method, failing)
    rc, _, err = cli(capsys, "train", "ring8", "--steps", "40", "--out", run, *TINY)
    assert rc == 3 and "Traceback" not in err and len(err.strip().splitlines()) == 2, err   # the start line, then one
    assert (f"paused: writing the {what} at step 20 failed ({type(error).__name__}: {error}); the run was paused "
            "at that step, which is saved") in err and f"--resume {run}" in err, err
    # the last checkpoint was at step 15: the old code lost steps 16..20 with a traceback
    assert load_checkpoint_file(run / "checkpoint.pt")["step"] == 20
    assert [r["step"] for r in RunFolder(run).read_metrics()] == [5, 10, 15, 20]
    events = RunFolder(run).read_events()
    assert [event_text(e) for e in events] == [
        f"step 20: writing its {what} failed ({type(error).__name__}): the run was paused"]
    monkeypatch.setattr(RunFolder, method, real)   # the cause is gone
    assert cli(capsys, "train", "--resume", run, "--steps", "20", "--quiet")[0] == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 40


def test_the_engine_pauses_at_the_step_whose_snapshot_failed_and_keeps_its_metrics(tmp_path, monkeypatch):
    engine, replies = engine_with_run(tmp_path, tiny_cfg({"train.log_every": 5, "train.eval_every": 10,
                                                          "train.snapshot_every": 10, "train.checkpoint_every": 15}))
    real = RunFolder.save_snapshot

    def failing(self, trainer):
        if trainer.step_count == 20:
            raise RuntimeError("the renderer failed")
        return real(self, trainer)
    monkeypatch.setattr(RunFolder, "save_snapshot", failing)
    train(engine, 40)
    assert paused_once_at(replies, 20).startswith("writing the snapshot at step 20 failed (RuntimeError: the renderer failed)")
    assert engine._tr.step_count == 20 and engine._steps[-1] == 20   # the step's metrics reach the plots
    assert load_checkpoint_file(engine._run.path / "checkpoint.pt")["step"] == 20
    monkeypatch.setattr(RunFolder, "save_snapshot", real)
    engine._finish_run()
