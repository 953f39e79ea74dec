"""A state that goes non-finite while the losses stay finite (D's Adam moments overflow: Adam then
moves no weight, so every loss looks fine) is caught at the next logged step, named in words the
user knows ("D's optimizer state"), and the run is paused at the last good state, which is the
checkpoint kept: the CLI exits 3 with one line, the window's engine replies Diverged."""
import pytest
import torch

from engine_helpers import diverged_replies, engine_with_run, tiny_cfg, train
from gan_studio.cli import main
from gan_studio.core.runs import RunFolder, load_checkpoint_file
from gan_studio.core.training.trainer import Trainer

TINY = ["--set", "model.g_width=16", "--set", "model.d_width=16", "--set", "train.batch_size=32",
        "--set", "train.log_every=5", "--set", "train.eval_every=1000", "--set", "train.checkpoint_every=10",
        "--set", "train.snapshot_every=1000", "--device", "cpu", "--quiet"]


@pytest.fixture
def poison_d_adam_at(monkeypatch):
    """poison_d_adam_at(n): right after step n, D's first Adam second moment becomes inf (the losses
    of the later steps stay finite: Adam's update is then 0)."""
    def arm(n: int):
        real = Trainer.step

        def step(self):
            m = real(self)
            if self.step_count == n:
                p = next(self.D.parameters())
                self.opt_d.state[p]["exp_avg_sq"].fill_(float("inf"))
            return m
        monkeypatch.setattr(Trainer, "step", step)
    return arm


def test_cli_pauses_when_d_s_optimizer_state_goes_infinite_and_keeps_the_last_good_checkpoint(
        tmp_path, poison_d_adam_at, capsys):
    assert main(["train", "ring8", "--steps", "10", "--out", str(tmp_path / "straight"), *TINY]) == 0
    poison_d_adam_at(13)
    code = main(["train", "ring8", "--steps", "30", "--out", str(tmp_path / "r"), *TINY])
    err = capsys.readouterr().err
    paused = [line for line in err.splitlines() if "paused" in line]
    assert code == 3 and len(paused) == 1 and "Traceback" not in err, err
    line = paused[0]
    assert "training diverged at step 15: D's optimizer state is not finite" in line, line
    assert "exp_avg_sq" in line and "rolled back to step 10" in line and "--resume" in line, line
    kept = load_checkpoint_file(tmp_path / "r" / "checkpoint.pt")
    straight = load_checkpoint_file(tmp_path / "straight" / "checkpoint.pt")
    assert kept["step"] == straight["step"] == 10
    for part in ("G", "D"):
        assert all(torch.equal(a, b) for a, b in zip(kept[part].values(), straight[part].values()))
    d_sq = [s["exp_avg_sq"] for s in kept["opt_d"]["state"].values()]
    assert all(bool(torch.isfinite(t).all()) for t in d_sq)
    assert any(e["event"] == "diverged" and "opt_d" in e["key"] for e in RunFolder(tmp_path / "r").read_events())


def test_the_engine_pauses_and_names_d_s_optimizer_state(tmp_path, poison_d_adam_at):
    engine, replies = engine_with_run(tmp_path, tiny_cfg({"train.log_every": 5, "train.checkpoint_every": 10}))
    poison_d_adam_at(13)
    train(engine, 40)
    diverged = diverged_replies(replies)
    assert len(diverged) == 1 and diverged[0].step == 10, replies
    assert "training diverged at step 15: D's optimizer state is not finite" in diverged[0].message, diverged[0].message
    assert not engine._busy() and engine._tr.step_count == 10
    assert load_checkpoint_file(engine._run.path / "checkpoint.pt")["step"] == 10
    engine._finish_run()


def test_the_run_s_list_of_changes_names_the_part_of_the_state_that_diverged(tmp_path, poison_d_adam_at, capsys):
    poison_d_adam_at(13)
    assert main(["train", "ring8", "--steps", "30", "--out", str(tmp_path / "r"), *TINY,
                 "--set", "train.eval_every=10", "--set", "train.fork_keep=2"]) == 3
    capsys.readouterr()
    assert main(["fork", str(tmp_path / "r"), "--list"]) == 0
    out = capsys.readouterr().out
    assert "step 10: D's optimizer state (opt_d.state.0.exp_avg_sq) turned NaN or infinite" in out, out


def test_when_the_losses_and_the_state_both_go_non_finite_both_are_named(tmp_path, monkeypatch, capsys):
    """A NaN loss at a logged step was all that was said (the state was never looked at on that path),
    though D's optimizer state had turned infinite too; now the pause, the run's list of changes and
    the window's warning say what went non-finite."""
    import numpy as np

    from gan_studio.app.history import health_warnings
    from gan_studio.session.payloads import METRIC_COLUMNS
    real = Trainer.step

    def step(self):
        m = real(self)
        if self.step_count == 13:
            self.opt_d.state[next(self.D.parameters())]["exp_avg_sq"].fill_(float("inf"))
        if self.step_count == 15:
            m.values[0] = float("nan")   # loss_d
        return m
    monkeypatch.setattr(Trainer, "step", step)
    assert main(["train", "ring8", "--steps", "30", "--out", str(tmp_path / "r"), *TINY,
                 "--set", "train.eval_every=10", "--set", "train.fork_keep=2"]) == 3
    paused = [line for line in capsys.readouterr().err.splitlines() if "paused" in line]
    assert len(paused) == 1 and ("training diverged at step 15: loss_d became NaN or infinite and D's optimizer "
                                 "state is not finite (opt_d.state.0.exp_avg_sq)") in paused[0], paused
    assert main(["fork", str(tmp_path / "r"), "--list"]) == 0
    out = capsys.readouterr().out
    assert ("step 10: loss_d and D's optimizer state (opt_d.state.0.exp_avg_sq) turned NaN or infinite: "
            "rolled back to the last good step") in out, out
    rows = np.ones((60, len(METRIC_COLUMNS)))
    rows[-1, METRIC_COLUMNS.index("grad_norm_d")] = np.inf
    assert "grad_norm_d turned NaN or infinite." in health_warnings(rows, "non-saturating")
