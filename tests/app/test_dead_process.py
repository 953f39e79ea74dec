"""A training process that dies is reported, and the window stays usable (issue 16, item 7).

Before, a training process killed with SIGKILL (or crashed) left the window stuck: Open, New and
Start did nothing. Now the worker reports it (process_died, the status bar, the plots' warning),
starts a fresh training process that reopens the run at its last checkpoint, and Start, New and
Open work again. SIGTERM to the training process alone saves the run at its current step."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from PySide6.QtGui import QAction

from gan_studio.core.runs import load_checkpoint_file
from studio_helpers import WAIT_MS, tiny_config

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

SLOW_MS = 3 * WAIT_MS   # a fresh child process imports torch first


def trigger(win, name: str) -> None:
    win.findChild(QAction, f"action.{name}").trigger()


def steps_logged(run_path: str) -> list[int]:
    lines = (Path(run_path) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines if line.strip()]


def test_a_killed_training_process_is_reported_and_start_and_new_work_after(make_window, qtbot):
    win = make_window(tiny_config(**{"train.checkpoint_every": 10}), engine="process")
    died, sessions = [], []
    win.worker.process_died.connect(died.append)
    win.session_started.connect(sessions.append)
    first = win.worker.process
    run_path = win.state.session.run_path
    trigger(win, "start")
    qtbot.waitUntil(lambda: win.state.step >= 25, timeout=SLOW_MS)
    os.kill(first.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: bool(died), timeout=SLOW_MS)
    assert "ended unexpectedly" in died[0] and "SIGKILL" in died[0]
    assert "ended unexpectedly" in win.last_message
    assert win.actions_by_name["start"].isEnabled() and not win.actions_by_name["pause"].isEnabled()
    # a fresh training process reopens the run at its last checkpoint
    qtbot.waitUntil(lambda: bool(sessions), timeout=SLOW_MS)
    assert win.worker.process is not first and win.worker.process.is_alive()
    reopened = sessions[-1]
    assert reopened.run_path == run_path and reopened.step >= 20 and reopened.step % 10 == 0
    win.refresh_all()
    assert any("ended unexpectedly" in w for w in win.plots.warnings)
    # Start continues it, in the same run folder, without a gap or a repeated step in its log
    trigger(win, "start")
    qtbot.waitUntil(lambda: win.state.step >= reopened.step + 10, timeout=SLOW_MS)
    trigger(win, "pause")
    trigger(win, "save")
    qtbot.waitUntil(lambda: bool(win.saved_runs) and win.saved_runs[-1] == run_path, timeout=SLOW_MS)
    steps = steps_logged(run_path)
    assert steps == sorted(set(steps)) and steps[0] == 5
    assert all(b - a <= 5 for a, b in zip(steps, steps[1:]))
    # New: a new run, trained by the same (fresh) process
    n = len(sessions)
    trigger(win, "new")
    qtbot.waitUntil(lambda: len(sessions) > n, timeout=SLOW_MS)
    assert sessions[-1].run_path != run_path and sessions[-1].step == 0
    trigger(win, "start")
    qtbot.waitUntil(lambda: win.state.step >= 5, timeout=SLOW_MS)


def test_sigterm_to_the_training_process_saves_its_current_step(make_window, qtbot):
    win = make_window(engine="process")   # checkpoint_every 10000: only a stop saves this run
    died, sessions = [], []
    win.worker.process_died.connect(died.append)
    win.session_started.connect(sessions.append)
    run_path = win.state.session.run_path
    trigger(win, "start")
    qtbot.waitUntil(lambda: win.state.step >= 15, timeout=SLOW_MS)
    os.kill(win.worker.process.pid, signal.SIGTERM)
    qtbot.waitUntil(lambda: bool(died) and bool(sessions), timeout=SLOW_MS)
    saved = load_checkpoint_file(Path(run_path) / "checkpoint.pt")["step"]
    assert saved >= 15 and saved == steps_logged(run_path)[-1]
    assert sessions[-1].run_path == run_path and sessions[-1].step == saved
