"""Branches in the window: a fork trains beside its parent; the plots draw both, each in its colour,
the shared history once; the tricks panel edits the selected branch; closing saves every branch."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, QEvent, Qt
from PySide6.QtWidgets import QDockWidget, QPlainTextEdit, QTabBar

from gan_studio.app.branches import BRANCH_COLOURS, shared_until
from gan_studio.app.history import StudioState
from gan_studio.app.plots import PlotsPanel
from gan_studio.core.config import Config
from gan_studio.session.payloads import METRIC_COLUMNS, Report, RunInfo
from studio_helpers import WAIT_MS, fork_and_wait, tiny_config
from test_mode_hops_view import assert_timeline_agrees_with_bars
from test_window_layout import SIZES, assert_fits_at

COL = {name: i for i, name in enumerate(METRIC_COLUMNS)}


class _Node:
    """What lineage reads of a Branch: its parent and branch step."""

    def __init__(self, parent=None, branch_step=None):
        self.parent_branch, self.branch_step = parent, branch_step


def test_shared_history_of_branches():
    root = _Node()
    a = _Node(root, 1000)
    b = _Node(root, 400)
    aa = _Node(a, 1500)
    assert shared_until(root, root) == float("inf")
    assert shared_until(root, a) == 1000 and shared_until(a, root) == 1000
    assert shared_until(a, b) == 400                      # siblings share their parent up to the earlier fork
    assert shared_until(aa, root) == 1000 and shared_until(aa, a) == 1500
    assert shared_until(aa, b) == 400


def _state(steps, level, seed=0):
    rng = np.random.default_rng(seed)
    rows = np.empty((len(steps), len(METRIC_COLUMNS)))
    rows[:, 0] = steps
    rows[:, 1:] = level + 0.01 * rng.standard_normal((len(steps), len(METRIC_COLUMNS) - 1))
    st = StudioState()
    st.begin(RunInfo(config=Config(), run_path="", device_name="cpu", step=0, is_image=False))
    st.add(Report(step=int(steps[-1]), running=False, steps_per_s=0.0, elapsed_s=0.0, metrics=rows))
    return st


def key_text(plots: PlotsPanel) -> str:
    """What the line above the plots says of the branches, as read (a branch's name does not wrap)."""
    return plots.branch_key.text().replace("\u00a0", " ")


def test_plots_draw_another_branch_from_its_branch_point(qtbot):
    parent = _state(np.arange(1, 301), 1.0)
    branch = _state(np.arange(1, 401), 3.0)   # its first 200 steps are the parent's history, copied
    p = PlotsPanel(parent)
    qtbot.addWidget(p)
    p.resize(900, 700)
    p.show()
    p.refresh()
    p.set_overlays([("branch 1 (from main at step 200)", (210, 60, 40), branch, 200.0)])
    p.refresh()
    curve = p.overlay_curves[(0, "losses.loss_d")]
    x, y = curve.xData, curve.yData
    assert x[0] == 200 and x[-1] == 400            # from the branch point on: the shared part is drawn once
    lo, hi = p.plots["losses"].viewRange()[1]
    assert lo < 1.0 and hi > 2.9                    # the y-range holds both branches
    assert p.plots["losses"].viewRange()[0][1] >= 400   # and the x axis reaches the newest step of either
    assert "branch 1 (from main at step 200)" in key_text(p) and p.branch_key.isVisible()
    assert any(name == "losses" and line.value() == 200 for name, line in p.branch_lines)
    # the branch grows: its curve follows without a new set_overlays
    branch.add(Report(step=401, running=True, steps_per_s=0.0, elapsed_s=0.0,
                      metrics=np.array([[401] + [3.0] * (len(METRIC_COLUMNS) - 1)])))
    p.refresh()
    assert p.overlay_curves[(0, "losses.loss_d")].xData[-1] == 401
    p.set_overlays([])                               # the comparison ended
    assert p.overlay_curves == {} and p.branch_lines == []
    assert not p.branch_key.isVisible()


@pytest.mark.timeout(240)
def test_fork_in_the_window_trains_both_branches(make_window, qtbot, tmp_path):
    """Fork at the current step, change a trick in the branch: both train, the plots show two
    curves, the tricks panel edits the branch only, and closing saves both runs."""
    win = make_window(tiny_config("ring8", **{"train.fork_keep": 3, "train.eval_every": 10}), speed=5)
    root = win.selected
    assert not win.compare_action.isEnabled()   # one branch: nothing to compare it with
    win.worker.run_steps(20)
    qtbot.waitUntil(lambda: win.state.step >= 20 and not root.running, timeout=WAIT_MS)
    branch = fork_and_wait(win, qtbot)
    assert win.selected is branch and win.worker is branch.worker
    assert branch.state.session.step == 20 and branch.branch_step == 20
    assert win.branch_row.isVisible() and win.branch_box.count() == 2
    lineage = json.loads((Path(branch.state.session.run_path) / "lineage.json").read_text())
    assert lineage["branch_step"] == 20
    # a trick changed now is the branch's
    win.tricks.setting_changed.emit("train.lr_d", 0.0123)
    qtbot.waitUntil(lambda: any(e.get("key") == "train.lr_d" for e in branch.state.events), timeout=WAIT_MS)
    assert not any(e.get("key") == "train.lr_d" for e in root.state.events)
    # Step once / Start / Pause act on every branch
    win.actions_by_name["step"].trigger()
    qtbot.waitUntil(lambda: root.state.step >= 21 and branch.state.step >= 21, timeout=WAIT_MS)
    win.actions_by_name["start"].trigger()
    qtbot.waitUntil(lambda: root.state.step >= 40 and branch.state.step >= 40, timeout=3 * WAIT_MS)
    win.actions_by_name["pause"].trigger()
    qtbot.waitUntil(lambda: not root.running and not branch.running, timeout=WAIT_MS)
    win.refresh_all()
    curve = win.plots.overlay_curves[(0, "losses.loss_d")]
    assert curve.xData is not None and curve.xData[0] <= 20 < curve.xData[-1]   # the parent, over the branch
    # the side view shows the other branch (the parent), the main view the selected one
    dock, side = win.side_docks[0]
    assert side.state is root.state and win.modes.state is branch.state
    # each 2-D view has its own branch's mode bars beneath it, and everything fits, at 1280x720 too
    # (the side dock's bars and timeline were cut at its right edge: their titles set their width)
    assert side.bars_plot.isVisible() and side.timeline_plot.isVisible()
    shown = side.shown_view
    assert shown is not None and any(v is shown for v in root.state.views)
    # live, its bars show the parent's newest evaluation (its picture's, or a later one of the run loop's)
    newest = root.state.newest_evaluation()
    assert newest is not None and newest[0] >= shown.step
    assert np.array_equal(side.bars.opts["height"], np.asarray(newest[1]["mode_counts"], float))
    # each view's timeline is its own branch's: its right edge is the bars beside it, its hop marks
    # what that branch's Mode hops counts (the branch's band showed its parent's modes)
    for view in (side, win.modes):
        assert_timeline_agrees_with_bars(view)
    for size in SIZES:   # and the window keeps its size: with a branch beside it, it grew to 1305 px at 1280
        assert_fits_at(win, qtbot, size)
    # Run > Compare branches: the branches' metrics since step 20, named as the window names them, the
    # same numbers `gan-studio compare` reads from their run folders
    from gan_studio.core import compare as C
    assert win.compare_action.isEnabled()
    win.compare_action.trigger()
    box = win._compare_box
    text = box.findChild(QPlainTextEdit, "compare.text").toPlainText()
    runs = C.load_histories([b.state.session.run_path for b in win.branches])
    runs[0].label, runs[1].label = root.name, branch.name
    assert text == C.summary_text(runs, ["modes", "modes_strict", "hq", "rkl"])
    assert text.startswith("steps 21 to ") and f"fork of {root.name} at 20: train.lr_d=0.0123" not in text
    rows = {line.split("  ")[0]: line for line in text.splitlines()[3:]}
    assert set(rows) == {root.name, branch.name} and "the parent" in rows[root.name]
    assert f"fork of {root.name} at 20: no change" in rows[branch.name]   # lr_d was set live after the fork
    box.close()
    win.select_branch(root)
    assert win.worker is root.worker and win.modes.state is root.state and side.state is branch.state
    paths = [Path(b.state.session.run_path) for b in win.branches]
    workers = [b.worker for b in win.branches]
    win.close()
    assert not any(w.isRunning() for w in workers)
    for path in paths:
        assert (path / "checkpoint.pt").is_file()


def legend_problems(plots: PlotsPanel) -> list[str]:
    """Each shown plot whose legend is wider than the plot, or that is cut at the canvas's right edge."""
    problems = []
    for name, item in plots.plots.items():
        if not plots.is_shown(name):
            continue
        legend = plots.legends[name].item.boundingRect().width()
        if legend > item.width():
            problems.append(f"{name}: legend {legend:.0f} px, plot {item.width():.0f}")
        if item.sceneBoundingRect().right() > plots.canvas.viewport().width() + 1:
            problems.append(f"{name}: cut at the right edge")
    return problems


def test_other_branches_are_named_once_above_the_plots_not_in_every_legend(qtbot):
    """Each plot's legend named every other branch: with three branches over the selected one a legend
    was about 250 px, wider than a plot of two columns (211 px at 1280x720), and the plots, widened to
    their legends, were cut at the panel's right edge. The branches are named once, above the plots."""
    states = [_state(np.arange(1, 301), 1.0 + k, seed=k) for k in range(4)]
    p = PlotsPanel(states[0])
    qtbot.addWidget(p)
    p.resize(440, 700)
    p.show()
    p.refresh()
    names = ["main", "branch 2", "branch 3"]
    p.set_overlays([(name, colour, st, 200.0) for name, colour, st in zip(names, BRANCH_COLOURS, states[1:])],
                   selected="branch 1")
    p.refresh()
    qtbot.waitUntil(lambda: p.ncols == 2 and legend_problems(p) == [], timeout=3000)
    assert all(name not in p.legends[n].text for n in p.legends for name in names)
    key = p.branch_key
    assert key.isVisible() and key_text(p).startswith("branch 1: ") and all(name in key_text(p) for name in names)
    assert key.width() <= p.width()


@pytest.mark.timeout(240)
def test_every_legend_fits_its_plot_with_four_branches_at_both_sizes(make_window, qtbot):
    """A run forked three times, at 1280x720 and at the default 1560x900: every plot's legend is at most
    as wide as its plot, and no plot is cut at the right edge (with every other branch in each legend,
    the plots were laid out as wide as their legends and cut)."""
    win = make_window(tiny_config("ring8"), speed=50, engine="thread")
    win.worker.run_steps(20)
    qtbot.waitUntil(lambda: win.state.step >= 20 and not win.selected.running, timeout=WAIT_MS)
    for _ in range(3):
        fork_and_wait(win, qtbot)
    others = [b.name for b in win.branches if b is not win.selected]
    for size in ((1280, 720), (1560, 900)):
        win.resize(*size)
        win.refresh_all()
        qtbot.waitUntil(lambda: legend_problems(win.plots) == [], timeout=3000)
        assert win.plots.branch_key.isVisible() and all(name in key_text(win.plots) for name in others)


def tab_bars(win) -> list[list[str]]:
    """The names of the tabs of each tab bar of the window's docks that is on screen."""
    return [[t.tabText(i) for i in range(t.count())] for t in win.findChildren(QTabBar)
            if t.isVisible() and not t.visibleRegion().isEmpty()]


def side_view_shown(win):
    """The other branch's view in front: the side dock's panel on screen (None but for one)."""
    shown = [panel for dock, panel in win.side_docks if not dock.visibleRegion().isEmpty()]
    return shown[0] if len(shown) == 1 else None


def pick_tab(win, qtbot, name: str) -> None:
    """Click the tab ``name`` under the other branches' views, as a user picks one."""
    bar = next(t for t in win.findChildren(QTabBar) if not t.visibleRegion().isEmpty()
               and name in [t.tabText(i) for i in range(t.count())])
    i = [bar.tabText(i) for i in range(bar.count())].index(name)
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(i).center())


@pytest.mark.timeout(240)
def test_three_and_four_branches_show_the_others_as_tabs_and_fit_1280x720(make_window, qtbot):
    """A dock per other branch beside the selected 2-D view (at least 217 px each) made a 1280x720
    window of four branches 1,505 px wide, and its plots one column under a scroll bar, at 1560x900
    too; with three branches the plots scrolled at 1280x720. With more than one, the other branches'
    views share one dock as tabs named by branch (a fork's parent in front): the window keeps 1280x720,
    its least width too, nothing is cut, the plots keep two columns; each tab picked draws its branch
    as it trains; the branch picked stays in front when another is selected; ending the branches leaves
    no tab and no dock of theirs. Two branches keep their view beside without a tab."""
    win = make_window(tiny_config("ring8"), speed=50, engine="thread")
    win.worker.run_steps(20)
    qtbot.waitUntil(lambda: win.state.step >= 20 and not win.selected.running, timeout=WAIT_MS)
    for n in range(2, 5):
        parent = win.selected
        fork_and_wait(win, qtbot)
        others = [b.name for b in win.branches if b is not win.selected]
        qtbot.waitUntil(lambda: (others in tab_bars(win) or n == 2) and side_view_shown(win) is not None,
                        timeout=3000)
        assert side_view_shown(win).state is parent.state
        if n == 2:
            assert not any(parent.name in tab for tab in tab_bars(win))
            continue
        for size in ((1280, 720), (1560, 900)):
            assert_fits_at(win, qtbot, size)   # nothing cut, the plots not scrolled
            assert win.minimumSizeHint().width() <= 1280 and win.plots.ncols >= 2
    # each other branch is reachable by its tab, and its view draws that branch's newest step
    win.actions_by_name["step"].trigger()
    qtbot.waitUntil(lambda: all(b.state.views and b.state.views[-1].step == 21 for b in win.branches),
                    timeout=WAIT_MS)
    for b in reversed([b for b in win.branches if b is not win.selected]):
        pick_tab(win, qtbot, b.name)
        qtbot.waitUntil(lambda: side_view_shown(win) is not None and side_view_shown(win).state is b.state
                        and side_view_shown(win).shown_view is b.state.views[-1], timeout=3000)
    picked = win.branches[0]                     # main, the tab picked last
    win.select_branch(win.branches[1])
    qtbot.waitUntil(lambda: side_view_shown(win) is not None and side_view_shown(win).state is picked.state,
                    timeout=3000)
    assert [b.name for b in win.branches if b is not win.selected] in tab_bars(win)
    win.end_branches()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    names = [b.name for b in win.branches] + [f"branch {k}" for k in range(1, 4)]
    qtbot.waitUntil(lambda: not any(name in tab for tab in tab_bars(win) for name in names)
                    and [] not in tab_bars(win), timeout=3000)
    assert not [d for d in win.findChildren(QDockWidget) if d.objectName().startswith("dock.branch_view")]
    assert_fits_at(win, qtbot, SIZES[0])


@pytest.mark.timeout(240)
def test_a_trick_changed_on_a_paused_branch_is_in_its_folder_when_the_branches_end(make_window, qtbot):
    """A branch forked from a paused run was opened as the fork wrote it, to look at: a trick changed
    in it stayed in memory, and ending the branches (New) left its folder without it, where a running
    branch's folder has it. Its events.jsonl has the change at once now, and its checkpoint the live
    value once the branches end; the branch did not train for it."""
    from gan_studio.core.runs import trainer_from_run
    win = make_window()
    win.worker.run_steps(10)
    qtbot.waitUntil(lambda: win.state.step >= 10 and not win.selected.running, timeout=WAIT_MS)
    branch = fork_and_wait(win, qtbot)
    path, worker = Path(branch.state.session.run_path), branch.worker
    win.tricks.setting_changed.emit("train.lr_d", 0.0123)
    qtbot.waitUntil(lambda: any(e.get("key") == "train.lr_d" for e in branch.state.events), timeout=WAIT_MS)

    def logged() -> list[dict]:
        text = (path / "events.jsonl").read_text() if (path / "events.jsonl").exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    qtbot.waitUntil(lambda: any(e.get("key") == "train.lr_d" and e.get("value") == 0.0123 for e in logged()),
                    timeout=WAIT_MS)
    assert not branch.running and branch.state.step == 10
    win.new_run()                                         # ends the comparison: the branch is saved and closed
    qtbot.waitUntil(lambda: not worker.isRunning(), timeout=WAIT_MS)
    tr, _ = trainer_from_run(path)
    assert tr.cfg.train.lr_d == 0.0123 and tr.step_count == 10
    assert [e["value"] for e in logged() if e.get("key") == "train.lr_d"] == [0.0123]


@pytest.mark.timeout(240)
def test_two_branches_plots_fit_without_scrolling_at_both_sizes(make_window, qtbot):
    """With a branch's 2-D view beside the selected one's, the live plots took two fifths of the rest
    at 1280x720: one column, seven plots under a scroll bar. The plots now get the width of two
    columns (the selected 2-D view's controls compact, as the branch's), whichever branch is
    selected (the other's legend entry is its name), and every text still fits; ending the
    comparison puts the 2-D view's controls back in their rows. Forked at step 1,000, as the README's
    picture is: its chooser above the tricks ('branch 1 (from main at step 1000)') is wider than at
    step 10, and took what the plots' second column needed while the step sat beside a check box."""
    win = make_window(tiny_config("ring8", **{"train.log_every": 50}), speed=200)
    win.worker.run_steps(1000)
    qtbot.waitUntil(lambda: win.state.step >= 1000 and not win.selected.running, timeout=3 * WAIT_MS)
    root = win.selected
    fork_and_wait(win, qtbot)
    for selected in (win.branches[1], root):
        win.select_branch(selected)
        for size in SIZES:
            assert_fits_at(win, qtbot, size)      # no scroll bar on the plots, nothing cut
            assert win.plots.ncols >= 2 and win.plots.scroll.verticalScrollBar().maximum() == 0
            assert scatter_side(win.modes) >= 200   # the selected 2-D view's data: 128 px square at 1280x720
    assert "branch 1" in key_text(win.plots) and "from main" not in key_text(win.plots)
    assert win.modes.compact
    win.end_branches()
    assert not win.modes.compact
    buttons = [win.modes.draw_button, win.modes.clear_button, win.modes.csv_button, win.modes.train_button]
    qtbot.waitUntil(lambda: len({b.geometry().top() for b in buttons}) == 1, timeout=3000)   # one row again
    assert_fits_at(win, qtbot, SIZES[0])


def scatter_side(view) -> float:
    """The side of the square the 2-D view's data can fill (its scatter's view box, aspect locked)."""
    vb = view.plot.getPlotItem().vb
    return min(vb.width(), vb.height())


def side_plots_whole(view) -> bool:
    """The mode bars and the timeline are each laid out within their widget, titles and axes whole."""
    return all(w.isVisible() and w.getPlotItem().sceneBoundingRect().right() <= w.viewport().width() + 1
               for w in (view.bars_plot, view.timeline_plot))


@pytest.mark.parametrize("branch_view", [False, True])
def test_a_2d_view_beside_another_branch_s_keeps_a_fair_square_at_1280x720(qtbot, branch_view):
    """The selected branch's 2-D view at 1280x720 beside another branch's (266 x 632 px, its controls
    compact) stacked the mode bars above the timeline beneath its scatter: the data had a square of
    128 px. The bars and the timeline now go side by side beneath it, the scatter keeps its width
    square (216 px), both side plots whole; a narrower view (four branches) still stacks them."""
    from gan_studio.app.mode_view import ModeView
    view = ModeView(StudioState())
    qtbot.addWidget(view)
    if branch_view:
        view.as_branch_view()
    else:
        view.set_compact(True)
    view.resize(266, 632)
    view.show()
    qtbot.waitUntil(lambda: scatter_side(view) >= 200 and side_plots_whole(view), timeout=3000)
    assert view.side.orientation() == Qt.Orientation.Horizontal
    view.resize(221, 632)                       # four branches: too narrow for the two side by side
    qtbot.waitUntil(lambda: view.side.orientation() == Qt.Orientation.Vertical and side_plots_whole(view),
                    timeout=3000)


def test_an_image_run_with_a_branch_keeps_a_1280x720_window(make_window, qtbot):
    """Two grid browsers side by side, each with its five buttons in a row, made a 1280x720 window
    grow to about 1,490 px: with a branch their buttons take two rows (the step a line of its own),
    everything fits at both sizes, and ending the comparison puts the buttons back in one row."""
    win = make_window(tiny_config("digits", **{"model.ngf": 8, "model.ndf": 8, "train.batch_size": 16}))
    assert not win.grid.two_rows
    fork_and_wait(win, qtbot)
    _, side = win.side_docks[0]
    assert win.grid.two_rows and side.two_rows
    for size in SIZES:
        assert_fits_at(win, qtbot, size)
    win.end_branches()
    assert not win.grid.two_rows and not win.side_docks


def test_plots_interval_keeps_the_plots_under_their_share_of_a_busy_machine():
    from gan_studio.app.main_window import PLOTS_CPU_SHARE, PLOTS_MS, plots_interval
    base = PLOTS_MS / 1000
    assert plots_interval(0.5, False) == base          # a core to spare: the plots keep their pace
    assert plots_interval(0.001, True) == base         # cheap redraws need no slowing down
    assert plots_interval(0.06, True) == pytest.approx(0.06 / PLOTS_CPU_SHARE)   # 60 ms at most 5 % of a core


def test_the_window_spaces_its_plots_by_their_cost_when_every_core_trains(make_window, monkeypatch):
    """Two branches on 2 cores leave the window no core of its own: the plots (its costliest paint)
    then redraw only as often as keeps them at PLOTS_CPU_SHARE of a core, measured, so that
    training keeps the rest; with a core to spare they keep PLOTS_MS."""
    import time

    import gan_studio.app.main_window as mw
    win = make_window()
    before = win.plots.cpu_s
    win.plots.canvas.viewport().repaint()               # a paint of the canvas is counted
    assert win.plots.cpu_s > before
    monkeypatch.setattr(mw, "usable_cores", lambda: 1)
    win.selected.running = True                         # one training process and the window on one core
    assert win.cores_busy()
    win.plots_cost_s = 0.05                             # a redraw costs 50 ms of GUI time
    assert win.plots_interval() == pytest.approx(0.05 / mw.PLOTS_CPU_SHARE)
    draws = []
    monkeypatch.setattr(win.plots, "refresh", lambda: draws.append(1))
    win._plots_drawn_at = time.perf_counter()
    win.refresh()
    assert draws == []                                  # within the interval: not redrawn
    win._plots_drawn_at -= win.plots_interval() + 0.1
    win.refresh()
    assert draws == [1]
    assert win.plots_cost_s >= 0                        # the measured cost of the last redraw went in
    monkeypatch.setattr(mw, "usable_cores", lambda: 8)
    assert not win.cores_busy() and win.plots_interval() == mw.PLOTS_MS / 1000


def test_the_engines_build_fewer_frames_while_every_core_trains(make_window, monkeypatch):
    """The 2-D view's frames (D's heatmap: more than a training step on ring8) are built in the
    training processes: while every core trains, the window lowers each engine's frame budget to
    FRAME_BUDGET_BUSY, and gives back FRAME_BUDGET when a core is free again."""
    import gan_studio.app.main_window as mw
    from gan_studio.session.engine import FRAME_BUDGET
    win = make_window()
    sent = []
    monkeypatch.setattr(win.selected.worker, "set_frame_budget", sent.append)
    monkeypatch.setattr(mw, "usable_cores", lambda: 8)
    win.refresh()
    win.refresh()
    assert sent == [FRAME_BUDGET] or sent == []          # the default, sent at most once
    sent.clear()
    monkeypatch.setattr(mw, "usable_cores", lambda: 1)
    win.selected.running = True
    win.refresh()
    win.refresh()
    assert sent == [mw.FRAME_BUDGET_BUSY] and mw.FRAME_BUDGET_BUSY < FRAME_BUDGET
    win.selected.running = False                        # paused: the window has the core
    win.refresh()
    assert sent == [mw.FRAME_BUDGET_BUSY, FRAME_BUDGET]
    win.selected.on_process_died("killed")              # a fresh engine starts with the default:
    win.selected.running = True                         # the busy budget is sent again
    win.refresh()
    assert sent[-1] == mw.FRAME_BUDGET_BUSY and len(sent) == 3


def test_the_plots_count_their_scenes_work_on_changed_items(make_window, qtbot):
    """After a curve changes, Qt's scene makes queued calls (dirty items, bounding rects: Python in
    pyqtgraph) that cost as much as a paint: the canvas counts them in cpu_s, and they still run
    (the scene's ``changed`` signal, emitted by one of them, arrives: the filter delivers what it times)."""
    import numpy as np
    from PySide6.QtCore import QCoreApplication
    win = make_window()
    canvas = win.plots.canvas
    curve = next(iter(win.plots.curves.values()))[2]
    changed = []
    canvas.scene().changed.connect(lambda rects: changed.append(len(rects)))

    def change(n: int) -> list:
        QCoreApplication.processEvents()
        changed.clear()
        curve.setData(np.arange(float(n)), np.sin(np.arange(float(n))))
        qtbot.waitUntil(lambda: len(changed) >= 1, timeout=2000)
        for _ in range(5):
            QCoreApplication.processEvents()
        return list(changed)
    work = []
    real = canvas._scene_work.eventFilter
    canvas._scene_work.eventFilter = lambda obj, ev: (work.append(ev.type()), real(obj, ev))[1]
    before = canvas.cpu_s
    counted = change(5000)
    assert canvas.cpu_s > before and work   # the scene's queued calls went through the count
    assert counted   # the queued call that emits ``changed`` was delivered, by the filter


def test_the_plots_count_a_paint_inside_the_scenes_work_once(make_window, qtbot):
    """Qt may paint the canvas from inside one of its scene's queued calls, which the canvas times
    as a whole: the paint's own count must not add to that, or the plots' cost reads more than the
    GUI thread spent (a call that painted counted 1.6-1.7x its time) and their redraws are spaced further apart than their share
    asks. Over many changed curves the canvas never counts more CPU than the GUI thread used."""
    import time

    import numpy as np
    from PySide6.QtCore import QCoreApplication
    win = make_window()
    canvas = win.plots.canvas
    curves = [c[2] for c in win.plots.curves.values()][:6]
    nested = []
    real = canvas._scene_work.eventFilter

    def watch(obj, ev):   # a paint that ran inside a timed call
        paints_before = canvas.paints
        result = real(obj, ev)
        nested.append(canvas.paints - paints_before)
        return result
    canvas._scene_work.eventFilter = watch
    for _ in range(5):
        QCoreApplication.processEvents()
    before, t0 = canvas.cpu_s, time.thread_time()
    for n in range(20):
        for c in curves:
            c.setData(np.arange(2000.0 + n), np.sin(np.arange(2000.0 + n)))
        for _ in range(5):
            QCoreApplication.processEvents()
    used = time.thread_time() - t0
    counted = canvas.cpu_s - before
    assert counted > 0
    assert counted <= used + 1e-3, (counted, used)
    assert any(nested) or canvas.paints > 0   # something was painted while it was watched


def test_the_benchmark_reads_a_processes_cpu_time():
    """bench_window's CPU figures (the window's idle cost, its training process's) come from /proc:
    a process that computes has used CPU; one that does not exist gives None, not an error."""
    import os
    import sys

    from gan_studio.app.benchmark import process_cpu_s
    if not sys.platform.startswith("linux"):
        pytest.skip("/proc is Linux's")
    before = process_cpu_s(os.getpid())
    sum(i * i for i in range(300_000))
    after = process_cpu_s(os.getpid())
    assert before is not None and after >= before >= 0
    assert process_cpu_s(2 ** 22 + 12345) is None


def test_the_fork_menu_says_what_the_run_was_like_at_each_kept_step(make_window, qtbot):
    """Right-click on a history slider: each kept state is offered with its evaluation (modes, strict
    modes, HQ), as `gan-studio fork RUN --list` shows it, so one can pick the collapsed state or the
    recovered one without scrubbing to each first."""
    from gan_studio.core.fork import state_summary
    win = make_window(tiny_config("ring8", **{"train.fork_keep": 3, "train.eval_every": 10}), speed=5)
    win.worker.run_steps(30)
    qtbot.waitUntil(lambda: win.state.step >= 30 and not win.selected.running, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(win.worker.fork_steps) == 3, timeout=WAIT_MS)
    win._history_menu(win.modes, win.modes.slider.rect().center())
    menu = win._last_menu
    kept = next(a.menu() for a in menu.actions() if a.menu() is not None)
    texts = [a.text() for a in kept.actions()]
    steps = list(win.worker.fork_steps)   # live: "Fork at the current step" above, every kept one here
    assert len(texts) == len(steps) == 3
    for k, text in zip(steps, texts):
        row = win.state.loop_evals[k]
        assert text == f"step {k}: {state_summary(row)}" and " strict), HQ " in text
    menu.close()


def test_a_kept_state_is_summed_up_in_a_few_words():
    from gan_studio.core.fork import state_summary
    assert state_summary({"modes": 3, "modes_strict": 2, "hq": 15.44, "rkl": 1.5}) == "3 modes (2 strict), HQ 15.4 %"
    assert state_summary({"modes": 0, "modes_strict": 0, "hq": 0.0, "rkl": None}) == "0 modes (0 strict), HQ 0.0 %"
    assert state_summary({"modes": 1, "modes_strict": 1, "hq": 0.2}) == "1 mode (1 strict), HQ 0.2 %"
    assert state_summary({"fd_classifier": 64.66, "classes_covered": 9}) == "fd 64.7, 9 classes covered"
    assert state_summary({"loss_d": 1.0}) == "" and state_summary(None) == ""


def test_the_window_benchmark_writes_its_json_whole_or_not_at_all(tmp_path, monkeypatch):
    """`python -m gan_studio.app.benchmark --json F`: a failure while the figures are written (here one
    that json cannot write) leaves F as it was, not cut off after its first keys."""
    from gan_studio.app import benchmark
    out = tmp_path / "figures.json"
    out.write_text('{"earlier": "figures"}')
    monkeypatch.setattr(benchmark, "idle_cost", lambda cfg, seconds, runs_dir: {"window_cpu_share": 0.01,
                                                                               "idle_s": seconds, "bad": object()})
    with pytest.raises(TypeError):
        benchmark.main(["--idle", "0.1", "--json", str(out)])
    assert out.read_text() == '{"earlier": "figures"}'
    monkeypatch.setattr(benchmark, "idle_cost", lambda cfg, seconds, runs_dir: {"window_cpu_share": 0.01,
                                                                               "idle_s": seconds})
    assert benchmark.main(["--idle", "0.1", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["window_cpu_share"] == 0.01
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures.json"]   # no temporary file left
