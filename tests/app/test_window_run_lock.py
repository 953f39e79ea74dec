"""The window opening a run to look at it changes nothing; training it takes the one-writer lock
(issue 16, items 4 and 6)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from PySide6.QtGui import QAction

from gan_studio.core.runs import RunFolder
from gan_studio.core.training.run_loop import RunLoop
from gan_studio.core.training.trainer import Trainer
from studio_helpers import WAIT_MS, tiny_config


def run_past_its_checkpoint(path: Path) -> Path:
    """A run as it looks while another process trains it: checkpoint at 10, rows up to 15."""
    tr = Trainer(tiny_config(**{"train.checkpoint_every": 10, "train.device": "cpu"}))
    loop = RunLoop(tr, RunFolder.create(path, tr.cfg))
    for _ in range(15):
        loop.advance()
    return path


def files(path: Path) -> dict:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def steps(path: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (path / "metrics.jsonl").read_text().splitlines() if line]


def test_opening_a_run_to_look_leaves_it_byte_identical(make_window, qtbot, tmp_path):
    path = run_past_its_checkpoint(tmp_path / "r")
    before = files(path)
    win = make_window(open_path=path)
    assert win.state.session.step == 10
    assert int(win.state.metrics.data[:, 0].max()) == 10    # the run as of its checkpoint
    win.tricks.setting_changed.emit("train.lr_d", 3e-4)      # changing a setting is not training it
    qtbot.waitUntil(lambda: any(e.get("key") == "train.lr_d" for e in win.state.events), timeout=WAIT_MS)
    win.close()
    assert files(path) == before and not (path / ".lock").exists()


def test_training_an_opened_run_takes_the_lock_or_names_its_holder(make_window, qtbot, tmp_path):
    path = run_past_its_checkpoint(tmp_path / "r")
    holder = RunFolder(path).lock("gan-studio train")
    before = files(path)
    win = make_window(open_path=path)
    messages = []
    win.error.connect(messages.append)
    win.findChild(QAction, "action.start").trigger()
    qtbot.waitUntil(lambda: bool(messages), timeout=WAIT_MS)
    assert f"is being trained by pid {os.getpid()} (gan-studio train)" in messages[-1]
    assert not win.state.running and win.state.step == 10
    # the window says so where the user looks, and stays usable: Start can be pressed again
    assert f"is being trained by pid {os.getpid()}" in win.statusBar().currentMessage()
    assert win.findChild(QAction, "action.start").isEnabled()
    assert not win.findChild(QAction, "action.pause").isEnabled()
    assert {k: v for k, v in files(path).items() if k != ".lock"} == \
        {k: v for k, v in before.items() if k != ".lock"}
    holder.unlock()                                          # the other writer stopped
    win.tricks.setting_changed.emit("train.lr_d", 3e-4)
    win.worker.run_steps(10)
    qtbot.waitUntil(lambda: win.state.step == 20 and not win.state.running, timeout=WAIT_MS)
    try:
        RunFolder(path).lock()
        raise AssertionError("the window trains this run: it must hold its lock")
    except ValueError as e:
        assert "gan-studio gui" in str(e)
    win.close()
    # cut back to the checkpoint, then trained on; one row a step (the evaluation RunLoop.finish
    # makes when the run closes off its evaluation schedule goes into step 20's logged row)
    assert steps(path) == [5, 10, 15, 20]
    events = [json.loads(line) for line in (path / "events.jsonl").read_text().splitlines() if line]
    assert any(e.get("key") == "train.lr_d" and e.get("step") == 10 for e in events)
    RunFolder(path).lock().unlock()                          # released when the window closed
