"""A step that raises (out of memory on the GPU, a trick that fails) pauses the run and loses nothing:
the half-done step is undone by rolling back to the last good state, which is written to the run
folder; the CLI says so in one line and exits 3; the window's engine pauses and says so; resuming
continues exactly as if nothing had happened."""
import pytest
import torch

from engine_helpers import diverged_replies, engine_with_run, out_of_memory, tiny_cfg, train
from gan_studio.cli import main
from gan_studio.core.runs import RunFolder, load_checkpoint_file
from gan_studio.core.training.run_loop import RunLoop
from gan_studio.core.training.trainer import StepFailedError, Trainer

TINY = ["--set", "model.g_width=16", "--set", "model.d_width=16", "--set", "train.batch_size=32",
        "--set", "train.log_every=10", "--device", "cpu", "--quiet"]


@pytest.fixture
def fail_at(monkeypatch):
    """fail_at(n, error): the n-th call of Trainer.step (1-based, counted from now) first does half
    of its work (D's weights change), then raises ``error``."""
    def arm(n: int, error: BaseException):
        real, calls = Trainer.step, {"n": 0}

        def step(self):
            calls["n"] += 1
            if calls["n"] == n:
                with torch.no_grad():
                    next(self.D.parameters()).add_(1.0)   # the step got halfway
                raise error
            return real(self)
        monkeypatch.setattr(Trainer, "step", step)
    return arm


def same_weights(a: Trainer, b: Trainer) -> bool:
    return all(torch.equal(x, y) for net in ("G", "D")
               for x, y in zip(getattr(a, net).state_dict().values(), getattr(b, net).state_dict().values()))


def test_out_of_memory_in_a_step_rolls_back_to_the_last_logged_state_and_saves_it(tmp_path, fail_at):
    straight = Trainer(tiny_cfg())
    for _ in range(30):
        straight.step()
    tr = Trainer(tiny_cfg())
    run = RunFolder.create(tmp_path / "r", tr.cfg)
    loop = RunLoop(tr, run)
    fail_at(37, out_of_memory())
    with pytest.raises(StepFailedError) as info:
        for _ in range(100):
            loop.advance()
    e = info.value
    assert e.out_of_memory and e.step == 37 and e.restored_step == 30 and tr.step_count == 30
    assert "out of memory" in str(e) and "rolled back to step 30" in str(e) and "--device cpu" in str(e)
    assert same_weights(straight, tr)                      # the half-done step is gone
    assert load_checkpoint_file(tmp_path / "r" / "checkpoint.pt")["step"] == 30
    assert [ev for ev in tr.events if ev["event"] == "step_failed"] == [
        {"step": 30, "event": "step_failed", "key": type(out_of_memory()).__name__, "value": 37}]


def test_any_error_in_a_step_is_undone_and_named(fail_at):
    tr = Trainer(tiny_cfg())
    loop = RunLoop(tr, None)
    fail_at(5, ValueError("a trick failed\nwith a second line"))
    with pytest.raises(StepFailedError, match=r"step 5 failed: ValueError: a trick failed; .*rolled back to step 0") as info:
        for _ in range(10):
            loop.advance()
    assert not info.value.out_of_memory and tr.step_count == 0
    assert same_weights(Trainer(tiny_cfg()), tr)


def test_a_user_error_from_a_step_stays_the_one_line_error_it_was(fail_at):
    from gan_studio.core.errors import DataError
    tr = Trainer(tiny_cfg())
    loop = RunLoop(tr, None)
    fail_at(3, DataError("this run holds no real images"))
    with pytest.raises(DataError, match="no real images"):
        for _ in range(5):
            loop.advance()
    assert not [e for e in tr.events if e["event"] == "step_failed"]


def test_cli_pauses_on_out_of_memory_and_the_resumed_run_is_the_straight_one(tmp_path, fail_at, capsys):
    assert main(["train", "ring8", "--steps", "60", "--out", str(tmp_path / "straight"), *TINY]) == 0
    fail_at(47, out_of_memory())
    code = main(["train", "ring8", "--steps", "60", "--out", str(tmp_path / "r"), *TINY])
    err = capsys.readouterr().err
    assert code == 3
    assert "paused: out of memory" in err and "rolled back to step 40" in err and "--resume" in err
    assert "Traceback" not in err
    assert load_checkpoint_file(tmp_path / "r" / "checkpoint.pt")["step"] == 40
    events = (tmp_path / "r" / "events.jsonl").read_text()
    assert '"step_failed"' in events
    fail_at(10 ** 9, RuntimeError("never"))   # disarmed
    assert main(["train", "--resume", str(tmp_path / "r"), "--steps", "20", "--quiet"]) == 0
    a = load_checkpoint_file(tmp_path / "straight" / "checkpoint.pt")
    b = load_checkpoint_file(tmp_path / "r" / "checkpoint.pt")
    assert a["step"] == b["step"] == 60
    assert all(torch.equal(x, y) for k in ("G", "D") for x, y in zip(a[k].values(), b[k].values()))


def test_the_engine_pauses_and_tells_the_window(tmp_path, fail_at):
    engine, replies = engine_with_run(tmp_path, tiny_cfg())
    fail_at(15, out_of_memory())
    train(engine, 40)
    diverged = diverged_replies(replies)
    assert len(diverged) == 1 and diverged[0].step == 10 and "out of memory" in diverged[0].message
    assert not engine._busy() and engine._tr.step_count == 10
