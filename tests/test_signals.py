"""SIGTERM and SIGINT save the run at the current step, for `gan-studio train` and `gan-studio gui`.

Issue 16, item 7: a signal left the checkpoint at an older step while the metrics went on, and
Ctrl+C did not quit the window. Each test runs the real command in a subprocess, waits until it
has logged some steps, signals it, and checks the exit code and that the checkpoint is at (or past)
the last logged step: nothing that was logged is lost."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gan_studio.core.runs import RunFolder, load_checkpoint_file

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

TINY = ["--set", "model.g_width=16", "--set", "model.d_width=16", "--set", "model.g_depth=2",
        "--set", "model.d_depth=2", "--set", "train.batch_size=32", "--set", "train.log_every=5",
        "--set", "train.eval_every=100000", "--set", "train.snapshot_every=100000",
        "--set", "train.checkpoint_every=100000"]
START_S = 120     # a loaded 2-core machine imports torch (and Qt) slowly
EXIT_S = 60


def _default_sigint() -> None:
    # as in a terminal: a background job would inherit SIGINT ignored, and Python keep it so
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _env(tmp_path: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONUNBUFFERED="1")
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip().endswith("}")]


def _wait_for_rows(proc, find_run, n: int = 3) -> tuple[Path, int]:
    """Until the run folder has n metrics rows; returns it and its last logged step."""
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the command ended early ({proc.returncode}): {err[-2000:]}")
        run = find_run()
        rows = _rows(run / "metrics.jsonl") if run is not None else []
        if len(rows) >= n:
            return run, rows[-1]["step"]
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"no {n} metrics rows within {START_S} s")


def _stop(proc, sig) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=EXIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"still running {EXIT_S} s after {sig.name}: {err[-2000:]}")
    return proc.returncode, err


def _assert_nothing_lost(run: Path, seen_step: int) -> int:
    step = load_checkpoint_file(run / "checkpoint.pt")["step"]
    logged = _rows(run / "metrics.jsonl")[-1]["step"]
    assert step >= seen_step, f"checkpoint at {step}, but step {seen_step} was logged before the signal"
    assert step == logged, f"checkpoint at {step}, last metrics row at {logged}"
    RunFolder(run).lock().unlock()   # the writer is gone: its lock went with it
    return step


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_train_saves_the_current_step_on_a_signal(tmp_path, sig, code):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "gan_studio", "train", "ring8", "--steps", "100000",
                             "--out", str(out), "--device", "cpu", "--quiet", *TINY],
                            env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    run, seen = _wait_for_rows(proc, lambda: out)
    rc, err = _stop(proc, sig)
    assert rc == code, err[-2000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) == 2, err   # "training ... into", then one line
    assert f"stopped by {sig.name} at step" in lines[-1] and str(out) in lines[-1]
    step = _assert_nothing_lost(run, seen)
    assert f"at step {step};" in lines[-1]


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_gui_closes_and_saves_on_a_signal(tmp_path, sig, code):
    runs = tmp_path / "runs"

    def find_run():
        found = sorted(runs.glob("*/metrics.jsonl")) if runs.is_dir() else []
        return found[0].parent if found else None

    proc = subprocess.Popen([sys.executable, "-m", "gan_studio", "gui", "--runs-dir", str(runs),
                             "--device", "cpu", "--run-steps", "100000", *TINY],
                            env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    run, seen = _wait_for_rows(proc, find_run)
    rc, err = _stop(proc, sig)
    assert rc == code, err[-2000:]
    assert "Traceback" not in err, err
    assert f"gan-studio gui: stopped by {sig.name}; the run is saved in {run}" in err
    _assert_nothing_lost(run, seen)
