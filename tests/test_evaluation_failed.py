"""An evaluation that raises (out of memory on the GPU while it draws its samples or trains the image
metrics' classifier) pauses the run at its step, saved, instead of ending `gan-studio train` with a
traceback and the steps since the last checkpoint lost; the window's engine pauses and says so."""
import json

import pytest

from cli_helpers import cli
from engine_helpers import engine_with_run, paused_once_at, tiny_cfg, train
from gan_studio.core.runs import RunFolder, load_checkpoint_file
from gan_studio.core.training.trainer import Trainer

TINY = ["--set", "model.g_width=16", "--set", "model.d_width=16", "--set", "train.batch_size=32",
        "--set", "train.log_every=5", "--set", "train.eval_every=10", "--set", "train.checkpoint_every=15",
        "--set", "train.snapshot_every=1000", "--device", "cpu", "--quiet"]


@pytest.fixture
def evaluation_fails_at(monkeypatch):
    def arm(step: int):
        real = Trainer.evaluate

        def evaluate(self, n=2500):
            if self.step_count == step:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return real(self, n)
        monkeypatch.setattr(Trainer, "evaluate", evaluate)
    return arm


def test_cli_pauses_at_the_step_whose_evaluation_failed_and_saves_it(tmp_path, capsys, evaluation_fails_at):
    run = tmp_path / "r"
    evaluation_fails_at(20)
    rc, _, err = cli(capsys, "train", "ring8", "--steps", "40", "--out", run, *TINY)
    assert rc == 3 and "Traceback" not in err, err
    assert "paused: the evaluation at step 20 failed (out of memory" in err and "--resume" in err, err
    # the last checkpoint was at step 15: the old code lost steps 16..20 with a traceback
    assert load_checkpoint_file(run / "checkpoint.pt")["step"] == 20
    assert [r["step"] for r in RunFolder(run).read_metrics()] == [5, 10, 15, 20]
    assert [e["event"] for e in RunFolder(run).read_events()] == ["evaluation_failed"]
    evaluation_fails_at(-1)   # the cause is gone
    assert cli(capsys, "train", "--resume", run, "--steps", "20", "--quiet")[0] == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 40 and "modes" in rows[-1]


def test_the_engine_pauses_at_the_step_and_tells_the_window(tmp_path, evaluation_fails_at):
    engine, replies = engine_with_run(tmp_path, tiny_cfg({"train.log_every": 5, "train.eval_every": 10,
                                                          "train.checkpoint_every": 15}))
    evaluation_fails_at(20)
    train(engine, 40)
    assert paused_once_at(replies, 20).startswith("the evaluation at step 20 failed (out of memory")
    assert engine._tr.step_count == 20 and engine._steps[-1] == 20   # the step's metrics reach the plots
    assert load_checkpoint_file(engine._run.path / "checkpoint.pt")["step"] == 20
    engine._finish_run()
