"""The states the window's engine keeps to fork from live on the CPU, not on the training device (a
GPU's memory is for training): each is copied off once when kept (once, not twice, on a CPU run) and
goes back to the device only when forked, loaded as a checkpoint is. Forking from one gives exactly
what it gave when they were kept on the device: the state the CLI writes to forks/, bit for bit.
Running out of memory while keeping one pauses the run at that step, saved, instead of ending it."""
from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from cli_helpers import cli
from engine_helpers import engine_with_run, out_of_memory, paused_once_at, tiny_cfg, train
from gan_studio.core.families.registry import make_trainer
from gan_studio.core.fork import fork_run, write_fork
from gan_studio.core.runs import RunFolder, load_checkpoint_file, trainer_from_run
from gan_studio.core.training import run_loop
from gan_studio.core.training.run_loop import KEPT_ON, RunLoop
from gan_studio.core.training.trainer import clone_state
from test_fork import assert_same, assert_same_state, checkpoint, tiny
from test_fork import train as train_cli


def tensors(obj) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in tensors(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in tensors(v)]
    return []


class CountCopies(TorchDispatchMode):
    """Counts the operators that copy a tensor's numbers (clone, _to_copy, copy_)."""

    def __init__(self):
        super().__init__()
        self.copies = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket in (torch.ops.aten.clone, torch.ops.aten._to_copy, torch.ops.aten.copy_):
            self.copies += 1
        return func(*args, **(kwargs or {}))


@pytest.fixture(scope="module")
def state() -> dict:
    """A trained state with trick state in it (replay's ring, G's average)."""
    tr = make_trainer(tiny())
    for _ in range(12):
        tr.step()
    return tr.state_dict()


def test_a_state_is_copied_onto_the_device_asked_for(state):
    moved = clone_state(state, "meta")   # a device other than the one it was trained on
    assert len(tensors(moved)) == len(tensors(state)) > 20
    for a, b in zip(tensors(state), tensors(moved)):
        assert a.device.type == "cpu" and b.device.type == "meta"
        assert (a.dtype, a.shape, a.stride()) == (b.dtype, b.shape, b.stride())
    assert {k: v for k, v in moved.items() if not isinstance(v, (dict, torch.Tensor))} == \
        {k: v for k, v in state.items() if not isinstance(v, (dict, torch.Tensor))}


def test_a_state_already_on_the_cpu_is_copied_once_and_shares_nothing(state):
    with CountCopies() as counted:
        kept = clone_state(state, KEPT_ON)
    assert KEPT_ON == torch.device("cpu")
    assert counted.copies == len(tensors(state))   # one copy a tensor: no clone then move
    assert_same(state, kept)
    mine = {t.untyped_storage().data_ptr() for t in tensors(state) if t.numel()}
    assert not mine & {t.untyped_storage().data_ptr() for t in tensors(kept) if t.numel()}


def test_the_engine_keeps_its_states_on_the_kept_device_not_the_training_one(monkeypatch):
    monkeypatch.setattr(run_loop, "KEPT_ON", torch.device("meta"))   # stands for the CPU beside a GPU
    tr = make_trainer(tiny())
    loop = RunLoop(tr, None, keep_forks="memory")
    for _ in range(30):
        loop.advance()
    assert list(loop.fork_states) == [10, 20, 30]
    assert {t.device.type for s in loop.fork_states.values() for t in tensors(s)} == {"meta"}
    assert {t.device.type for t in tensors(tr.state_dict())} == {"cpu"}   # training was not moved


def train_in_memory(path, steps: int, cfg) -> RunLoop:
    """What the window's engine does: a new run in ``path`` that keeps its states to fork from in memory."""
    tr = make_trainer(cfg)
    run = RunFolder.create(path, tr.cfg, lock=True)
    loop = RunLoop(tr, run, keep_forks="memory")
    try:
        for _ in range(steps):
            loop.advance()
        loop.finish()
    finally:
        run.unlock()
    return loop


def test_a_state_kept_in_memory_is_the_one_the_cli_writes_and_forks_the_same(tmp_path):
    """Kept in memory (the window) or written to forks/ (the CLI): the same state, bit for bit, and a
    fork from it with a change is the same fork."""
    train_cli(tmp_path / "disk", 30, tiny())
    loop = train_in_memory(tmp_path / "memory", 30, tiny())
    run = loop.run
    for step in (10, 20, 30):
        assert_same_state(loop.fork_states[step], checkpoint(tmp_path / "disk", step))
    change = {"train.lr_g": 0.0005}
    from_memory = write_fork(run.path, loop.fork_states[20], tmp_path / "from_memory", change)
    from_disk = fork_run(tmp_path / "disk", tmp_path / "from_disk", 20, change)
    assert_same_state(checkpoint(from_memory), checkpoint(from_disk))
    assert_same_state(loop.fork_states[20], checkpoint(tmp_path / "disk", 20))   # the kept one is unchanged


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_the_kept_states_are_on_the_cpu_and_a_fork_goes_back_to_the_gpu(tmp_path):
    loop = train_in_memory(tmp_path / "gpu", 30, tiny(**{"train.device": "cuda"}))
    tr, run = loop.trainer, loop.run
    assert {t.device.type for t in tensors(loop.fork_states[20])} == {"cpu"}
    assert next(tr.G.parameters()).is_cuda
    out = write_fork(run.path, loop.fork_states[20], tmp_path / "fork", {"train.lr_g": 0.0005}, device="cuda")
    forked, _ = trainer_from_run(out)
    assert next(forked.G.parameters()).is_cuda and forked.step_count == 20
    for name, value in forked.G.state_dict().items():
        assert torch.equal(value.cpu(), loop.fork_states[20]["G"][name]), name


def test_the_engine_pauses_at_a_step_whose_state_it_cannot_keep_and_saves_it(tmp_path, monkeypatch):
    engine, replies = engine_with_run(tmp_path, tiny_cfg({"train.eval_every": 10, "train.fork_keep": 3}))
    real = run_loop.clone_state

    def short_of_memory(state, device=None):
        if device is not None and state["step"] == 20:
            raise out_of_memory()
        return real(state, device)
    monkeypatch.setattr(run_loop, "clone_state", short_of_memory)
    train(engine, 40)
    message = paused_once_at(replies, 20)
    assert message.startswith("writing the state kept to fork from at step 20 failed (out of memory on CPU")
    assert "with a smaller train.fork_keep if memory stays short (it keeps 1 earlier state in memory)" in message
    assert engine._tr.step_count == 20 and engine._steps[-1] == 20   # the step stands, its metrics shown
    assert load_checkpoint_file(engine._run.path / "checkpoint.pt")["step"] == 20
    assert list(engine._loop.fork_states) == [10]
    train(engine, 20)   # continued: it keeps states again
    assert engine._tr.step_count == 40 and list(engine._loop.fork_states) == [10, 30, 40]
    assert [e["event"] for e in RunFolder(engine._run.path).read_events()] == ["output_failed"]
    engine._finish_run()


def test_the_cli_pauses_at_a_step_whose_state_it_cannot_write_to_forks_and_saves_it(tmp_path, capsys, monkeypatch):
    real = RunFolder.save_fork_point

    def short_of_memory(self, state, keep):
        if state["step"] == 20:
            raise MemoryError()
        return real(self, state, keep)
    monkeypatch.setattr(RunFolder, "save_fork_point", short_of_memory)
    run = tmp_path / "r"
    rc, _, err = cli(capsys, "train", "ring8", "--steps", "40", "--out", run, "--set", "model.g_width=16",
                     "--set", "model.d_width=16", "--set", "train.batch_size=32", "--set", "train.eval_every=10",
                     "--set", "train.checkpoint_every=1000", "--device", "cpu", "--quiet")
    assert rc == 3 and "Traceback" not in err, err
    assert "paused: writing the state kept to fork from at step 20 failed (out of memory on CPU" in err, err
    assert load_checkpoint_file(run / "checkpoint.pt")["step"] == 20
    assert sorted(RunFolder(run).fork_points()) == [10]


def short_of_memory_for_the_last_good_copy_at(monkeypatch, step: int) -> None:
    """The copy of the state as the last good one (clone_state on the training device) runs out of
    memory at ``step``; the states kept to fork from (copied to KEPT_ON) still fit."""
    real = run_loop.clone_state

    def clone(state, device=None):
        if device is None and int(state["step"]) == step:
            raise out_of_memory()
        return real(state, device)
    monkeypatch.setattr(run_loop, "clone_state", clone)


def test_the_engine_pauses_at_a_step_whose_last_good_copy_runs_out_of_memory_and_saves_it(tmp_path, monkeypatch):
    """The last good state (rolled back to on NaN) is a copy on the training device, taken at every
    logged step: out of memory there escaped the loop, and the engine paused with the steps since the
    last checkpoint unsaved."""
    engine, replies = engine_with_run(tmp_path, tiny_cfg())
    short_of_memory_for_the_last_good_copy_at(monkeypatch, 20)
    train(engine, 40)
    message = paused_once_at(replies, 20)
    assert message.startswith("writing the last good state (kept to roll back to on NaN) at step 20 failed "
                              "(out of memory on CPU"), message
    assert "the run was paused at that step, which is saved" in message
    assert engine._tr.step_count == 20 and load_checkpoint_file(engine._run.path / "checkpoint.pt")["step"] == 20
    assert engine._loop._last_good_step == 10     # the previous good state is kept
    train(engine, 20)                              # continued: it keeps good states again
    assert engine._tr.step_count == 40 and engine._loop._last_good_step == 40
    events = RunFolder(engine._run.path).read_events()
    assert [(e["event"], e["step"]) for e in events] == [("output_failed", 20)]
    engine._finish_run()


def test_the_cli_pauses_at_a_step_whose_last_good_copy_runs_out_of_memory_and_saves_it(tmp_path, capsys, monkeypatch):
    short_of_memory_for_the_last_good_copy_at(monkeypatch, 20)
    run = tmp_path / "r"
    rc, _, err = cli(capsys, "train", "ring8", "--steps", "40", "--out", run, "--set", "model.g_width=16",
                     "--set", "model.d_width=16", "--set", "train.batch_size=32", "--set", "train.log_every=10",
                     "--set", "train.checkpoint_every=1000", "--device", "cpu", "--quiet")
    assert rc == 3 and "Traceback" not in err, err
    assert "paused: writing the last good state (kept to roll back to on NaN) at step 20 failed (out of memory" in err
    assert load_checkpoint_file(run / "checkpoint.pt")["step"] == 20
