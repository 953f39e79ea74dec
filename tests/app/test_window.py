"""The studio window driven as a user would: buttons, check boxes, sliders, clicks on the plot."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QAbstractButton, QAbstractSlider, QAbstractSpinBox, QCheckBox, QComboBox,
                               QFileDialog, QLineEdit, QPushButton, QScrollBar, QSpinBox)

from gan_studio.core.runs import trainer_from_run
from studio_helpers import WAIT_MS, call, lr_d, poison_generator, tiny_config, trainer_attr


def n_points(curve) -> int:
    return 0 if curve.xData is None else len(curve.xData)


def trigger(win, name: str) -> None:
    win.findChild(QAction, f"action.{name}").trigger()


def test_opens_on_ring8_vanilla_with_named_controls(make_window):
    win = make_window()
    s = win.state.session
    assert s.config.data.name == "ring8" and s.modes.shape == (8, 2)
    tricks = s.config.tricks
    assert not any(getattr(tricks, f).enabled for f in vars(tricks))   # vanilla: no trick is on
    assert win.findChild(QComboBox, "toolbar.preset").currentText() == "ring8"
    assert "CPU" in win.device_label.text() or "GPU" in win.device_label.text()
    # every control a user can operate has a stable name and an accessible name
    kinds = (QAbstractButton, QAbstractSlider, QComboBox, QAbstractSpinBox, QLineEdit)
    unnamed = [w for kind in kinds for w in win.findChildren(kind)
               if not w.objectName().startswith("qt_") and not isinstance(w, QScrollBar)   # part of a view
               and not (w.objectName() and w.accessibleName())]
    assert unnamed == [], [f"{type(w).__name__}:{w.objectName()}:{w.text() if hasattr(w, 'text') else ''}"
                           for w in unnamed]


def test_start_pause_and_step_once(make_window, qtbot):
    win = make_window()
    curve = win.plots.curves["losses.loss_d"][2]
    trigger(win, "start")
    qtbot.waitUntil(lambda: win.state.step >= 8 and n_points(curve) >= 5, timeout=WAIT_MS)
    assert win.findChild(QAction, "action.pause").isEnabled()
    assert not win.findChild(QAction, "action.start").isEnabled()
    trigger(win, "pause")
    qtbot.waitUntil(lambda: win.findChild(QAction, "action.start").isEnabled(), timeout=WAIT_MS)
    paused_at = call(win, trainer_attr("step_count"))
    assert call(win, trainer_attr("step_count")) == paused_at        # paused stays paused
    trigger(win, "step")
    qtbot.waitUntil(lambda: win.state.step == paused_at + 1, timeout=WAIT_MS)
    assert call(win, trainer_attr("step_count")) == paused_at + 1     # one G step, not more
    win.refresh()
    assert win.status_labels["step"].text() == f"step {paused_at + 1}"
    assert win.state.latest_view.step == paused_at + 1              # the 2-D view shows that step


def test_toggle_trick_mid_run_marks_every_plot_and_changes_trainer(make_window, qtbot):
    win = make_window()
    trigger(win, "start")
    qtbot.waitUntil(lambda: win.state.step >= 3, timeout=WAIT_MS)
    box = win.findChild(QCheckBox, "setting.tricks.label_smoothing.enabled")
    assert box.toolTip().startswith("Aim D at a real target")      # the trick's one-sentence tooltip
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "+label_smoothing" in win.plots.marker_labels(), timeout=WAIT_MS)
    assert call(win, trainer_attr("cfg.tricks.label_smoothing.enabled")) is True
    for plot in ("losses", "d_outputs", "grad_norms"):
        assert "+label_smoothing" in win.plots.marker_labels(plot)
    marker = win.plots.markers[-1][0]
    switched_at = [e for e in win.state.events if e.get("key") == "tricks.label_smoothing.enabled"][0]["step"]
    assert marker.value() == switched_at
    # a number: type a learning rate into the slider's value box
    edit = win.findChild(QLineEdit, "setting.train.lr_d.value")
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, "0.0002")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "lr_d=0.0002" in win.plots.marker_labels(), timeout=WAIT_MS)
    assert call(win, lr_d) == 2e-4
    trigger(win, "pause")
    qtbot.waitUntil(lambda: win.findChild(QAction, "action.start").isEnabled(), timeout=WAIT_MS)


def test_bad_value_is_refused_with_a_message_and_reverted(make_window, qtbot):
    win = make_window()
    edit = win.findChild(QLineEdit, "setting.train.lr_g.value")
    edit.setText("7")          # lr must be <= 1
    edit.editingFinished.emit()
    qtbot.waitUntil(lambda: "train.lr_g" in win.last_message, timeout=WAIT_MS)
    assert "out of range" in win.last_message
    assert edit.text() == "0.001"
    assert call(win, trainer_attr("cfg.train.lr_g")) == 1e-3


def test_setting_that_needs_new_model_offers_reset(make_window, qtbot):
    win = make_window()
    first_run = win.state.session.run_path
    latent = win.state.session.config.model.latent_dim
    assert latent != 4
    spin = win.findChild(QSpinBox, "setting.model.latent_dim")
    spin.setValue(4)
    spin.editingFinished.emit()
    assert win.tricks.reset_box.isVisible()
    assert "model.latent_dim = 4" in win.findChild(object, "tricks.pending").text()
    assert call(win, trainer_attr("cfg.model.latent_dim")) == latent  # not applied live
    qtbot.mouseClick(win.findChild(QPushButton, "tricks.reset"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.state.session.run_path != first_run, timeout=WAIT_MS)
    assert call(win, trainer_attr("G.latent_dim")) == 4
    assert not win.tricks.reset_box.isVisible()


def test_scrub_back_through_2d_history(make_window, qtbot):
    win = make_window()
    for i in range(1, 7):   # Step once records a view every time
        trigger(win, "step")
        qtbot.waitUntil(lambda: win.state.step == i, timeout=WAIT_MS)
    assert [v.step for v in win.state.views] == [0, 1, 2, 3, 4, 5, 6]
    win.refresh_all()
    slider = win.findChild(QAbstractSlider, "modeview.history")
    assert slider.maximum() == len(win.state.views) - 1
    assert win.modes.shown_view is win.state.views[-1]
    slider.setValue(0)
    first = win.state.views[0]
    assert win.modes.shown_view is first
    assert "history" in win.modes.step_label.text() and str(first.step) in win.modes.step_label.text()
    xs, ys = win.modes.fake.getData()
    np.testing.assert_allclose(np.c_[xs, ys], first.fake)
    # new steps do not move a pinned view; Live follows again
    win.worker.step_once()
    qtbot.waitUntil(lambda: win.state.step == 7, timeout=WAIT_MS)
    win.refresh_all()
    assert win.modes.shown_view is first
    qtbot.mouseClick(win.findChild(QPushButton, "modeview.live"), Qt.MouseButton.LeftButton)
    assert win.modes.shown_view.step == 7
    # the occupancy timeline and bar chart show the shown step's mode counts
    assert win.modes.timeline.image is not None and win.modes.timeline.image.shape[1] == 8


def test_draw_points_and_train_on_them(make_window, qtbot):
    win = make_window()
    qtbot.mouseClick(win.findChild(QPushButton, "modeview.draw"), Qt.MouseButton.LeftButton)
    vp = win.modes.plot.viewport()
    vb = win.modes.plot.plotItem.vb
    targets = [(-0.5, 0.5), (0.5, 0.5), (0.0, -0.6)]
    for x, y in targets:
        scene = vb.mapViewToScene(QPointF(x, y))
        pos = win.modes.plot.mapFromScene(scene)
        qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=QPoint(pos.x(), pos.y()))
    assert len(win.modes.drawn) == 3
    np.testing.assert_allclose(win.modes.drawn, targets, atol=0.05)
    assert win.findChild(object, "modeview.drawn_count").text() == "3 points"
    old = win.state.session.run_path
    qtbot.mouseClick(win.findChild(QPushButton, "modeview.train_points"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.state.session.run_path != old, timeout=WAIT_MS)
    s = win.state.session
    assert s.config.data.name == "points"
    np.testing.assert_allclose(s.modes, win.modes.drawn, atol=1e-4)
    win.worker.run_steps(3)
    qtbot.waitUntil(lambda: win.state.step == 3 and not win.state.running, timeout=WAIT_MS)
    assert call(win, trainer_attr("data.modes.shape"))[0] == 3
    win.refresh_all()
    assert win.modes.bars.opts["height"].shape == (3,)


def test_load_points_from_csv(make_window, qtbot, tmp_path, monkeypatch):
    win = make_window()
    csv = tmp_path / "pts.csv"
    csv.write_text("x,y\n0,0\n1,1\n2,0.5\n")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(csv), ""))
    qtbot.mouseClick(win.findChild(QPushButton, "modeview.load_csv"), Qt.MouseButton.LeftButton)
    assert win.modes.drawn == [[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]]


def test_open_saved_run_shows_its_history(make_window, qtbot, monkeypatch):
    win = make_window()
    win.worker.run_steps(12)
    qtbot.waitUntil(lambda: win.state.step == 12 and not win.state.running, timeout=WAIT_MS)
    trigger(win, "save")
    run_path = win.state.session.run_path
    qtbot.waitUntil(lambda: run_path in win.saved_runs, timeout=WAIT_MS)
    win.close()   # one writer per run folder: the first window lets go of it before the other trains it
    other = make_window()   # a second window, then Open... in it
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: run_path)
    trigger(other, "open")
    qtbot.waitUntil(lambda: other.state.session.run_path == run_path, timeout=WAIT_MS)
    assert other.state.step == 12
    assert call(other, trainer_attr("step_count")) == 12
    assert list(other.state.metrics.data[:, 0]) == [5.0, 10.0, 12.0]  # the logged rows came back
    other.refresh_all()
    assert n_points(other.plots.curves["losses.loss_d"][2]) == 3
    other.worker.step_once()
    qtbot.waitUntil(lambda: other.state.step == 13, timeout=WAIT_MS)


def test_close_during_training_saves_and_does_not_hang(make_window, qtbot):
    import time
    win = make_window()
    trigger(win, "start")
    qtbot.waitUntil(lambda: win.state.step >= 5, timeout=WAIT_MS)
    run_path = win.state.session.run_path
    t0 = time.perf_counter()
    win.close()
    closed_in = time.perf_counter() - t0
    assert not win.worker.isRunning()
    assert closed_in < 5.0
    tr, run = trainer_from_run(run_path)
    assert tr.step_count >= 5                      # the run was saved, not lost
    assert run.read_metrics()[-1]["step"] == tr.step_count


def test_nan_run_pauses_warns_and_stays_usable(make_window, qtbot):
    win = make_window()
    win.worker.run_steps(5)
    qtbot.waitUntil(lambda: win.state.step == 5 and not win.state.running, timeout=WAIT_MS)

    call(win, poison_generator)
    trigger(win, "start")
    qtbot.waitUntil(lambda: bool(win.state.diverged_message), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: win.findChild(QAction, "action.start").isEnabled(), timeout=WAIT_MS)  # paused
    qtbot.waitUntil(lambda: "NaN: rolled back" in win.plots.marker_labels(), timeout=WAIT_MS)
    assert win.plots.warning.isVisible() and "NaN" in win.plots.warning.text()
    assert win.state.step == 5 and win.state.metrics.data[-1, 0] <= 5   # rolled back to the last good step
    trigger(win, "step")
    qtbot.waitUntil(lambda: win.state.step == 6, timeout=WAIT_MS)
    assert np.isfinite(win.state.metrics.data[-1]).all()


def test_layout_and_speed_are_restored_next_start(make_window, qtbot):
    win = make_window()
    win.docks["plots"].setFloating(True)
    win.speed.setValue(40)
    win.close()
    again = make_window(speed=None)
    assert again.speed.value() == 40
    assert again.docks["plots"].isFloating()


def test_trick_that_changes_what_d_sees_keeps_the_view(make_window, qtbot):
    """Packing makes D judge pairs: the heatmap judges each point as a pack of copies of itself."""
    win = make_window()
    win.worker.set_setting("tricks.packing.enabled", True)
    trigger(win, "step")
    qtbot.waitUntil(lambda: win.state.step == 1, timeout=WAIT_MS)
    assert call(win, trainer_attr("cfg.tricks.packing.enabled")) is True
    view = win.state.latest_view
    assert view.step == 1 and view.heat is not None and view.heat.shape == (64, 64)
    assert view.arrows is not None and np.isfinite(view.arrows).all()
    assert "+packing" in (win.refresh_all() or win.plots.marker_labels())
