"""The training process itself, as the window sees it: its own pid, questions that cannot travel to
it, closing mid-run ends it (a studio window keeps no spare process), the latent lab's requests,
and a training process that dies. Every window test trains in a training process; these check
the process's edges end to end."""
from __future__ import annotations

import operator
import os
import signal
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QCheckBox

from gan_studio.app.worker import live_processes
from gan_studio.core.runs import trainer_from_run
from studio_helpers import WAIT_MS, call, tiny_config

STEP = operator.attrgetter("step_count")
#: a child process answers more slowly than a thread on a loaded 2-core machine
SLOW_MS = 3 * WAIT_MS


def trigger(win, name: str) -> None:
    win.findChild(QAction, f"action.{name}").trigger()


def test_process_engine_trains_toggles_and_saves_on_close(make_window, qtbot, fresh_training_processes):
    win = make_window(engine="process")
    proc = win.worker.process
    assert proc is not None and proc.is_alive() and proc.pid != os.getpid()
    trigger(win, "step")
    qtbot.waitUntil(lambda: win.state.step == 1, timeout=SLOW_MS)
    assert call(win, STEP) == 1                       # one G step, in the child
    trigger(win, "start")
    qtbot.waitUntil(lambda: win.state.step >= 4, timeout=SLOW_MS)
    box = win.findChild(QCheckBox, "setting.tricks.label_smoothing.enabled")
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "+label_smoothing" in win.plots.marker_labels(), timeout=SLOW_MS)
    assert call(win, operator.attrgetter("cfg.tricks.label_smoothing.enabled")) is True
    switched = [e for e in win.state.events if e.get("key") == "tricks.label_smoothing.enabled"]
    assert switched and switched[0]["step"] >= 4
    # a closure cannot travel to another process: the caller gets a clear error, training goes on
    fut = win.worker.call(lambda tr: tr.step_count)
    with pytest.raises(TypeError, match="training process cannot take"):
        fut.result(timeout=SLOW_MS / 1000)
    at = win.state.step
    qtbot.waitUntil(lambda: win.state.step > at, timeout=SLOW_MS)
    run_path = win.state.session.run_path
    t0 = time.perf_counter()
    win.close()
    assert time.perf_counter() - t0 < 10.0
    assert not win.worker.isRunning() and not proc.is_alive()
    tr, run = trainer_from_run(run_path)
    assert tr.step_count > at                         # the child saved the run before it ended
    assert tr.cfg.tricks.label_smoothing.enabled


def test_latent_lab_renders_through_the_process(make_window, qtbot):
    cfg = tiny_config("shapes", **{"data.image_size": 16, "data.num_images": 256, "model.latent_dim": 8,
                                   "model.ngf": 8, "model.ndf": 8, "train.batch_size": 16})
    win = make_window(cfg, engine="process")
    win.docks["latent"].raise_()
    lab = win.latent_lab
    # the lab's grid arrives from the training process (a RenderLatents request)
    qtbot.waitUntil(lambda: lab.isVisible() and not lab.tiles[-1].pixmap().isNull(), timeout=SLOW_MS)
    win.worker.run_steps(2)
    qtbot.waitUntil(lambda: win.state.step == 2 and not win.state.running, timeout=SLOW_MS)
    z = np.zeros((3, 8), np.float32)
    step, tiles = win.worker.render_latents(z).result(timeout=SLOW_MS / 1000)
    assert step == 2 and tiles.shape == (3, 16, 16, 3) and tiles.dtype == np.uint8
    assert (tiles[0] == tiles[1]).all()              # the same latent draws the same image


def test_a_dead_training_process_is_reported_not_hung(make_window, qtbot):
    win = make_window(engine="process")
    messages = []
    win.worker.failed.connect(messages.append)
    os.kill(win.worker.process.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: any("ended unexpectedly" in m for m in messages), timeout=SLOW_MS)
    # the window stays usable: a fresh training process takes over (tests/app/test_dead_process.py)
    qtbot.waitUntil(lambda: win.worker.process is not None and win.worker.process.is_alive(), timeout=SLOW_MS)
    assert win.worker.isRunning() and len(live_processes()) == 1
