"""Bad input met in the window: a message in the window, and the run shown stays the run trained."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLineEdit

from gan_studio.core.runs import RunFolder
from gan_studio.core.training.run_loop import RunLoop
from gan_studio.core.training.trainer import Trainer
from studio_helpers import WAIT_MS, call, tiny_config, trainer_attr


def saved_run(path: Path) -> Path:
    """A run saved at step 12 (rows at 5, 10, 12)."""
    tr = Trainer(tiny_config(**{"train.device": "cpu"}))
    loop = RunLoop(tr, RunFolder.create(path, tr.cfg))
    for _ in range(12):
        loop.advance()
    loop.finish()
    return path


def test_hand_broken_log_lines_are_skipped_and_an_unreadable_log_leaves_the_run_shown(make_window, qtbot,
                                                                                       tmp_path):
    broken = saved_run(tmp_path / "broken")
    with open(broken / "events.jsonl", "a", encoding="utf-8") as fh:
        fh.write('[1, 2]\n"text"\n{"event": "set", "step": "x"}\n')
    with open(broken / "metrics.jsonl", "ab") as fh:
        fh.write(b'{"step": "x", "loss_d": 1}\n\xff\xfe not utf-8\n')
    unreadable = saved_run(tmp_path / "unreadable")
    (unreadable / "metrics.jsonl").unlink()
    (unreadable / "metrics.jsonl").mkdir()

    win = make_window()
    first = win.state.session.run_path
    messages = []
    win.error.connect(messages.append)
    win.worker.open_run(unreadable)
    qtbot.waitUntil(lambda: bool(messages), timeout=WAIT_MS)
    assert "metrics.jsonl" in messages[-1] and "Error" not in messages[-1]   # no exception's name
    assert "metrics.jsonl" in win.statusBar().currentMessage()
    # the engine kept the run the window shows (it trained the folder it could not show before)
    win.worker.run_steps(2)
    qtbot.waitUntil(lambda: win.state.step == 2 and not win.state.running, timeout=WAIT_MS)
    assert win.state.session.run_path == first
    assert call(win, trainer_attr("step_count")) == 2

    win.worker.open_run(broken)   # the lines that are no rows are skipped: it opens, and trains on
    qtbot.waitUntil(lambda: win.state.session.run_path == str(broken), timeout=WAIT_MS)
    assert win.state.step == 12 and list(win.state.metrics.data[:, 0]) == [5.0, 10.0, 12.0]
    win.worker.run_steps(3)
    qtbot.waitUntil(lambda: win.state.step == 15 and not win.state.running, timeout=WAIT_MS)
    assert len(messages) == 1
    assert [r["step"] for r in RunFolder(broken, read_only=True).read_metrics()] == [5, 10, 12, 15]


def test_a_bad_value_for_a_setting_applied_by_reset_says_why(make_window, qtbot):
    win = make_window()
    edit = win.findChild(QLineEdit, "setting.data.sigma.value")
    start = edit.text()
    edit.setText("abc")
    edit.editingFinished.emit()
    assert "data.sigma" in win.last_message and "abc" in win.last_message
    assert edit.text() == start and not win.tricks.pending
    edit.setText("0.05")
    edit.editingFinished.emit()
    assert win.tricks.pending == {"data.sigma": 0.05}
    edit.setText("-1")
    edit.editingFinished.emit()
    assert "data.sigma = -1" in win.last_message and "range" in win.last_message
    assert edit.text() == "0.05" and win.tricks.pending == {"data.sigma": 0.05}   # the value Reset applies


def pick_data_set(win, name: str) -> None:
    win.data_box.setCurrentText(name)            # as a user's pick does, before activated
    win.data_box.activated.emit(win.data_box.currentIndex())


def test_a_data_set_read_from_a_folder_asks_for_the_folder(make_window, qtbot, tmp_path, monkeypatch):
    """Picking 'folder' (or MNIST, CIFAR-10) in the Data box asks for its folder: cancelled, nothing
    changes and the window says what it needs; a folder without pictures is refused and the toolbar
    stays on the run trained; a folder of pictures starts a run on them."""
    from PIL import Image
    from PySide6.QtWidgets import QFileDialog
    asked, answers = [], []

    def dialog(parent, title, start, *a, **k):
        asked.append(title)
        return answers.pop(0)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", dialog)
    win = make_window()
    first = win.state.session.run_path
    messages = []
    win.error.connect(messages.append)
    assert "imported" not in [win.data_box.itemText(i) for i in range(win.data_box.count())]

    answers.append("")                           # cancelled
    pick_data_set(win, "folder")
    assert asked == ["folder: the folder that holds your pictures"]
    assert "needs the folder that holds your pictures" in win.last_message
    assert win.data_box.currentText() == "ring8" and win.state.session.run_path == first

    empty = tmp_path / "empty"
    empty.mkdir()
    answers.append(str(empty))                   # a folder with no pictures
    pick_data_set(win, "folder")
    qtbot.waitUntil(lambda: bool(messages), timeout=WAIT_MS)
    assert "no pictures in" in messages[-1]
    assert win.data_box.currentText() == "ring8" and win.state.session.run_path == first

    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for i in range(6):
        Image.new("RGB", (12, 10), (40 * i, 255 - 40 * i, 90)).save(pictures / f"p{i}.png")
    answers.append(str(pictures))
    pick_data_set(win, "folder")
    qtbot.waitUntil(lambda: win.state.session.run_path != first, timeout=3 * WAIT_MS)
    cfg = win.state.session.config
    assert cfg.data.name == "folder" and cfg.data.path == str(pictures)
    assert win.data_box.currentText() == "folder" and len(messages) == 1


class Payload:
    """Pickles as a call of os.system: loading the file with a plain unpickler would run it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def test_a_hostile_checkpoint_is_refused_in_words_that_fit_a_1280x720_window(make_window, qtbot, tmp_path):
    import torch
    run = saved_run(tmp_path / "a-run-folder-with-a-long-name-as-runs-have-20261203-063428")
    marker = tmp_path / "payload-ran"
    torch.save({"format": "gan-studio-checkpoint/1", "step": Payload(marker)}, run / "checkpoint.pt")
    win = make_window()
    win.resize(1280, 720)
    first = win.state.session.run_path
    messages = []
    win.error.connect(messages.append)
    win.worker.open_run(run)
    qtbot.waitUntil(lambda: bool(messages), timeout=WAIT_MS)
    assert "was refused" in messages[-1] and "could run code" in messages[-1]
    assert not marker.exists() and win.state.session.run_path == first
    label = win.message_label
    qtbot.waitUntil(lambda: label.text() == messages[-1], timeout=WAIT_MS)
    # laid out: the new text's height is asked at the label's width, then the status bar grows (a
    # few rounds of the event loop; a fixed 50 ms wait was too short on a loaded CI machine)
    qtbot.waitUntil(lambda: label.heightForWidth(label.width()) <= label.height(), timeout=WAIT_MS)
    assert label.width() > 400 and label.fontMetrics().horizontalAdvance(label.text()) > label.width()
    assert label.heightForWidth(label.width()) <= label.height()   # wrapped, not cut
    assert win.findChild(type(label), "status.message") is label


def test_a_one_line_status_message_takes_one_line_and_the_panels_above_keep_their_height(make_window, qtbot):
    """The wrapped status label was laid out at two lines' height for 'run folder: ...', so the whole
    window above it shrank while the message showed (at 1280x720 the live plots then scrolled)."""
    win = make_window()
    win.resize(1280, 720)
    bar, label = win.statusBar(), win.message_label
    bar.clearMessage()
    qtbot.waitUntil(lambda: label.text() == "", timeout=WAIT_MS)
    qtbot.wait(50)
    empty = bar.height()
    one_line = "run folder: /tmp/gan-studio-shot-4tsf6ae3/ring8-20261203-151305"
    bar.showMessage(one_line)
    qtbot.waitUntil(lambda: label.text() == one_line, timeout=WAIT_MS)
    qtbot.wait(50)   # laid out
    assert label.fontMetrics().horizontalAdvance(one_line) < label.width()
    assert bar.height() == empty and label.height() < 2 * label.fontMetrics().lineSpacing()
    long = "a checkpoint that could run code was refused: " + "every word of it matters " * 12
    bar.showMessage(long)
    qtbot.waitUntil(lambda: label.text() == long, timeout=WAIT_MS)
    # laid out again, taller, and wrapped, not cut (the layout settles over a few rounds of the loop)
    qtbot.waitUntil(lambda: bar.height() > empty
                    and label.heightForWidth(label.width()) <= label.height(), timeout=WAIT_MS)


def test_a_snapshot_claiming_too_many_pixels_is_skipped_by_the_grid_browser(tmp_path):
    """A snapshot PNG whose header claims billions of pixels (a decompression bomb) is skipped as an
    unreadable one is: it was a traceback in the window, and `gui --open RUN --screenshot` never ended."""
    import numpy as np
    from PIL import Image

    from gan_studio.app.grid_browser import PNG_NROW, PNG_PAD, disk_views, tiles_from_png
    from test_bad_input_more import png_claiming
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    grid = np.zeros((PNG_PAD + PNG_NROW * (8 + PNG_PAD),) * 2 + (3,), np.uint8)   # 8 px tiles
    Image.fromarray(grid).save(snapshots / "step_00000002.png")
    png_claiming(snapshots / "step_00000004.png", 30_000, 30_000)
    assert tiles_from_png(snapshots / "step_00000004.png") is None
    assert [v.step for v in disk_views(tmp_path, 10)] == [2]


def test_a_snapshot_claiming_100_million_pixels_is_skipped_without_pillows_warning(tmp_path):
    """Between Pillow's warning (89 million pixels) and its refusal (179 million) the grid browser printed
    Pillow's DecompressionBombWarning and went on to decode the picture; it is skipped as a larger one is."""
    import warnings

    from PIL import Image

    from gan_studio.app.grid_browser import tiles_from_png
    from test_bad_input_more import png_claiming
    png_claiming(tmp_path / "step_00000004.png", 10_000, 10_000)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert tiles_from_png(tmp_path / "step_00000004.png") is None
    assert not [w for w in record if issubclass(w.category, Image.DecompressionBombWarning)]
