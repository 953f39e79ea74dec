"""The live plots as a reader sees them: smoothing, a y-range that one spike does not decide, the x axis
ending at the last step, legends beside the data, change flags that stack; the changes list scrubs
the 2-D view. Most tests feed the panel a made-up run (no training): exact numbers, no waiting."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QListWidget

from gan_studio.app.history import StudioState
from gan_studio.app.plot_math import ema_debiased, robust_range
from gan_studio.app.plots import PlotsPanel
from gan_studio.core.config import Config
from gan_studio.session.payloads import METRIC_COLUMNS, Report, RunInfo
from studio_helpers import WAIT_MS

COL = {name: i for i, name in enumerate(METRIC_COLUMNS)}


def tensorboard_ema(values, weight):
    """TensorBoard's smoothing, as its scalar dashboard writes it (line-chart.ts), point by point."""
    last, count, out = 0.0, 0, []
    for v in values:
        if not np.isfinite(v):
            out.append(v)
            continue
        last = last * weight + (1 - weight) * v
        count += 1
        out.append(last / (1 - weight ** count))
    return np.array(out)


def made_up_run(n=300, seed=0, spike_at=None, spike=236.0, events=(), modes=None):
    """A StudioState holding n steps of noisy metrics near 1 (a spike where asked) and the events."""
    rng = np.random.default_rng(seed)
    rows = np.empty((n, len(METRIC_COLUMNS)))
    rows[:, 0] = np.arange(1, n + 1)
    rows[:, 1:] = 1.0 + 0.1 * rng.standard_normal((n, len(METRIC_COLUMNS) - 1))
    if spike_at is not None:
        rows[spike_at, COL["loss_d"]] = spike
    state = StudioState()
    state.begin(RunInfo(config=Config(), run_path="", device_name="cpu", step=0, is_image=False, modes=modes))
    state.add(Report(step=n, running=False, steps_per_s=0.0, elapsed_s=0.0, metrics=rows, events=list(events)))
    return state, rows


@pytest.fixture
def panel(qtbot):
    def make(state, width=900, height=700):
        p = PlotsPanel(state)
        qtbot.addWidget(p)
        p.resize(width, height)
        p.show()
        qtbot.waitExposed(p)
        p.refresh()
        p.grab()             # paint once: flags and text items learn their place on screen
        return p
    return make


def test_smoothing_is_tensorboards_debiased_ema_with_the_raw_curve_faint_behind(panel):
    state, rows = made_up_run()
    p = panel(state)
    p.smoothing.setValue(90)                       # weight 0.9
    assert p.smoothing_value.text() == "0.90"
    smooth = p.curves["losses.loss_d"][2]
    raw = p.raw_curves["losses.loss_d"]
    np.testing.assert_allclose(smooth.yData, tensorboard_ema(rows[:, COL["loss_d"]], 0.9), rtol=1e-12)
    np.testing.assert_array_equal(raw.yData, rows[:, COL["loss_d"]])
    assert raw.opts["pen"].color().alpha() < 100 <= smooth.opts["pen"].color().alpha()
    # the first values are not pulled towards 0 (the de-biasing): the curve starts at the data
    assert abs(smooth.yData[0] - rows[0, COL["loss_d"]]) < 1e-12
    p.smoothing.setValue(0)                         # no smoothing: the data itself, nothing behind it
    np.testing.assert_array_equal(smooth.yData, rows[:, COL["loss_d"]])
    assert not raw.isVisible()


def test_smoothing_skips_nan_and_continues_across_reports():
    values = np.r_[np.linspace(0, 3, 50), np.nan, np.linspace(3, -1, 70)]
    np.testing.assert_allclose(ema_debiased(values, 0.6), tensorboard_ema(values, 0.6), rtol=1e-12, equal_nan=True)
    assert np.isnan(ema_debiased(values, 0.6)[50])


def test_a_spike_does_not_set_the_y_range_and_show_outliers_does(panel):
    state, rows = made_up_run(spike_at=150)
    p = panel(state)
    lo, hi = p.plots["losses"].viewRange()[1]
    assert hi < 2.5 and lo > 0                       # the values near 1 fill the plot
    spikes = p.spikes["losses"]
    assert p.spike_count("losses") == 1              # the spike is marked, at the top edge
    (sx, sy), = zip(*spikes.getData())
    assert sx == 151 and lo < sy <= hi and spikes.data["data"][0] == 236.0
    p.show_all.setChecked(True)
    lo, hi = p.plots["losses"].viewRange()[1]
    assert hi >= 236 and p.spike_count("losses") == 0
    p.show_all.setChecked(False)
    assert p.plots["losses"].viewRange()[1][1] < 2.5


def test_robust_range_of_a_log_axis_ignores_a_near_zero_norm():
    norms = np.r_[np.full(200, 1.0) * np.exp(np.random.default_rng(1).normal(0, 0.3, 200)), 1e-20]
    lo, hi = robust_range(norms, log=True)
    assert lo > -2 and hi < 1        # log10 units: not 1e-20 to 1e5


def test_x_axis_ends_at_the_last_step(panel):
    state, _ = made_up_run(n=1234)
    p = panel(state)
    for name in ("losses", "d_outputs", "grad_norms"):
        x0, x1 = p.plots[name].viewRange()[0]
        assert 1234 <= x1 <= 1234 * 1.1 and x0 <= 1      # at most 10 % past it (was 25 % to 50 %)


def test_legends_sit_beside_the_data_not_on_it(panel):
    state, _ = made_up_run()
    p = panel(state)
    for name in ("losses", "d_outputs", "grad_norms"):
        legend, plot = p.legends[name], p.plots[name]
        assert "D loss" in p.legends["losses"].text and "|grad G|" in p.legends["grad_norms"].text
        below = legend.sceneBoundingRect()
        assert below.top() >= plot.sceneBoundingRect().bottom() - 1    # beneath the plot, not inside it
        assert not plot.legend                                          # no legend item over the curves


def test_near_changes_stack_their_flags_without_overlap_and_tell_all_in_a_tooltip(panel):
    events = [{"step": s, "event": "set", "key": key, "value": v, "old": None} for s, key, v in (
        (100, "tricks.packing.enabled", True), (101, "loss", "non-saturating"),
        (103, "train.lr_d", 0.0003), (104, "tricks.label_smoothing.enabled", True), (299, "train.lr_g", 0.002))]
    state, _ = made_up_run(events=events)
    p = panel(state, width=700)
    for name in ("losses", "d_outputs", "grad_norms"):
        flags = [f for _, f in p.flags[name]]
        assert [f.textItem.toPlainText() for f in flags] == ["+packing", "loss=non-saturating", "lr_d=0.0003",
                                                              "+label_smoothing", "lr_g=0.002"]
        rects = [f.sceneBoundingRect() for f in flags if f.isVisible()]
        assert len(rects) == 5
        for a, b in itertools.combinations(rects, 2):
            assert not a.intersects(b), (a, b)
        view = p.plots[name].vb.sceneBoundingRect()
        for r in rects:                                  # none is cut at the plot's edges
            assert view.left() - 1 <= r.left() and r.right() <= view.right() + 1 and r.top() >= view.top() - 1
        assert flags[1].toolTip() == "step 101: loss = non-saturating (was None)"


def test_a_very_long_change_is_cut_in_its_flags_and_wraps_in_the_changes_list(panel, qtbot):
    """A live change whose value is 20,000 characters drew a flag 20,000 characters wide across every
    plot: its flag says the start of it with an ellipsis, its tooltip a few wrapped lines and where
    the rest is, the Changes list all of it; the change beside it keeps its own flag."""
    from gan_studio.app.event_list import EventList
    from gan_studio.app.plots import FLAG_MAX_CHARS, TIP_LINE_CHARS, TIP_LINES
    from gan_studio.core.events import event_text
    long_value = "abcdefghij" * 2000
    events = [{"step": 100, "event": "set", "key": "data.path", "value": long_value, "old": ""},
              {"step": 200, "event": "set", "key": "tricks.packing.enabled", "value": True, "old": False}]
    state, _ = made_up_run(events=events)
    p = panel(state, width=700)
    for name in ("losses", "d_outputs", "grad_norms"):
        (_, flag), (_, other) = p.flags[name]
        text = flag.textItem.toPlainText()
        assert text.startswith("path=abcdefghij") and text.endswith("\u2026") and len(text) == FLAG_MAX_CHARS
        view = p.plots[name].vb.sceneBoundingRect()
        rect = flag.sceneBoundingRect()
        assert flag.isVisible() and rect.width() < 0.7 * view.width()   # the whole value: 100,000 px
        assert view.left() - 1 <= rect.left() and rect.right() <= view.right() + 1
        assert other.isVisible() and other.textItem.toPlainText() == "+packing"
        assert not rect.intersects(other.sceneBoundingRect())
        lines = flag.toolTip().splitlines()
        assert len(lines) == TIP_LINES + 1 and max(len(line) for line in lines[:-1]) <= TIP_LINE_CHARS
        assert lines[0].startswith("step 100: data.path = abcdefghij") and "20,0" in lines[-1]
    # the Changes list: the row wraps at the list's width (it was 125,000 px wide, the list scrolled
    # sideways and cut the row beside it), says the start and the length; Ctrl+C copies it whole
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtTest import QTest
    changes = EventList(state)
    qtbot.addWidget(changes)
    changes.resize(286, 300)
    changes.show()
    changes.refresh()
    rows = [changes.list.visualItemRect(changes.list.item(i)) for i in range(2)]
    assert all(r.width() <= changes.list.viewport().width() for r in rows)
    assert changes.list.horizontalScrollBar().maximum() == 0
    shown = changes.list.item(0).text().replace("\u200b", "")
    assert shown.startswith("step 100: data.path = abcdefghij") and "20,0" in shown and len(shown) < 800
    assert changes.full_text(0) == event_text(events[0])
    changes.list.setCurrentRow(0)
    QTest.keySequence(changes.list, QKeySequence(QKeySequence.StandardKey.Copy))
    assert QGuiApplication.clipboard().text() == event_text(events[0])


def test_the_grid_reflows_to_the_panels_width(panel, qtbot):
    state, _ = made_up_run(modes=np.zeros((8, 2)))   # a mixture: the four coverage plots show too
    p = panel(state, width=1000)
    wide = p.ncols
    assert wide == p.columns_for(p.scroll.viewport().width(), 7)
    p.resize(300, 700)
    qtbot.waitUntil(lambda: p.ncols == 1)
    assert wide >= 3
    shown = [n for n in p.plots if p.is_shown(n)]
    assert set(shown) == {"losses", "d_outputs", "grad_norms", "modes", "hq", "rkl", "mode_hops"}


def test_step_numbers_are_under_the_bottom_row_only_whatever_the_columns(panel, qtbot):
    """The last plot takes the rest of its row, so the plots of the row above it all have a plot
    below: none of them shows step numbers, and every plot of the bottom row does (ring8 at the
    default window size had 'Modes captured' bare beside HQ and reverse KL with numbers)."""
    state, _ = made_up_run(modes=np.zeros((8, 2)))   # 7 plots: two or three columns leave a short last row
    p = panel(state, width=1000)
    for width in (1000, 640, 300):
        p.resize(width, 700)
        qtbot.waitUntil(lambda: p.ncols == p.columns_for(p.scroll.viewport().width(), 7))
        names = [n for n in p.plots if p.is_shown(n) and n != "family"]
        last_row = (len(names) - 1) // p.ncols
        shown = {n: p.plots[n].getAxis("bottom").style["showValues"] for n in names}
        assert shown == {n: i // p.ncols == last_row for i, n in enumerate(names)}, (p.ncols, shown)


def test_an_empty_family_plot_says_when_its_numbers_come(panel, qtbot):
    """cgan-digits measures every 500 steps: its plot stood empty and silent until then."""
    cfg = Config()
    cfg.set("train.eval_every", 500)
    state = StudioState()
    state.begin(RunInfo(config=cfg, run_path="", device_name="cpu", step=0, is_image=True,
                        family_plot=("Conditional accuracy", (("cond_accuracy", "classified as its label"),))))
    rows = np.ones((100, len(METRIC_COLUMNS)))
    rows[:, 0] = np.arange(1, 101)
    state.add(Report(step=100, running=True, steps_per_s=0.0, elapsed_s=1.0, metrics=rows, events=[]))
    p = panel(state)
    assert p.is_shown("family")
    note = p.family_note
    assert note.isVisible() and note.toPlainText() == "measured every 500 steps: none yet"
    (x0, x1), (y0, y1) = p.plots["family"].viewRange()
    assert x0 < note.pos().x() < x1 and y0 < note.pos().y() < y1        # in the middle of the plot
    rows = np.ones((400, len(METRIC_COLUMNS)))
    rows[:, 0] = np.arange(101, 501)
    state.add(Report(step=500, running=True, steps_per_s=0.0, elapsed_s=2.0, metrics=rows, events=[],
                     evals=[{"step": 500, "cond_accuracy": 0.9}]))
    p.refresh()
    assert not note.isVisible()


def test_a_family_plot_of_shares_keeps_its_axis_within_0_and_1(panel):
    """ssl-digits' first test accuracy (0.9, one point) was drawn on an axis from -0.1 to 1.9."""
    state = StudioState()
    state.begin(RunInfo(config=Config(), run_path="", device_name="cpu", step=0, is_image=True,
                        family_plot=("Test accuracy", (("test_accuracy", "K+1 D (semi-supervised)"),))))
    rows = np.ones((100, len(METRIC_COLUMNS)))
    rows[:, 0] = np.arange(1, 101)
    state.add(Report(step=100, running=True, steps_per_s=0.0, elapsed_s=1.0, metrics=rows, events=[],
                     evals=[{"step": 100, "test_accuracy": 0.9}]))
    p = panel(state)
    lo, hi = p.plots["family"].viewRange()[1]
    assert -0.06 <= lo < 0.9 < hi <= 1.06, (lo, hi)
    assert p.spike_count("family") == 0


@pytest.mark.parametrize("width", [900, 480])
def test_the_newest_dot_of_the_family_plot_is_drawn_whole_at_the_right_edge(panel, width):
    """ssl-digits evaluates at round steps (500, 1000, ...) and its run stops at one: the axis ended at
    that very step and its newest dot was cut in half by the plot's right edge. It keeps room now,
    on the family plot and on every plot of evaluations."""
    from PySide6.QtCore import QPointF
    state = StudioState()
    state.begin(RunInfo(config=Config(), run_path="", device_name="cpu", step=0, is_image=True,
                        family_plot=("Test accuracy", (("test_accuracy", "K+1 D (semi-supervised)"),))))
    rows = np.ones((500, len(METRIC_COLUMNS)))
    rows[:, 0] = np.arange(1, 501)
    state.add(Report(step=500, running=False, steps_per_s=0.0, elapsed_s=1.0, metrics=rows, events=[],
                     evals=[{"step": s, "test_accuracy": 0.5 + s / 2000} for s in (100, 200, 300, 400, 500)]))
    p = panel(state, width=width)
    curve = p.family_curves["test_accuracy"]
    assert curve.xData[-1] == 500 and curve.opts["symbol"] == "o"
    for name in ("family", "losses"):
        vb = p.plots[name].vb
        x, y = (500, 0.75) if name == "family" else (500, 1.0)
        centre = vb.mapViewToScene(QPointF(x, y))
        radius = (curve.opts["symbolSize"] if name == "family" else 0) / 2 + 1
        assert centre.x() + radius <= vb.sceneBoundingRect().right(), name
    x1 = p.plots["family"].viewRange()[0][1]
    assert 500 < x1 <= 500 * 1.1                          # room for the dot, no more than a round step


def test_hq_cap_and_reverse_kl_floor_are_drawn_and_mode_hops_plotted(panel):
    """What a perfect generator scores, as dashed lines: HQ 98.9 %, reverse KL (K - 1) / (2N)."""
    state, _ = made_up_run(modes=np.zeros((8, 2)))
    p = panel(state, width=1000)
    assert p.references["hq"].value() == pytest.approx(98.89, abs=0.01)
    assert p.references["rkl"].value() == pytest.approx(7 / 5000)
    assert p.is_shown("mode_hops")
    # a label hung from a line outside the view was cut in half at the plot's edge: it hides
    hq = p.plots["hq"]
    hq.setYRange(0, 90, padding=0)
    assert not p.references["hq"].label.isVisible()
    hq.setYRange(0, 105, padding=0)
    assert p.references["hq"].label.isVisible()


def test_reference_labels_are_drawn_whole_inside_their_plots(panel):
    """Reverse KL's floor lies at the bottom of its plot: its label 'floor 0.0014', hung under the
    line, was cut by the plot's bottom edge to a dash. A line in the lower half of the view has its
    label over it, one in the upper half (HQ's cap) under it."""
    state, _ = made_up_run(modes=np.zeros((8, 2)))
    for i, rkl in enumerate((1.6, 1.4, 0.5, 1.0, 0.25, 0.6, 0.1, 0.4, 0.15)):
        state._add_eval(30 * (i + 1), {"modes": 8, "modes_strict": 8, "hq": 95.0 + i / 2, "rkl": rkl})
    state.version += 1
    p = panel(state, width=1000)
    for name in ("rkl", "hq"):
        line = p.references[name]
        assert line.label.isVisible(), name
        label, view = line.label.sceneBoundingRect(), p.plots[name].vb.sceneBoundingRect()
        assert view.contains(label), (name, label, view)


def test_clicking_a_change_in_the_list_scrubs_the_2d_view_to_its_step(make_window, qtbot):
    win = make_window()
    win.worker.run_steps(4)
    qtbot.waitUntil(lambda: win.state.step == 4 and not win.state.running, timeout=WAIT_MS)
    win.worker.set_setting("tricks.packing.enabled", True)
    win.worker.run_steps(4)
    qtbot.waitUntil(lambda: win.state.step == 8 and not win.state.running, timeout=WAIT_MS)
    win.refresh_all()
    events = win.findChild(QListWidget, "events.list")
    assert events.isVisible() and events.count() == 1
    item = events.item(0)
    assert item.text().startswith("step 4: tricks.packing.enabled = on (was off)")
    qtbot.mouseClick(events.viewport(), Qt.MouseButton.LeftButton, pos=events.visualItemRect(item).center())
    assert win.modes.shown_view.step == 4 and win.modes.pinned_step == 4
    assert win.modes.slider.value() == [v.step for v in win.state.views].index(4)
    assert "history" in win.modes.step_label.text()


def _labelled_tick_gap(axis, height):
    """The smallest distance in pixels between two labelled ticks of an axis at its current range."""
    lo, hi = axis.range
    labelled = set()
    for spacing, values in axis.tickValues(lo, hi, height):
        labelled |= {v for v, text in zip(values, axis.tickStrings(values, 1.0, spacing)) if text}
    ys = sorted((v - lo) / (hi - lo) * height for v in labelled)
    return min(np.diff(ys)), len(ys)


def test_gradient_norm_axis_labels_do_not_crowd_over_two_decades(panel):
    """The window at its default size showed |grad D| between 4 and 300 with 2·10¹ ... 9·10¹ labelled
    a few pixels apart, drawn over each other. Only 1, 2 and 5 times a power of ten carry a label now."""
    import pyqtgraph as pg
    _, rows = made_up_run(n=400)
    rng = np.random.default_rng(3)
    rows[:, COL["grad_norm_d"]] = np.exp(rng.uniform(np.log(4), np.log(300), len(rows)))
    rows[:, COL["grad_norm_g"]] = np.exp(rng.uniform(np.log(6), np.log(60), len(rows)))
    state = StudioState()
    state.begin(RunInfo(config=Config(), run_path="", device_name="cpu", step=0, is_image=False, modes=None))
    state.add(Report(step=400, running=False, steps_per_s=0.0, elapsed_s=0.0, metrics=rows, events=[]))
    p = panel(state, width=700, height=900)
    axis = p.plots["grad_norms"].getAxis("left")
    lo, hi = axis.range
    assert hi - lo > 1.2                                   # the axis spans the norms' two decades
    height = p.plots["grad_norms"].vb.height()
    gap, n = _labelled_tick_gap(axis, height)
    assert n >= 3 and gap >= 14                            # at least a line of text apart
    texts = axis.tickStrings([1.0, np.log10(20), np.log10(30), np.log10(50)], 1.0, 1.0)
    assert texts[0] and texts[1] and not texts[2] and texts[3]   # 10¹, 2·10¹, (3·10¹ blank), 5·10¹
    plain = pg.AxisItem("left")
    plain.setLogMode(False, True)
    plain.setRange(lo, hi)
    assert _labelled_tick_gap(plain, height)[0] < gap      # what pyqtgraph alone labels: crowded


def test_a_flat_series_gets_a_readable_range_not_a_hair_around_its_value():
    for values, log, span in ((np.zeros(1), False, 2.0), (np.full(50, 2.079), False, 2.0),
                              (np.full(3, 98.0), False, 19.6), (np.full(5, 3.0), True, 1.0)):
        lo, hi = robust_range(values, log=log)
        v = np.log10(values[0]) if log else values[0]
        assert lo < v < hi and hi - lo == pytest.approx(span)   # was +-5e-8: axis labels like '5e-08'


def test_a_fresh_run_s_first_evaluation_is_drawn_on_readable_axes(panel):
    """Step 0 of a 2-D run: 0 modes, 0 % HQ, no reverse KL yet. The modes plot shows 0 to 1 at least
    (a count), HQ at least a unit either side: the axes read 0, 1, ... not 5e-08."""
    state = StudioState()
    state.begin(RunInfo(config=Config(), run_path="", device_name="cpu", step=0, is_image=False,
                        modes=np.zeros((8, 2))))
    state._add_eval(0, {"modes": 0, "modes_strict": 0, "hq": 0.0, "rkl": None})   # the first frame's
    state.version += 1
    p = panel(state)
    assert p._plot_data("modes") and p._plot_data("hq")
    lo, hi = p.plots["modes"].viewRange()[1]
    assert lo < 0 and hi >= 1
    lo, hi = p.plots["hq"].viewRange()[1]
    assert lo <= -1 and hi >= 1


def image_run_at_step_100() -> StudioState:
    """The window's state of an image run that logged 100 steps and no evaluation yet."""
    state = StudioState()
    state.begin(RunInfo(config=Config(), run_path="", device_name="cpu", step=0, is_image=True,
                        image_metrics=True))
    rows = np.ones((100, len(METRIC_COLUMNS)))
    rows[:, 0] = np.arange(1, 101)
    state.add(Report(step=100, running=True, steps_per_s=0.0, elapsed_s=1.0, metrics=rows, events=[]))
    return state


def test_an_image_run_plots_its_logged_classifier_metrics_and_says_when_they_come(panel):
    """digits and shapes logged fd_classifier at each evaluation (metrics.jsonl, `gan-studio metrics`,
    Compare branches) while the window's plots showed no image metric: only losses, D outputs and
    gradient norms. The FD plot gets the run loop's rows, live and from an opened run."""
    state = image_run_at_step_100()
    p = panel(state)
    assert p.is_shown("fd") and not p.is_shown("modes")
    every = Config().train.eval_every   # empty: when its numbers come, in the middle of the plot
    assert p.notes["fd"].isVisible() and p.notes["fd"].toPlainText() == f"measured every {every} steps:\nnone yet"
    assert f"every {every} steps" in p.legends["fd"].text
    rows = np.ones((400, len(METRIC_COLUMNS)))
    rows[:, 0] = np.arange(101, 501)
    logged = [{"step": 250, "classes_covered": 7, "classes_covered_strict": 5, "fd_classifier": 80.5},
              {"step": 500, "classes_covered": 10, "classes_covered_strict": 9, "fd_classifier": 66.25}]
    state.add(Report(step=500, running=True, steps_per_s=0.0, elapsed_s=2.0, metrics=rows, events=[],
                     evals=logged))
    p.refresh()
    fd = p.curves["fd.fd_classifier"][2]
    assert list(fd.xData) == [250, 500] and list(fd.yData) == [80.5, 66.25]
    assert not p.notes["fd"].isVisible()
    lo, hi = p.plots["fd"].viewRange()[1]
    assert lo <= 66.25 and 80.5 <= hi
    # a run opened from its folder: the same rows, from its log
    opened = StudioState()
    opened.begin(RunInfo(config=Config(), run_path="", device_name="cpu", step=500, is_image=True,
                         image_metrics=True, eval_history=logged))
    q = panel(opened)
    assert list(q.curves["fd.fd_classifier"][2].yData) == [80.5, 66.25]


def test_eval_every_changed_on_a_paused_run_is_said_by_the_image_plot_at_once(panel):
    """train.eval_every set on a paused run: the FD plot's legend and its empty note went on saying the
    old interval until the run trained on (they were written only with new rows)."""
    state = image_run_at_step_100()
    p = panel(state)
    old = Config().train.eval_every
    assert f"every {old} steps" in p.legends["fd"].text
    # changed while the run is paused: the change comes alone, with no new rows to redraw the curves
    change = {"event": "set", "step": 100, "key": "train.eval_every", "value": 2000, "old": old}
    state.add(Report(step=100, running=False, steps_per_s=0.0, elapsed_s=1.0,
                     metrics=np.empty((0, len(METRIC_COLUMNS))), events=[change]))
    p.refresh()
    assert "every 2,000 steps" in p.legends["fd"].text and f"every {old} steps" not in p.legends["fd"].text
    assert p.notes["fd"].toPlainText() == "measured every 2,000 steps:\nnone yet"


def image_run_with_fd(fds: dict[int, float], step: int) -> StudioState:
    """An image run trained to ``step`` whose evaluations measured FD ``fds`` ({step: fd})."""
    state = image_run_at_step_100()
    rows = np.ones((step - 100, len(METRIC_COLUMNS)))
    rows[:, 0] = np.arange(101, step + 1)
    logged = [{"step": s, "classes_covered": 10, "classes_covered_strict": 9, "fd_classifier": fd}
              for s, fd in fds.items()]
    state.add(Report(step=step, running=False, steps_per_s=0.0, elapsed_s=2.0, metrics=rows, events=[],
                     evals=logged))
    return state


@pytest.mark.parametrize("width", [900, 480])
def test_the_fd_plot_marks_each_evaluation_with_a_dot_and_draws_the_newest_whole(panel, width):
    """The FD plot (every 500 steps: a handful of points) drew a bare line through them, where the
    family's plot marks each evaluation with a dot: where and how often FD was measured did not show.
    Each point is a dot now, a branch's too, and the newest, at the run's last step and its lowest
    value, is drawn whole inside the plot."""
    from PySide6.QtCore import QPointF
    fds = {500: 80.0, 1000: 71.5, 1500: 64.25}
    state = image_run_with_fd(fds, 1500)
    p = panel(state, width=width)
    fd = p.curves["fd.fd_classifier"][2]
    assert list(fd.xData) == list(fds) and fd.opts["symbol"] == "o"
    assert len(fd.scatter.data) == 3 and fd.scatter.isVisible()
    vb = p.plots["fd"].vb
    rect = vb.sceneBoundingRect()
    radius = fd.opts["symbolSize"] / 2 + 1
    for x, y in fds.items():
        centre = vb.mapViewToScene(QPointF(x, y))
        assert rect.left() + radius <= centre.x() <= rect.right() - radius, (x, rect)
        assert rect.top() + radius <= centre.y() <= rect.bottom() - radius, (y, rect)
    # another branch's evaluations, over this one: dots too
    branch = image_run_with_fd({500: 80.0, 1000: 75.0, 1500: 69.0}, 1500)
    p.set_overlays([("branch 1", (40, 150, 70), branch, 500.0)])
    p.refresh()
    over = p.overlay_curves[(0, "fd.fd_classifier")]
    assert list(over.xData) == [500, 1000, 1500] and over.opts["symbol"] == "o" and len(over.scatter.data) == 3
