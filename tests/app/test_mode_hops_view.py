"""The 2-D view's occupancy timeline says what the numbers beside it say: its right edge is what the
mode bars show, each evaluation is as wide as the steps it held for, its modes are the bars' modes,
and its hop marks are the hops the Mode hops plot counts (the run loop's logged evaluations)."""
from __future__ import annotations

import numpy as np
import pytest

from gan_studio.app.history import NEWEST_SHARE, StudioState
from gan_studio.app.mode_view import ModeView
from gan_studio.app.plots import PlotsPanel
from gan_studio.core.config import Config
from gan_studio.core.metrics.modes import MODE_HOPS_WINDOW, ModeHops
from gan_studio.session.payloads import METRIC_COLUMNS, Frame, Report, RunInfo, eval_summary

K = 8
RING = np.array([[np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, K, endpoint=False)], np.float32)


def _eval(counts) -> dict:
    counts = np.asarray(counts)
    return {"modes": int((counts > 0).sum()), "modes_strict": int((counts > 0).sum()), "hq": 90.0,
            "rkl": 0.5, "mode_counts": [int(c) for c in counts]}


def _run_info(step=0, eval_history=()) -> RunInfo:
    return RunInfo(config=Config(), run_path="", device_name="cpu", step=step, is_image=False, real=RING,
                   modes=RING, sigma=0.02, bounds=(-1.5, 1.5, -1.5, 1.5), eval_history=list(eval_history))


def _rows(step: int) -> np.ndarray:
    row = np.ones((1, len(METRIC_COLUMNS)))
    row[0, 0] = step
    return row


def logged_rows(plan, hops: ModeHops | None = None) -> list[dict]:
    """The run loop's evaluation rows for (step, counts): with mode_hops as the run loop counts it."""
    hops = hops or ModeHops()
    return [{**_eval(counts), "step": step, "mode_hops": hops.add(counts)} for step, counts in plan]


def report(step, frame_counts=None, evals=()) -> Report:
    frame = Frame(step=step, fake=RING.copy(), evaluation=_eval(frame_counts)) if frame_counts is not None else None
    return Report(step=step, running=True, steps_per_s=0.0, elapsed_s=0.0, metrics=_rows(step),
                  frame=frame, evals=list(evals))


def rotating_run() -> StudioState:
    """A G that sits on mode 0, hops to 3, then spreads over every mode, then settles on 5; the run
    loop logs each evaluation, the 2-D view's frames come at other steps (with other counts)."""
    st = StudioState()
    st.begin(_run_info())
    plan = [(100, [90, 0, 0, 5, 0, 0, 0, 0]), (200, [80, 0, 0, 6, 0, 0, 0, 0]),
            (300, [4, 0, 0, 90, 0, 0, 0, 0]), (400, [12] * 8), (500, [0, 0, 0, 0, 0, 95, 0, 0])]
    for row in logged_rows(plan):
        # a frame a few steps later, on the mode G sits on then: not an evaluation mode_hops counts
        counts = np.roll(row["mode_counts"], 1) if row["step"] == 200 else row["mode_counts"]
        st.add(report(row["step"] + 5, counts, evals=[row]))
    return st


def shown_view(st: StudioState, width=900, height=700, qtbot=None, branch=False) -> ModeView:
    view = ModeView(st)
    if qtbot is not None:
        qtbot.addWidget(view)
    if branch:
        view.as_branch_view()
    view.resize(width, height)
    view.show()
    view.refresh()
    return view


def timeline_columns(view: ModeView) -> tuple[np.ndarray, np.ndarray]:
    """The timeline as drawn: its image (columns, modes) and the step at the centre of each column."""
    img = view.timeline.image
    rect = view.timeline.mapRectToParent(view.timeline.boundingRect())
    centres = rect.left() + (np.arange(img.shape[0]) + 0.5) * rect.width() / img.shape[0]
    return img, centres


def assert_timeline_agrees_with_bars(view: ModeView) -> None:
    """The right edge of the timeline is the evaluation the bars show, mode for mode, over at least
    NEWEST_SHARE of its width; and its hop marks are what the Mode hops plot counts."""
    img, _ = timeline_columns(view)
    heights = np.asarray(view.bars.opts["height"], float)
    assert img.shape[1] == len(heights)                                  # a row per bar, in the bars' order
    shares = heights / heights.sum() if heights.sum() else heights
    newest = max(1, int(NEWEST_SHARE * img.shape[0]) - 1)
    np.testing.assert_allclose(img[-newest:], np.tile(shares, (newest, 1)), atol=1e-6)
    assert_marks_agree_with_mode_hops(view)


def assert_marks_agree_with_mode_hops(view: ModeView) -> None:
    """Over the evaluations the newest mode_hops counts (the last MODE_HOPS_WINDOW logged ones), the
    timeline has as many hop marks as the value the Mode hops plot shows last."""
    logged = view.state.logged.data   # every one: the view draws each as it comes, with a picture or not
    if not len(logged):
        return
    window = logged[-MODE_HOPS_WINDOW:, 0]
    xs, _ = view.hop_marks.getData()
    in_window = [x for x in (xs if xs is not None else []) if window[0] < x <= window[-1]]
    assert len(in_window) == int(logged[-1, 1])


def test_hops_are_where_the_dominant_mode_changed_between_logged_evaluations():
    st = rotating_run()
    # 0 -> 3 at step 300 is a hop; the spread-out evaluation at 400 has no dominant mode, so 3 -> 5
    # across it is not counted (as core.metrics.modes.mode_hops does not); the frame at 205, on mode
    # 1, is no evaluation of the run loop's: no hop 0 -> 1 -> 0 is drawn from it
    assert st.hops() == [(300, 0, 3)]


def test_the_timeline_draws_a_mark_per_hop(qtbot):
    view = shown_view(rotating_run(), qtbot=qtbot)
    xs, ys = view.hop_marks.getData()
    assert list(xs) == [300] and list(ys) == [3]
    assert "hopped from 0 to 3" in view.hop_marks.data["data"][0]


def test_hop_marks_in_the_metrics_window_agree_with_the_plotted_mode_hops(qtbot):
    """A G that rotates through the modes for 30 evaluations, with frames between them that do not
    agree: the marks in the newest window number exactly the plotted mode_hops, at every point."""
    rng = np.random.default_rng(3)
    plan = []
    for i in range(30):
        counts = rng.integers(0, 4, K)
        if rng.random() < 0.8:                     # mostly one dominant mode, now and then none
            counts[rng.integers(0, K)] = 100
        plan.append((50 * (i + 1), counts))
    rows = logged_rows(plan)
    st = StudioState()
    st.begin(_run_info())
    plots = PlotsPanel(st)
    qtbot.addWidget(plots)
    plots.resize(900, 700)
    plots.show()
    view = shown_view(st, qtbot=qtbot)
    for row in rows:
        st.add(report(row["step"] + 7, rng.integers(0, 50, K), evals=[row]))
        view.refresh()
        plots.refresh()
        assert_marks_agree_with_mode_hops(view)
        x, y = plots.curves["mode_hops.mode_hops"][2].getData()
        assert x[-1] == row["step"] and y[-1] == row["mode_hops"]   # the plot: the logged counts, at their steps
    assert int(st.logged.data[-1, 1]) > 0                            # it did hop, in the window too


def test_each_evaluation_spans_its_steps_and_the_newest_is_at_the_right_edge(qtbot):
    """An opened 300-step run: evaluations logged at 250 and 300, the view's frame at 300. The band
    held step 250's colours over the whole width and gave step 300 (the bars) one thin column."""
    at_250, at_300 = [0, 0, 0, 0, 0, 30, 60, 10], [14, 0, 0, 0, 0, 21, 35, 39]
    st = StudioState()
    st.begin(_run_info(step=300, eval_history=logged_rows([(250, at_250), (300, at_300)])))
    st.add(Report(step=300, running=False, steps_per_s=0.0, elapsed_s=0.0, metrics=np.empty((0, len(METRIC_COLUMNS))),
                  frame=Frame(step=300, fake=RING.copy(), evaluation=_eval(at_300))))
    view = shown_view(st, qtbot=qtbot)
    assert "step 300" in view.step_label.text()
    assert_timeline_agrees_with_bars(view)
    img, centres = timeline_columns(view)
    newest = np.all(np.isclose(img, np.asarray(at_300) / sum(at_300)), axis=1)
    assert newest[-1] and newest.mean() >= NEWEST_SHARE * 0.9          # a visible band, not a column
    assert np.all(centres[newest] >= 300) and np.all(centres[~newest] < 300)
    # the newest evaluation holds until the run's current step (a frame with none yet: a report)
    img, first, end = st.occupancy_image(until=400)
    held = np.all(np.isclose(img, np.asarray(at_300) / sum(at_300)), axis=1).mean()
    assert (first, end) == (250, 400) and held == pytest.approx(100 / 150, abs=0.01)
    # trained on to step 400, evaluated there: step 300's band is as wide as the 100 steps it held for
    at_400 = [0, 0, 0, 50, 0, 0, 0, 50]
    st.add(Report(step=400, running=False, steps_per_s=0.0, elapsed_s=1.0, metrics=_rows(400),
                  frame=Frame(step=400, fake=RING.copy(), evaluation=_eval(at_400))))
    view.refresh()
    assert_timeline_agrees_with_bars(view)
    img, centres = timeline_columns(view)
    is_300 = np.all(np.isclose(img, np.asarray(at_300) / sum(at_300)), axis=1)
    assert np.all(is_300[(centres > 300) & (centres < 400)]) and not is_300[(centres < 300) | (centres > 400)].any()


def test_a_branch_view_draws_its_own_evaluations_beside_the_history_it_shares(qtbot):
    """A branch forked at 100: its evaluations before the fork are its parent's (copied), its own
    after; its view's band at the right edge is its bars (a mode with 4 samples is not drawn empty)."""
    parent_rows = logged_rows([(50, [0, 0, 0, 0, 0, 40, 60, 0]), (100, [1, 0, 0, 0, 0, 1, 6, 4])])
    st = StudioState()
    st.begin(_run_info(step=100, eval_history=parent_rows))
    for step, counts in ((101, [5, 0, 0, 0, 0, 3, 13, 2]), (218, [18, 1, 0, 0, 2, 3, 7, 15]),
                         (300, [11, 5, 4, 3, 0, 0, 0, 0])):
        st.add(report(step, counts))
    view = shown_view(st, width=330, height=700, qtbot=qtbot, branch=True)
    assert list(view.bars.opts["height"]) == [11, 5, 4, 3, 0, 0, 0, 0]
    assert_timeline_agrees_with_bars(view)
    img, centres = timeline_columns(view)
    assert img[-1, 2] > img[-1, 7] == 0                           # mode 2 (4 samples) lit, mode 7 (none) dark
    own = (centres > 218) & (centres < 300)                       # between its evaluations: its own at 218
    np.testing.assert_allclose(img[own][0], np.array([18, 1, 0, 0, 2, 3, 7, 15]) / 46)


def test_mode_axes_tick_only_the_modes_there_are(qtbot):
    """Modes 0-7: no tick "8" under the bars or beside the timeline, wide or narrow."""
    st = rotating_run()
    for width, height in ((900, 700), (330, 700)):
        view = shown_view(st, width, height, qtbot=qtbot)
        view.grab()   # laid out and painted: the axes have their lengths
        for axis in (view.bars_plot.getAxis("bottom"), view.timeline_plot.getAxis("left")):
            lo, hi = axis.range
            length = axis.geometry().width() if axis.orientation == "bottom" else axis.geometry().height()
            values = [v for _, vs in axis.tickValues(lo, hi, length) for v in vs]
            assert values and set(values) <= set(range(K)), (width, axis.orientation, values)
            assert 0 in values and all(float(v).is_integer() for v in values)


def test_evaluations_of_other_mode_counts_share_one_timeline(qtbot):
    """A points CSV that gained a point between resumes logs rows of 3 modes, then of 4: np.stack
    raised in the window's every refresh. A hand-broken row ('x', a nested list) is skipped."""
    st = StudioState()
    rows = [{"step": 10, "modes": 3, "mode_counts": [1, 1, 2]}, {"step": 20, "modes": 4, "mode_counts": [1, 1, 1, 1]},
            {"step": 25, "modes": 1, "mode_counts": "x"}, {"step": 27, "modes": 1, "mode_counts": [[1], 2]},
            {"step": 28, "modes": "x", "mode_counts": [1]}, {"step": 29, "modes": 1, "mode_hops": [1]}]
    st.begin(_run_info(step=30, eval_history=rows))
    img, first, end = st.occupancy_image(until=30)
    assert img.shape[1] == 4 and (first, end) == (10, 30)
    assert np.allclose(img[0], [0.25, 0.25, 0.5, 0]) and np.allclose(img[-1], [0.25] * 4)


def test_an_evaluation_without_a_picture_moves_the_bars_and_the_timeline_with_the_mode_hops_plot(qtbot):
    """The last evaluation before a pause comes in a report without a picture: the Mode hops plot drew
    it at once, while the bars, the summary and the timeline waited for the next picture (after a
    pause: none). They follow it at the next refresh now, the picture stays; a report with neither
    redraws nothing, and one evaluation is drawn once however often the timer ticks."""
    on_0, on_3 = [90, 0, 0, 5, 0, 0, 0, 0], [2, 0, 0, 95, 0, 0, 0, 0]
    rows = logged_rows([(100, on_0), (200, on_3)])
    st = StudioState()
    st.begin(_run_info())
    st.add(report(105, on_0, evals=[rows[0]]))
    view = shown_view(st, qtbot=qtbot)
    plots = PlotsPanel(st)
    qtbot.addWidget(plots)
    plots.resize(900, 700)
    plots.show()
    plots.refresh()
    assert list(view.bars.opts["height"]) == on_0
    drawn = []
    real_set_opts = view.bars.setOpts
    view.bars.setOpts = lambda **kw: (drawn.append(kw), real_set_opts(**kw))[1]
    st.add(Report(step=200, running=False, steps_per_s=0.0, elapsed_s=1.0, metrics=_rows(200),
                  evals=[rows[1]]))                       # the run loop's evaluation at 200, no picture
    view.refresh()
    plots.refresh()
    x, y = plots.curves["mode_hops.mode_hops"][2].getData()
    assert x[-1] == 200 and y[-1] == 1                    # the plot counts the hop 0 -> 3 at 200 ...
    assert list(view.bars.opts["height"]) == on_3         # ... and the bars show that evaluation
    assert view.summary.text() == eval_summary(rows[1])
    assert_timeline_agrees_with_bars(view)                # its right edge and its hop mark at 200 too
    assert list(view.hop_marks.getData()[0]) == [200]
    assert "step 105" in view.step_label.text()          # the samples are still the picture's
    assert len(drawn) == 1
    view.refresh()                                        # the next tick: nothing new, nothing drawn
    st.add(Report(step=201, running=False, steps_per_s=0.0, elapsed_s=1.0, metrics=_rows(201)))
    view.refresh()                                        # a report with no evaluation: nothing drawn
    assert len(drawn) == 1
    # the history shows the picture's own evaluation; Live the newest again
    assert view.scrub_to(105)
    assert list(view.bars.opts["height"]) == on_0
    view.go_live()
    assert list(view.bars.opts["height"]) == on_3
