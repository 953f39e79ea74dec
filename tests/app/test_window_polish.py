"""What the window says once a run paused or was opened: the status bar's rate and time, the history
slider's handle, the changes in the words --set takes, a Mode hops plot of one evaluation; and the
hop marks of a real run agree with its Mode hops plot."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QStyle, QStyleOptionSlider

from gan_studio.app.event_list import EventList
from gan_studio.app.history import StudioState
from gan_studio.app.plots import PlotsPanel
from gan_studio.core.config import Config
from gan_studio.core.runs import RunFolder
from gan_studio.core.training.run_loop import RunLoop
from gan_studio.core.training.trainer import Trainer
from gan_studio.session.payloads import METRIC_COLUMNS, Report, RunInfo
from studio_helpers import WAIT_MS, tiny_config
from test_mode_hops_view import assert_marks_agree_with_mode_hops


def saved_run(path, steps=20, **overrides):
    tr = Trainer(tiny_config(**{"train.checkpoint_every": 10, "train.eval_every": 10, "train.device": "cpu",
                                **overrides}))
    loop = RunLoop(tr, RunFolder.create(path, tr.cfg))
    for _ in range(steps):
        loop.advance()
    loop.finish()
    return path


def handle_share(slider) -> float:
    """Where the slider's handle is drawn, from 0 (left end) to 1 (right end)."""
    opt = QStyleOptionSlider()
    slider.initStyleOption(opt)
    handle = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                           QStyle.SubControl.SC_SliderHandle, slider)
    return handle.left() / max(1, slider.width() - handle.width())


def test_the_status_bar_keeps_the_rate_and_time_once_paused(make_window, qtbot):
    """100 tiny steps train in well under the engine's half-second measuring stretch: the status bar
    said "0.0 steps/s" and "0:00 training" once they were done."""
    win = make_window()
    win.worker.run_steps(100)
    qtbot.waitUntil(lambda: win.state.step == 100 and not win.state.running, timeout=WAIT_MS)
    win.refresh_all()
    speed, elapsed = win.status_labels["speed"].text(), win.status_labels["elapsed"].text()
    assert speed.endswith(" steps/s") and float(speed.split()[0]) > 0, speed
    assert elapsed.endswith(" training") and elapsed != "0:00 training" and not elapsed.startswith("0.0 "), elapsed
    win.worker.step_once()                                  # one more step: still a rate, not 0
    qtbot.waitUntil(lambda: win.state.step == 101 and not win.state.running, timeout=WAIT_MS)
    win.refresh_all()
    assert float(win.status_labels["speed"].text().split()[0]) > 0


def test_an_opened_run_shows_its_step_at_the_right_of_the_slider_and_no_made_up_time(make_window, qtbot, tmp_path):
    path = saved_run(tmp_path / "r", steps=20)
    logged_rate = [r for r in RunFolder(path).read_metrics() if "modes" in r][-1]["steps_per_s"]
    win = make_window(open_path=path)
    qtbot.waitUntil(lambda: win.state.latest_view is not None, timeout=WAIT_MS)
    win.refresh_all()
    slider = win.modes.slider
    assert win.modes.step_label.text() == "step 20 (live)"
    assert handle_share(slider) > 0.95 and not slider.isEnabled()   # the one step shown: at the right end
    assert win.status_labels["elapsed"].text() == ""                 # nothing trained here; the log keeps no time
    assert win.status_labels["speed"].text() == f"{logged_rate:.1f} steps/s"   # the rate its log recorded
    win.worker.run_steps(3)
    qtbot.waitUntil(lambda: win.state.step == 23 and not win.state.running and len(win.state.views) > 1,
                    timeout=WAIT_MS)
    win.refresh_all()
    assert slider.isEnabled() and handle_share(slider) > 0.95 and slider.value() == slider.maximum()
    assert win.status_labels["elapsed"].text().endswith(" training")
    slider.setValue(0)                                               # scrubbed back: the handle goes with it
    assert "history" in win.modes.step_label.text() and handle_share(slider) < 0.05


def test_changes_read_on_and_off_as_the_tricks_panel_and_set_say(qtbot):
    st = StudioState()
    st.begin(RunInfo(config=Config(), run_path="", device_name="cpu", step=0, is_image=False, events=[
        {"event": "set", "step": 40, "key": "tricks.label_smoothing.enabled", "value": True, "old": False},
        {"event": "set", "step": 80, "key": "train.lr_d", "value": 0.0003, "old": 0.0002}]))
    events = EventList(st)
    qtbot.addWidget(events)
    events.refresh()
    assert [events.list.item(i).text() for i in range(events.list.count())] == [
        "step 40: tricks.label_smoothing.enabled = on (was off)", "step 80: train.lr_d = 0.0003 (was 0.0002)"]


def test_a_mode_hops_plot_of_one_evaluation_shows_its_point(qtbot):
    modes = np.zeros((8, 2), np.float32)
    row = {"step": 250, "modes": 4, "hq": 5.0, "rkl": 0.8, "mode_counts": [1, 0, 0, 0, 0, 1, 6, 4], "mode_hops": 0}
    st = StudioState()
    st.begin(RunInfo(config=Config(), run_path="", device_name="cpu", step=300, is_image=False, modes=modes,
                     eval_history=[row]))
    plots = PlotsPanel(st)
    qtbot.addWidget(plots)
    plots.resize(900, 700)
    plots.show()
    plots.refresh()
    for key in ("mode_hops.mode_hops", "modes.modes", "hq.hq"):
        curve = plots.curves[key][2]
        assert list(curve.getData()[0]) == [250]
        assert curve.opts["symbol"] == "o" and curve.scatter.isVisible() and len(curve.scatter.data) == 1, key
    rows = np.ones((1, len(METRIC_COLUMNS)))
    rows[0, 0] = 500
    st.add(Report(step=500, running=False, steps_per_s=1.0, elapsed_s=1.0, metrics=rows,
                  evals=[{**row, "step": 500, "mode_hops": 0}]))
    plots.refresh()
    curve = plots.curves["mode_hops.mode_hops"][2]
    assert list(curve.getData()[0]) == [250, 500] and curve.opts["symbol"] is None   # two points: a line
    # another branch drawn over it: its lone evaluation a dot too, its per-step curves no dots at all
    other = StudioState()
    other.begin(RunInfo(config=Config(), run_path="", device_name="cpu", step=0, is_image=False, modes=modes))
    many = np.ones((50, len(METRIC_COLUMNS)))
    many[:, 0] = np.arange(1, 51)
    other.add(Report(step=50, running=False, steps_per_s=1.0, elapsed_s=1.0, metrics=many,
                     evals=[{**row, "step": 50}]))
    plots.set_overlays([("branch 1", (40, 150, 70), other, 0.0)])
    plots.refresh()
    hops, loss = plots.overlay_curves[(0, "mode_hops.mode_hops")], plots.overlay_curves[(0, "losses.loss_d")]
    assert list(hops.getData()[0]) == [50] and hops.opts["symbol"] == "o"
    assert len(loss.getData()[0]) == 50 and loss.opts["symbol"] is None


def test_step_one_of_a_fresh_run_shows_its_losses_as_points_then_as_lines(qtbot):
    """A line through one point draws nothing: after its first step a fresh run's loss, D-output and
    gradient-norm plots were empty. One point is a dot; from the second point on it is a line again."""
    st = StudioState()
    st.begin(RunInfo(config=Config(), run_path="", device_name="cpu", step=0, is_image=False))
    plots = PlotsPanel(st)
    qtbot.addWidget(plots)
    plots.resize(900, 700)
    plots.show()
    first = np.full((1, len(METRIC_COLUMNS)), 0.7)
    first[0, 0] = 1
    st.add(Report(step=1, running=True, steps_per_s=1.0, elapsed_s=1.0, metrics=first))
    plots.refresh()
    per_step = [key for key, (source, _, _) in plots.curves.items()
                if source == "metrics" and plots.is_shown(key.split(".")[0])]
    assert {key.split(".")[0] for key in per_step} >= {"losses", "d_outputs", "grad_norms"}
    for key in per_step:
        curve = plots.curves[key][2]
        assert list(curve.getData()[0]) == [1], key
        assert curve.opts["symbol"] == "o" and curve.scatter.isVisible() and len(curve.scatter.data) == 1, key
    for smoothing in (0, 60):           # with and without smoothing: the dot is the point itself
        plots.smoothing.setValue(smoothing)
        plots.refresh()
        assert plots.curves[per_step[0]][2].opts["symbol"] == "o"
    more = np.full((2, len(METRIC_COLUMNS)), 0.6)
    more[:, 0] = [2, 3]
    st.add(Report(step=3, running=True, steps_per_s=1.0, elapsed_s=1.0, metrics=more))
    plots.refresh()
    for key in per_step:
        curve = plots.curves[key][2]
        assert list(curve.getData()[0]) == [1, 2, 3] and curve.opts["symbol"] is None, key


def test_a_real_runs_hop_marks_agree_with_its_mode_hops_plot(make_window, qtbot):
    """Evaluated every 5 steps for 60 steps: the Mode hops plot has a point per logged evaluation,
    and the timeline's marks in the newest window number its last value."""
    win = make_window(tiny_config(**{"train.eval_every": 5}))
    win.worker.run_steps(60)
    qtbot.waitUntil(lambda: win.state.step == 60 and not win.state.running, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: win.state.logged.n == 12, timeout=WAIT_MS)
    win.refresh_all()
    x, y = win.plots.curves["mode_hops.mode_hops"][2].getData()
    assert list(x) == list(range(5, 61, 5))
    np.testing.assert_array_equal(y, win.state.logged.data[:, 1])
    assert_marks_agree_with_mode_hops(win.modes)
    trig = win.findChild(QAction, "action.start")
    assert trig.isEnabled()
