"""One writer per run folder (an OS file lock), and readers that never change the folder.

Issue 16, items 4 and 6: two `train --resume` at once both exited 0 with duplicated, out-of-order
metrics; `sample`/`latent` on a run that was training cut its metrics.jsonl/events.jsonl back to
the last checkpoint."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gan_studio.cli import main
from gan_studio.core.config import Config
from gan_studio.core.errors import RunError
from gan_studio.core.runs import RunFolder, trainer_from_run
from gan_studio.core.training.run_loop import RunLoop
from gan_studio.core.training.trainer import Trainer

TINY = ["--set", "model.g_width=16", "--set", "model.d_width=16", "--set", "train.batch_size=32",
        "--set", "train.log_every=5", "--set", "train.eval_every=10", "--set", "train.checkpoint_every=10",
        "--set", "train.snapshot_every=10", "--device", "cpu", "--quiet"]


def tiny_cfg() -> Config:
    cfg = Config()
    for key, value in {"model.g_width": 16, "model.d_width": 16, "model.g_depth": 2, "model.d_depth": 2,
                       "train.batch_size": 32, "train.log_every": 5, "train.eval_every": 10,
                       "train.checkpoint_every": 10, "train.snapshot_every": 10_000,
                       "train.device": "cpu"}.items():
        cfg.set(key, value)
    return cfg


def run_past_its_checkpoint(path: Path) -> Path:
    """A run as it looks while it trains: checkpoint at step 10, log rows and an event up to 15."""
    tr = Trainer(tiny_cfg())
    run = RunFolder.create(path, tr.cfg)
    loop = RunLoop(tr, run)
    for _ in range(13):
        loop.advance()
    tr.apply_setting("train.lr_d", 3e-4)   # an event past the checkpoint, at step 13
    for _ in range(2):
        loop.advance()
    assert max(r["step"] for r in run.read_metrics()) == 15
    return path


def snapshot(path: Path) -> dict:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_second_writer_gets_one_line_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "ring8", "--steps", "10", "--out", str(out), *TINY]) == 0
    holder = RunFolder.open(out, writable=True, command="gan-studio train")   # "training" it
    before = snapshot(out)
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--steps", "10", *TINY[-3:]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"is being trained by pid {os.getpid()} (gan-studio train) on host {socket.gethostname()}" in err
    assert "read-only" in err
    after = snapshot(out)
    assert {k: v for k, v in after.items() if k != ".lock"} == {k: v for k, v in before.items() if k != ".lock"}
    # a new run into a folder that a writer holds is refused the same way
    fresh = tmp_path / "fresh"
    window = RunFolder.create(fresh, tiny_cfg(), lock=True, command="gan-studio gui (training)")
    assert main(["train", "ring8", "--steps", "5", "--out", str(fresh), *TINY]) == 2
    assert "(gan-studio gui (training))" in capsys.readouterr().err
    window.unlock()
    holder.unlock()   # the writer stops: the next one may train
    assert main(["train", "--resume", str(out), "--steps", "5", *TINY[-3:]]) == 0
    assert RunFolder(out).read_metrics()[-1]["step"] == 15


def test_resume_of_a_run_in_its_first_steps_names_the_writer_not_a_missing_checkpoint(tmp_path, capsys):
    """A fresh run being trained has config.json but no checkpoint.pt until its first save: a second
    `train --resume` must say who trains it, as `train --out` and `fork` do, not "not a run folder"."""
    fresh = tmp_path / "fresh"
    window = RunFolder.create(fresh, tiny_cfg(), lock=True, command="gan-studio train")   # step 0 of 1,000
    assert (fresh / "config.json").is_file() and not (fresh / "checkpoint.pt").exists()
    capsys.readouterr()
    assert main(["train", "--resume", str(fresh), "--steps", "5", *TINY[-3:]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"is being trained by pid {os.getpid()} (gan-studio train) on host {socket.gethostname()}" in err
    assert "checkpoint.pt" not in err
    # a reader (sample, as the lock's message suggests) is told the run has saved no step yet
    assert main(["sample", str(fresh), "--n", "4", "--out", str(tmp_path / "s.npy")]) == 2
    err = capsys.readouterr().err
    assert "has no checkpoint.pt yet: no step of this run was saved" in err and "not a run folder" not in err
    window.unlock()
    # once nobody trains it, the missing checkpoint is the problem, and the probe keeps no lock
    assert main(["train", "--resume", str(fresh), "--steps", "5", *TINY[-3:]]) == 2
    assert "has no checkpoint.pt" in capsys.readouterr().err
    RunFolder(fresh).lock().unlock()
    # a folder that is no run gets no .lock file from being probed
    plain = tmp_path / "plain"
    plain.mkdir()
    assert main(["train", "--resume", str(plain), "--steps", "5", *TINY[-3:]]) == 2
    assert "has no checkpoint.pt" in capsys.readouterr().err and not (plain / ".lock").exists()


def test_the_writer_holds_the_lock_while_it_trains_and_releases_it(tmp_path):
    run = RunFolder.create(tmp_path / "r", tiny_cfg(), lock=True, command="gan-studio train")
    assert run.locked
    with pytest.raises(RunError, match=f"pid {os.getpid()}"):
        RunFolder(tmp_path / "r").lock()
    run.unlock()
    RunFolder(tmp_path / "r").lock().unlock()


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    code = ("import sys, time; from gan_studio.core.io import RunLock; "
            "lock = RunLock(sys.argv[1], 'gan-studio train').acquire(); print('locked', flush=True); "
            "time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(RunError, match=f"pid {proc.pid} "):
            RunFolder(out).lock()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert (out / ".lock").exists()          # the file stays behind...
    RunFolder(out).lock().unlock()           # ...and blocks nobody: the kernel dropped the lock


def test_readers_leave_a_training_run_byte_identical(tmp_path, capsys):
    out = run_past_its_checkpoint(tmp_path / "r")
    holder = RunFolder(out).lock("gan-studio train")   # it is being trained
    before = snapshot(out)
    assert main(["sample", str(out), "--n", "5", "--out", str(tmp_path / "s.npy")]) == 0
    assert main(["metrics", str(out)]) == 0
    # latent draws images: on a 2-D run it refuses, after opening the run (which cut the log)
    assert main(["latent", str(out), "--interpolate", str(tmp_path / "z.npy"), "--out",
                 str(tmp_path / "l.png")]) != 0
    tr, run = trainer_from_run(out)
    assert tr.step_count == 10 and run.read_only
    assert snapshot(out) == before
    assert max(r["step"] for r in RunFolder(out).read_metrics()) == 15
    with pytest.raises(RunError, match="read-only"):
        run.append_metrics({"step": 11})
    with pytest.raises(RunError, match="read-only"):
        run.truncate_after(10)
    assert snapshot(out) == before
    holder.unlock()


def test_only_the_writer_truncates_on_resume(tmp_path):
    out = run_past_its_checkpoint(tmp_path / "r")
    tr, run = trainer_from_run(out, writable=True, command="gan-studio train --resume")
    assert run.locked and tr.step_count == 10
    assert max(r["step"] for r in run.read_metrics()) == 10
    assert all(e.get("step", 0) <= 10 for e in run.read_events())
    with pytest.raises(RunError, match="being trained by"):
        trainer_from_run(out, writable=True)
    run.unlock()


def test_lock_file_names_pid_host_and_command(tmp_path):
    from gan_studio.core.io import read_holder
    run = RunFolder.create(tmp_path / "r", tiny_cfg(), lock=True, command="gan-studio train")
    holder = read_holder(tmp_path / "r")
    assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    assert holder["command"] == "gan-studio train"
    run.unlock()
    assert read_holder(tmp_path / "r") is None   # released: nobody holds it
    t0 = time.perf_counter()
    RunFolder(tmp_path / "r").lock().unlock()
    assert time.perf_counter() - t0 < 1.0


def test_a_folder_in_place_of_the_lock_file_is_said_in_words(tmp_path, capsys):
    """It said 'cannot lock RUN for writing: [Errno 21] Is a directory: ...', Python's text."""
    run = run_past_its_checkpoint(tmp_path / "r")
    (run / ".lock").unlink(missing_ok=True)
    (run / ".lock").mkdir()
    assert main(["train", "--resume", str(run), "--steps", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"gan-studio train: error: cannot lock {run} for writing: {run / '.lock'} is a folder, "
                   "where a file is needed"), err
