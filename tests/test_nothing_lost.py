"""Nothing is lost (issue 16, items 2 and 9): a checkpoint is written from finite weights only, at
every exit path, and a roll-back goes to a finite state; the atomic writer respects the umask,
removes the temporary files of killed writers, survives SIGKILL mid-write, and a full disk is one
line with the previous checkpoint kept."""
import errno
import os
import random
import signal
import subprocess
import time

import pytest
import torch

from gan_studio.cli import main
from gan_studio.core.config import Config
from gan_studio.core.errors import RunError
from gan_studio.core.io import atomic_write_bytes
from gan_studio.core.runs import RunFolder, load_checkpoint_file, save_checkpoint_file
from gan_studio.core.training.run_loop import RunLoop
from gan_studio.core.training.trainer import DivergedError, Trainer

# 2-D points far out, a deep D and learning rates of 1: D's gradients overflow within 10 steps
NAN_RUN = ["--set", "data.name=points", "--set", "data.points=[[1e6,1e6],[-1e6,-1e6]]",
           "--set", "loss=least-squares", "--set", "train.lr_d=1", "--set", "train.lr_g=1",
           "--set", "model.d_width=32", "--set", "model.d_depth=6"]
TINY = ["--set", "model.g_width=16", "--set", "model.d_width=16", "--set", "train.batch_size=32",
        "--device", "cpu", "--quiet"]


def tiny_cfg(**extra) -> Config:
    cfg = Config()
    for k, v in {"model.g_width": 16, "model.d_width": 16, "train.batch_size": 32, "train.device": "cpu",
                 "train.log_every": 1000, "train.eval_every": 1000, "train.snapshot_every": 1000,
                 "train.checkpoint_every": 4, **extra}.items():
        cfg.set(k, v)
    return cfg


def floating(obj):
    if isinstance(obj, torch.Tensor):
        return [obj] if obj.is_floating_point() else []
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in floating(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in floating(v)]
    return []


def all_finite(state) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in floating(state))


def same_tensors(a, b) -> bool:
    ta, tb = floating(a), floating(b)
    return len(ta) == len(tb) and all(torch.equal(x, y) for x, y in zip(ta, tb))


def poison(tr):
    with torch.no_grad():
        next(tr.D.parameters()).fill_(float("nan"))


def tmp_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- item 2: finite checkpoints, at every exit path ------------------------------------------------
def test_cli_run_that_diverges_before_its_end_pauses_with_a_finite_checkpoint(tmp_path, capsys):
    out = tmp_path / "p"
    # no logged step within the 10 steps: only the final checkpoint can catch it
    rc = main(["train", "ring8", "--steps", "10", "--out", str(out), *TINY, *NAN_RUN,
               "--set", "train.log_every=1000", "--set", "train.eval_every=1000"])
    err = capsys.readouterr().err
    assert rc != 0
    paused = [line for line in err.splitlines() if "paused" in line]
    assert len(paused) == 1 and "Traceback" not in err, err
    state = load_checkpoint_file(out / "checkpoint.pt")
    assert all_finite(state) and state["step"] == 0
    assert any(e["event"] == "diverged" for e in RunFolder(out).read_events())
    # resuming does not come back to a NaN state: it pauses again, at a finite state
    rc = main(["train", "--resume", str(out), "--steps", "10", "--quiet"])
    err = capsys.readouterr().err
    assert rc != 0 and "paused" in err and "Traceback" not in err
    assert all_finite(load_checkpoint_file(out / "checkpoint.pt"))


def test_periodic_checkpoint_of_a_nan_state_rolls_back_to_the_last_good_one(tmp_path):
    tr = Trainer(tiny_cfg())
    run = RunFolder.create(tmp_path / "r", tr.cfg)
    loop = RunLoop(tr, run)
    for _ in range(4):
        loop.advance()          # checkpoint at step 4: finite, and the last good state
    good = load_checkpoint_file(tmp_path / "r" / "checkpoint.pt")
    loop.advance()
    tr.call(poison)             # no logged step: only the checkpoint at step 8 sees it
    with pytest.raises(DivergedError, match="diverged at step 8.*rolled back to step 4"):
        for _ in range(3):
            loop.advance()
    saved = load_checkpoint_file(tmp_path / "r" / "checkpoint.pt")
    assert saved["step"] == 4 and all_finite(saved)
    assert tr.step_count == 4 and all_finite(tr.state_dict())
    assert any(e["event"] == "diverged" for e in run.read_events())
    # the kept state is not changed by the training after a roll-back: a second one lands on it again
    loop.advance()
    tr.call(poison)
    with pytest.raises(DivergedError, match="rolled back to step 4"):
        for _ in range(3):
            loop.advance()
    for key in ("G", "D", "opt_g", "opt_d", "extra"):
        assert same_tensors(tr.state_dict()[key], good[key]), key


def test_finish_never_saves_a_nan_state(tmp_path):
    tr = Trainer(tiny_cfg(**{"train.checkpoint_every": 1000}))
    run = RunFolder.create(tmp_path / "r", tr.cfg)
    loop = RunLoop(tr, run)     # the state at step 0 is the last good one
    loop.advance()
    tr.call(poison)
    loop.advance()
    with pytest.raises(DivergedError, match="rolled back to step 0"):
        loop.finish()
    state = load_checkpoint_file(tmp_path / "r" / "checkpoint.pt")
    assert state["step"] == 0 and all_finite(state)
    loop.finish()               # the rolled-back run stays usable and saves
    assert all_finite(load_checkpoint_file(tmp_path / "r" / "checkpoint.pt"))


def test_after_a_resume_the_roll_back_goes_to_the_checkpoint_loaded(tmp_path):
    from gan_studio.core.runs import trainer_from_run
    tr = Trainer(tiny_cfg(**{"train.checkpoint_every": 6}))
    run = RunFolder.create(tmp_path / "r", tr.cfg)
    loop = RunLoop(tr, run)
    for _ in range(6):
        loop.advance()
    tr, run = trainer_from_run(tmp_path / "r", writable=True)
    loop = RunLoop(tr, run)
    tr.call(poison)
    with pytest.raises(DivergedError, match="rolled back to step 6"):
        for _ in range(6):
            loop.advance()
    assert load_checkpoint_file(tmp_path / "r" / "checkpoint.pt")["step"] == 6


def test_a_nan_state_is_never_written_by_save_checkpoint(tmp_path):
    tr = Trainer(tiny_cfg())
    run = RunFolder.create(tmp_path / "r", tr.cfg)
    run.save_checkpoint(tr)
    before = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    poison(tr)
    with pytest.raises(RunError, match="NaN or infinite.*previous checkpoint.pt is kept"):
        run.save_checkpoint(tr)
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == before


def test_a_checkpoint_holding_nan_is_not_resumed(tmp_path, capsys):
    """Checkpoints that older versions wrote after a divergence: one line, no NaN training."""
    tr = Trainer(tiny_cfg())
    RunFolder.create(tmp_path / "r", tr.cfg)
    poison(tr)
    save_checkpoint_file(tr.state_dict(), tmp_path / "r" / "checkpoint.pt")
    rc = main(["train", "--resume", str(tmp_path / "r"), "--steps", "2", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "NaN or infinite" in err and len(err.strip().splitlines()) == 1, err


def test_a_checkpoint_holding_nan_is_not_forked(tmp_path, capsys):
    """`gan-studio fork` copied it into a new run folder that could never be continued either."""
    tr = Trainer(tiny_cfg())
    RunFolder.create(tmp_path / "r", tr.cfg)
    poison(tr)
    save_checkpoint_file(tr.state_dict(), tmp_path / "r" / "checkpoint.pt")
    rc = main(["fork", str(tmp_path / "r"), "--out", str(tmp_path / "f")])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot be forked" in err and "NaN or infinite" in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "f").exists()


# -- item 9: the atomic writer ------------------------------------------------------------------
def test_atomic_writes_respect_the_umask(tmp_path):
    tr = Trainer(tiny_cfg())
    for umask in (0o022, 0o002, 0o077):
        folder = tmp_path / oct(umask)
        old = os.umask(umask)
        try:
            atomic_write_bytes(folder / "a.bin", b"x")
            RunFolder.create(folder / "r", tr.cfg).save_checkpoint(tr)
        finally:
            os.umask(old)
        for p in (folder / "a.bin", folder / "r" / "checkpoint.pt", folder / "r" / "config.json"):
            assert oct(p.stat().st_mode & 0o777) == oct(0o666 & ~umask), (oct(umask), p.name)


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_temporary_files_of_killed_writers_are_removed(tmp_path):
    from gan_studio.core.io import remove_stale_temp_files
    tr = Trainer(tiny_cfg())
    run = RunFolder.create(tmp_path / "r", tr.cfg)
    folder = tmp_path / "r"
    dead = _dead_pid()
    orphans = [folder / f".checkpoint.pt.{dead}.{i:08x}.tmp" for i in range(7)]
    orphans += [folder / f".checkpoint.pt.old{i}xyz.tmp" for i in range(3)]   # older versions' names
    for p in orphans:
        p.write_bytes(b"\0" * 1000)
    for p in orphans[7:]:
        os.utime(p, (time.time() - 3600, time.time() - 3600))
    live = subprocess.Popen(["sleep", "30"])
    try:
        busy = folder / f".checkpoint.pt.{live.pid}.0000abcd.tmp"    # another process is writing it
        fresh = folder / ".checkpoint.pt.new1xyz.tmp"                 # a name without pid, just now
        busy.write_bytes(b"1")
        fresh.write_bytes(b"1")
        run.save_checkpoint(tr)
        assert tmp_files(folder) == sorted([busy.name, fresh.name])
        assert load_checkpoint_file(folder / "checkpoint.pt")["step"] == 0
    finally:
        live.kill()
        live.wait()
    assert remove_stale_temp_files(folder) == [busy]    # its writer is gone now


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_sigkill_during_checkpoint_writes_never_breaks_the_checkpoint(tmp_path):
    tr = Trainer(tiny_cfg())
    run = RunFolder.create(tmp_path / "r", tr.cfg)
    folder, path = tmp_path / "r", tmp_path / "r" / "checkpoint.pt"
    states = []
    for i in range(2):          # two states, each heavy enough that a write takes a while
        tr.step()
        state = tr.state_dict()
        state["extra"]["ballast"] = torch.full((3_000_000,), float(i + 1))
        states.append(state)
    save_checkpoint_file(states[0], path)
    rng = random.Random(16)
    kills, mid_write = 10, 0
    for _ in range(kills):
        pid = os.fork()
        if pid == 0:            # the writer: checkpoints in a loop until it is killed
            try:
                i = 0
                while True:
                    save_checkpoint_file(states[i % 2], path)
                    i += 1
            finally:
                os._exit(0)
        mine = f".{pid}."                       # the writer's temporary files carry its pid
        if _ % 2:                               # at a random moment
            time.sleep(rng.uniform(0.05, 0.25))
        else:                                   # just after it began a write, however loaded the machine
            deadline = time.monotonic() + 20
            while not any(mine in n for n in tmp_files(folder)) and time.monotonic() < deadline:
                time.sleep(0.0005)
            time.sleep(rng.uniform(0.0, 0.003))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        mid_write += any(mine in n for n in tmp_files(folder))
        state = load_checkpoint_file(path)          # always loads, and is one of the two, whole
        which = int(state["extra"]["ballast"][0].item()) - 1
        assert which in (0, 1) and state["step"] == states[which]["step"]
        assert same_tensors(state, states[which])
    assert mid_write >= 1       # kills did land inside writes (their temporary files were left)
    run.save_checkpoint(tr)     # the next write removes what the killed writers left
    assert tmp_files(folder) == []
    assert load_checkpoint_file(path)["step"] == tr.step_count


def _fail_fsync_for(monkeypatch, fragment: str, after: int = 0):
    """os.fsync raises ENOSPC for files whose name contains ``fragment``, after ``after`` successes."""
    real, seen = os.fsync, {"n": 0}

    def fsync(fd):
        try:
            name = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            name = fragment   # no /proc: every fsync is the file's
        if fragment in name:
            seen["n"] += 1
            if seen["n"] > after:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)
    monkeypatch.setattr(os, "fsync", fsync)


def test_disk_full_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    tr = Trainer(tiny_cfg())
    run = RunFolder.create(tmp_path / "r", tr.cfg)
    run.save_checkpoint(tr)
    before = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    tr.step()
    _fail_fsync_for(monkeypatch, ".checkpoint.pt.")
    with pytest.raises(RunError, match=r"disk full while writing .*checkpoint\.pt: the previous checkpoint"):
        run.save_checkpoint(tr)
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == before
    assert tmp_files(tmp_path / "r") == []


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to tell the files apart")
def test_cli_disk_full_at_a_checkpoint_is_one_line(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    _fail_fsync_for(monkeypatch, ".checkpoint.pt.", after=1)    # the first checkpoint fits, the second not
    rc = main(["train", "ring8", "--steps", "10", "--out", str(out), *TINY, "--set", "train.checkpoint_every=5",
               "--set", "train.log_every=5", "--set", "train.eval_every=1000", "--set", "train.snapshot_every=1000"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("gan-studio train: error: disk full while writing")
    assert load_checkpoint_file(out / "checkpoint.pt")["step"] == 5
    assert tmp_files(out) == []



def test_the_cli_says_the_previous_checkpoint_is_kept_when_the_disk_is_full(tmp_path, capsys, monkeypatch):
    """gan-studio train printed a WriteError through describe_os_error, which dropped the half that
    matters most ('disk full while writing RUN/checkpoint.pt' alone): that the previous one is kept."""
    from cli_helpers import cli
    run = tmp_path / "r"
    tiny = ["--set", "model.g_width=16", "--set", "model.d_width=16", "--set", "train.batch_size=32",
            "--set", "train.checkpoint_every=10", "--set", "train.snapshot_every=1000", "--device", "cpu", "--quiet"]
    assert cli(capsys, "train", "ring8", "--steps", "10", "--out", run, *tiny)[0] == 0
    _fail_fsync_for(monkeypatch, ".checkpoint.pt.")
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "10", "--quiet")
    assert rc != 0 and "Traceback" not in err, err
    assert f"disk full while writing {run / 'checkpoint.pt'}: the previous checkpoint.pt is kept" in err, err
    assert load_checkpoint_file(run / "checkpoint.pt")["step"] == 10
