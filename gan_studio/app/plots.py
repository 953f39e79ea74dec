"""Live plots: losses, D outputs, gradient norms and mode coverage, with a flag per change.

The plots share one canvas (one view: a frame is one paint, not one per plot), in a grid that
reflows to the panel's width (MIN_PLOT_W a column), each with its legend beneath it, outside the data. Per-step curves are drawn twice: raw and faint, and
smoothed by the slider's weight (TensorBoard's de-biased EMA). The y-range spans the 1st to 99th
percentile (plot_math.robust_range), so one spike does not flatten the rest: it is drawn as a small
triangle at the edge, and "Show outliers" makes room for every point. The x axis ends at the last
step (plot_math.x_end). Each change is a dashed line on every plot with a small flag at its top;
near flags stack (plot_math.stack_rows); the flag's tooltip and the event list give the full text.
"""
from __future__ import annotations

import html
import math
import textwrap
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSlider, QVBoxLayout,
                               QWidget)

from gan_studio.app.event_list import event_text
from gan_studio.app.history import EVAL_COLUMNS, IMAGE_EVAL_COLUMNS, LOGGED_COLUMNS, StudioState, health_warnings
from gan_studio.app.plot_math import Smoother, robust_range, stack_rows, x_end
from gan_studio.app.plot_style import TITLE_PT, SparseLogAxis, cache_axes
from gan_studio.core.metrics.modes import MODE_HOPS_WINDOW
from gan_studio.session.payloads import METRIC_COLUMNS

D_PEN = pg.mkPen((40, 110, 200), width=1.5)
G_PEN = pg.mkPen((220, 90, 30), width=1.5)
EXTRA_PEN = pg.mkPen((120, 120, 120), width=1.2, style=Qt.PenStyle.DashLine)
FAMILY_PENS = [D_PEN, G_PEN, EXTRA_PEN, pg.mkPen((40, 160, 60), width=1.5)]
MARKER_PEN = pg.mkPen((150, 40, 160), width=1, style=Qt.PenStyle.DashLine)
NAN_PEN = pg.mkPen((220, 0, 0), width=2)
REFERENCE_PEN = pg.mkPen((90, 160, 90), width=1, style=Qt.PenStyle.DashLine)
SPIKE_BRUSH = pg.mkBrush(200, 30, 30, 220)
FLAG_FILL = pg.mkBrush(255, 255, 255, 215)
#: a raw curve behind its smoothed one: this opaque (0-255)
RAW_ALPHA = 55
#: a plot is at least this big; the grid has as many columns as MIN_PLOT_W fits in the panel
MIN_PLOT_W, MIN_PLOT_H = 215, 125
PLOT_GAP = 4
LEGEND_SIZE, LEGEND_COLOUR, LEGEND_PX = "8pt", "#444444", 16
FLAG_PT = 7
#: a flag says at most this many characters; a longer label (a value of 20,000 characters) is cut
#: with an ellipsis: it stretched the flag across the plot. Its tooltip says more, the Changes list all
FLAG_MAX_CHARS = 20
#: a flag's tooltip: at most this many lines of this many characters
TIP_LINES, TIP_LINE_CHARS = 6, 90
#: flags stack in at most this share of a plot's height; more stay hidden (the event list has them)
FLAG_HEIGHT_SHARE = 0.6
#: the smoothing slider's default weight (TensorBoard's)
DEFAULT_SMOOTHING = 0.6
#: spikes drawn at most per curve (a long run can have thousands outside the 1st-99th percentile)
MAX_SPIKES = 200

#: (plot name, title, [(column, label, pen)], source) -- source is "metrics" (every step), "evals" (the
#: 2-D view's evaluations and the logged ones of an opened run) or "logged" (the run loop's own
#: evaluations: mode_hops is counted over them, and the 2-D view's timeline marks the same hops) or
#: "images" (an image run's evaluations: core.metrics.images' classifier numbers of 1,000 samples)
PLOTS = [
    ("losses", "Losses", [("loss_d", "D loss", D_PEN), ("loss_g", "G loss", G_PEN)], "metrics"),
    ("d_outputs", "D(x) and D(G(z))", [("d_real", "D(x)", D_PEN), ("d_fake", "D(G(z))", G_PEN)], "metrics"),
    ("grad_norms", "Gradient norms", [("grad_norm_d", "|grad D|", D_PEN), ("grad_norm_g", "|grad G|", G_PEN)],
     "metrics"),
    ("modes", "Modes captured", [("modes", "captured", D_PEN), ("modes_strict", "strict", EXTRA_PEN)], "evals"),
    ("hq", "High-quality samples (%)", [("hq", "HQ %", D_PEN)], "evals"),
    ("rkl", "Reverse KL to uniform", [("rkl", "reverse KL", G_PEN)], "evals"),
    ("mode_hops", "Mode hops", [("mode_hops", f"hops in {MODE_HOPS_WINDOW} evals", D_PEN)], "logged"),
    ("fd", "FD to real (classifier)", [("fd_classifier", "lower: closer", G_PEN)], "images"),
]
#: plots of counts: their y-axis always shows 0
COUNT_PLOTS = {"modes", "mode_hops"}
#: plots of shares in [0, 1] (every family's plot: accuracies, AUCs, matches): the view stays within
#: SHARE_RANGE, so a lone first point of 0.9 is not drawn on an axis that runs to 1.9
SHARE_PLOTS = {"family"}
SHARE_RANGE = (-0.05, 1.05)
#: the plots of a Gaussian mixture's mode metrics
MODE_PLOTS = ("modes", "hq", "rkl", "mode_hops")
#: the plots of an image run's evaluations; empty, each says when its numbers come (as the family's).
#: One plot: a second (classes covered) put an image run with a branch at 1280x720 under a scroll bar
IMAGE_PLOTS = ("fd",)
#: what an image plot's numbers are (its tooltip; {every}: train.eval_every)
IMAGE_PLOT_TIPS = {
    "fd": "Frechet distance between the metric classifier's features of 1,000 samples and of the real images: "
          "lower is closer to the data. Not the Inception FID: compare runs on the same data set only. "
          "Measured every {every:,} steps",
}
#: HQ's ceiling: a perfect generator has 1 - e^(-9/2) of its samples within 3 sigma of their mode
HQ_CAP = 100.0 * (1.0 - math.exp(-4.5))
#: samples per evaluation (metrics.modes.N_EVAL); reverse KL's floor from sampling is (K - 1) / (2N)
N_EVAL = 2500
#: the plots on a log axis
LOG_PLOTS = {"grad_norms"}
#: the columns of each source of points
COLUMNS = {"metrics": METRIC_COLUMNS, "evals": EVAL_COLUMNS, "logged": LOGGED_COLUMNS, "images": IMAGE_EVAL_COLUMNS}
#: a curve of evaluations with a single point draws it as a dot this big (a line of one point is nothing)
LONE_POINT_PX = 7
#: the plots of sparse evaluations (every train.eval_every steps, 500 by default: a handful on a run)
#: draw each point as a dot this big, as the family's plot does: a line alone hid where and how often
#: the numbers were measured (the FD plot's first two evaluations were a bare stroke)
DOT_PX = 4
DOTTED_PLOTS = {"family", *IMAGE_PLOTS}
#: the newest step keeps this much room (px) from a plot's right edge: a dot there (the family plot's,
#: a lone evaluation's) is drawn whole, not cut in half by the edge
LAST_POINT_PX = LONE_POINT_PX // 2 + 3


def source_rows(state: StudioState, source: str) -> np.ndarray:
    """The rows a plot's curves draw from (columns COLUMNS[source])."""
    return {"metrics": state.metrics, "evals": state.evals, "logged": state.logged,
            "images": state.image_evals}[source].data


def draw_points(curve: pg.PlotDataItem, x: np.ndarray, y: np.ndarray, dotted: bool = False) -> None:
    """Evaluations on a curve: a line through them, and a dot when there is only one (a short run,
    a run just opened: its Mode hops plot held a single point nobody could see). ``dotted`` (a plot of
    DOTTED_PLOTS): a dot on every point, DOT_PX, a lone one LONE_POINT_PX."""
    curve.setData(x, y)
    if dotted:
        if curve.opts["symbol"] != "o":
            curve.setSymbol("o")
        curve.setSymbolSize(LONE_POINT_PX if len(x) == 1 else DOT_PX)   # a no-op when unchanged
    else:
        lone_dot(curve, len(x) == 1)


def lone_dot(curve: pg.PlotDataItem, lone: bool) -> None:
    """A dot on a curve that holds a single point (a line through one point draws nothing), none
    otherwise; set only when it changes, so that a long run's refreshes pay nothing for it."""
    want = "o" if lone else None
    if curve.opts["symbol"] != want:
        curve.setSymbol(want)


def elide(text: str, chars: int) -> str:
    """``text`` on one line, cut to ``chars`` characters with an ellipsis when longer."""
    text = " ".join(str(text).split())
    return text if len(text) <= chars else text[: chars - 1] + "\u2026"


def marker_label(event: dict) -> str:
    """Short text for a flag (at most FLAG_MAX_CHARS): '+packing' when a trick goes on, 'lr_d=0.0003'
    for a value."""
    return elide(_marker_label(event), FLAG_MAX_CHARS)


def flag_tooltip(event: dict) -> str:
    """A flag's tooltip: the event's whole text, wrapped, or its first TIP_LINES lines and where the
    rest is (a tooltip of 20,000 characters on one line is wider than any screen)."""
    text = event_text(event)
    lines = textwrap.wrap(text, TIP_LINE_CHARS, break_long_words=True, break_on_hyphens=False) or [text]
    if len(lines) <= TIP_LINES:
        return "\n".join(lines)
    lines = lines[:TIP_LINES]
    lines[-1] = elide(lines[-1], TIP_LINE_CHARS)
    return "\n".join(lines) + f"\n({len(text):,} characters: Ctrl+C in the Changes list copies them all)"


def _marker_label(event: dict) -> str:
    kind = event.get("event")
    if kind == "set":
        key, value = str(event.get("key", "")), event.get("value")
        parts = key.removeprefix("tricks.").split(".")
        if parts[-1] == "enabled" and isinstance(value, bool):
            return ("+" if value else "-") + ".".join(parts[:-1])
        if isinstance(value, float):
            value = f"{value:.3g}"
        return f"{'.'.join(parts[-2:]) if key.startswith('tricks.') else parts[-1]}={value}"
    if kind == "diverged":
        return "NaN: rolled back"
    if kind == "step_failed":
        return "failed: rolled back"
    return str(kind or "event")


def legend_html(series: list[tuple[str, object]]) -> str:
    """A legend as one line of text: a stroke in each curve's colour, then its label."""
    parts = []
    for label, pen in series:
        dashed = pen.style() == Qt.PenStyle.DashLine
        stroke = "- -" if dashed else "\u2501\u2501"
        parts.append(f"<span style='color:{pen.color().name()}'><b>{stroke}</b></span>&nbsp;{html.escape(label)}")
    return "&nbsp;&nbsp; ".join(parts)


def branch_key_html(selected: str, others: list[tuple[str, object]]) -> str:
    """The branches over the plots, said once above them: 'branch 1: the plots' own colours', then
    each other branch's stroke and name (legend_html), each kept whole on one line when the key wraps
    (it broke 'branch 2' after 'branch')."""
    own = f"{html.escape(selected)}: the plots' own colours&nbsp;&nbsp; " if selected else ""
    return own + legend_html([(label.replace(" ", "\u00a0"), pen) for label, pen in others])


def faint(pen) -> object:
    colour = pg.mkColor(pen.color())
    colour.setAlpha(RAW_ALPHA)
    return pg.mkPen(colour, width=1)


class _SceneWork(QObject):
    """Adds the CPU time of the queued calls a graphics scene makes after its items change (Qt's
    processing of dirty items: every changed curve's bounding rect, computed in Python by pyqtgraph)
    to the canvas's ``cpu_s``. The filter delivers the call itself, timed, and so stops Qt from
    delivering it again.

    Qt may paint the canvas from inside such a call (the paint then runs within the call's time), and
    the canvas's paintEvent counts its own time: a paint inside a call is counted once, by the call.
    Counted twice (as it was until 2026-12-02), a call that painted counted 1.6-1.7x its time (measured
    on ring8's plots), and the window spaced the plots' redraws further apart than their share asked."""

    def __init__(self, canvas: "TimedCanvas"):
        super().__init__(canvas)
        self.canvas = canvas

    def eventFilter(self, obj, ev) -> bool:
        if ev.type() != QEvent.Type.MetaCall:
            return False
        t, before = time.thread_time(), self.canvas.cpu_s
        try:
            obj.event(ev)
        finally:
            # the paints inside the call added themselves to cpu_s: the call's whole time replaces them
            self.canvas.cpu_s = before + max(time.thread_time() - t, self.canvas.cpu_s - before)
        return True


class TimedCanvas(pg.GraphicsLayoutWidget):
    """The plots' canvas, adding the CPU time of its own paints, and of its scene's work on changed
    items, to ``cpu_s`` (the GUI thread's time: the window spaces the plots' redraws by what they
    cost, see main_window.plots_interval)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cpu_s = 0.0
        self.paints = 0
        self._scene_work = _SceneWork(self)
        self.scene().installEventFilter(self._scene_work)

    def paintEvent(self, ev):
        self.paints += 1
        t = time.thread_time()
        try:
            super().paintEvent(ev)
        finally:
            self.cpu_s += time.thread_time() - t


class PlotsPanel(QWidget):
    def __init__(self, state: StudioState, parent=None):
        super().__init__(parent)
        self.state = state
        self.setObjectName("panel.plots")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)

        controls = QHBoxLayout()
        smoothing_label = QLabel("Smoothing")
        smoothing_label.setObjectName("plots.smoothing_label")
        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setObjectName("plots.smoothing")
        self.smoothing.setAccessibleName("Smoothing of the per-step curves")
        self.smoothing.setToolTip("exponential moving average of the per-step curves, de-biased as in "
                                  "TensorBoard (0: raw); the raw curve stays faint behind")
        self.smoothing.setRange(0, 99)
        self.smoothing.setValue(round(DEFAULT_SMOOTHING * 100))
        self.smoothing.setMinimumWidth(80)
        self.smoothing_value = QLabel()
        self.smoothing_value.setObjectName("plots.smoothing_value")
        self.smoothing_value.setMinimumWidth(self.smoothing_value.fontMetrics().horizontalAdvance("0.00") + 4)
        self.show_all = QCheckBox("Show outliers")
        self.show_all.setObjectName("plots.show_all")
        self.show_all.setAccessibleName("Show every point, outliers too")
        self.show_all.setToolTip("off: each y-range spans the 1st to 99th percentile and a spike beyond it "
                                 "is a small triangle at the edge; on: every point fits")
        self.smoothing.valueChanged.connect(self._smoothing_changed)
        self.show_all.toggled.connect(self._show_all_changed)
        controls.addWidget(smoothing_label)
        controls.addWidget(self.smoothing, 1)
        controls.addWidget(self.smoothing_value)
        controls.addSpacing(8)
        controls.addWidget(self.show_all)
        layout.addLayout(controls)

        self.warning = QLabel()
        self.warning.setObjectName("plots.warning")
        self.warning.setAccessibleName("Training health warnings")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("background: #fff3cd; color: #6b4a00; padding: 4px; border: 1px solid #e0b000;")
        self.warning.hide()
        layout.addWidget(self.warning)
        self.follow_button = QPushButton("Follow newest steps")
        self.follow_button.setObjectName("plots.follow")
        self.follow_button.setAccessibleName("Follow the newest steps")
        self.follow_button.setToolTip("after you zoomed or panned: show the whole run again, growing with it")
        self.follow_button.clicked.connect(self.follow)
        self.follow_button.hide()
        layout.addWidget(self.follow_button)
        # the branches drawn over this one, said once for every plot: named in each plot's legend, three
        # branches or more made a legend wider than its plot, and the plots wider than the window
        self.branch_key = QLabel()
        self.branch_key.setObjectName("plots.branches")
        self.branch_key.setAccessibleName("Branches drawn over the selected one")
        self.branch_key.setWordWrap(True)
        self.branch_key.setStyleSheet(f"color: {LEGEND_COLOUR}; font-size: {LEGEND_SIZE};")
        self.branch_key.setToolTip("the selected branch (the chooser above the tricks) is drawn in each plot's "
                                   "own colours; every other branch over it in its colour, from the step where "
                                   "it left the shared history on (a dotted line in its colour marks that step)")
        self.branch_key.hide()
        layout.addWidget(self.branch_key)

        self.canvas = TimedCanvas()
        self.canvas.setObjectName("plots.canvas")
        self.canvas.setAccessibleName("Training curves")
        self.canvas.setBackground("w")
        self.canvas.ci.setContentsMargins(0, 0, 8, 0)   # the last step's tick label is not cut at the edge
        self.canvas.ci.layout.setSpacing(PLOT_GAP)
        self.scroll = QScrollArea()
        self.scroll.setObjectName("plots.scroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setWidget(self.canvas)
        self.scroll.viewport().installEventFilter(self)
        layout.addWidget(self.scroll, 1)

        self.plots: dict[str, pg.PlotItem] = {}
        self.cells: dict[str, pg.GraphicsLayout] = {}   # a plot with its legend beneath
        self.legends: dict[str, pg.LabelItem] = {}
        self.curves: dict[str, tuple[str, int, pg.PlotDataItem]] = {}
        self.raw_curves: dict[str, pg.PlotDataItem] = {}
        self.spikes: dict[str, pg.ScatterPlotItem] = {}
        self.flags: dict[str, list[tuple[int, pg.TextItem]]] = {}   # per plot: (step, flag) of each change
        self.shown: dict[str, bool] = {}                              # per plot: whether this run has it
        self._smoothers: dict[str, Smoother] = {}
        self.references: dict[str, pg.InfiniteLine] = {}   # HQ's cap, reverse KL's floor
        for name, title, series, source in PLOTS:
            p = self._add_plot(name, title, [(label, pen) for _, label, pen in series])
            cols = COLUMNS[source]
            for column, label, pen in series:
                key = f"{name}.{column}"
                if source == "metrics":
                    self.raw_curves[key] = p.plot(pen=faint(pen))
                    self._smoothers[key] = Smoother()
                    # a dot only while the curve holds one point (step 1 of a fresh run): lone_dot
                    curve = p.plot(pen=pen, symbol=None, symbolSize=LONE_POINT_PX, symbolPen=pen,
                                   symbolBrush=pen.color())
                else:
                    curve = p.plot(pen=pen, symbol=None, symbolSize=LONE_POINT_PX, symbolPen=pen,
                                   symbolBrush=pen.color())
                self.curves[key] = (source, cols.index(column), curve)
        # the model family's own numbers (test accuracy, conditional accuracy, ...), the width of the grid
        self._add_plot("family", "", [])
        self.family_curves: dict[str, pg.PlotDataItem] = {}
        # an empty family or image plot says why: its numbers come with the run's evaluations (eval_every)
        self.notes: dict[str, pg.TextItem] = {}
        for name in ("family",) + IMAGE_PLOTS:
            note = self.notes[name] = pg.TextItem("", color=LEGEND_COLOUR, anchor=(0.5, 0.5))
            note.setZValue(20)
            note.hide()
            self.plots[name].addItem(note, ignoreBounds=True)
            self.plots[name].vb.sigRangeChanged.connect(lambda *_, n=name: self._place_note(n))
        self.family_note = self.notes["family"]
        self.shown.update({name: name in ("losses", "d_outputs", "grad_norms") for name in self.plots})
        self.markers: list[list[pg.InfiniteLine]] = []
        self._flag_font = QFont()
        self._flag_font.setPointSize(FLAG_PT)
        self._grid_key = None
        self._session = None
        self._drawn = None
        self._version = -1
        self.redraws = 0               # how often new points were drawn (the benchmark checks it)
        self._refresh_cpu_s = 0.0      # GUI-thread CPU time of refresh() (cpu_s adds the canvas's paints)
        self._follow_x = True          # until the user pans or zooms the plots themselves
        self._setting_x = False
        self._x_range = (0.0, 10.0)
        self._warnings: list[str] = []
        # other branches of the run, drawn over this one (app/branches.py): (label, colour, state,
        # the last step they share with it); their curves and branch-point lines, per plot
        self.overlays: list[tuple[str, tuple, StudioState, float]] = []
        self.overlay_curves: dict[tuple[int, str], pg.PlotDataItem] = {}
        self._overlay_smoothers: dict[tuple[int, str], Smoother] = {}
        self.branch_lines: list[tuple[str, pg.InfiniteLine]] = []
        self._smoothing_changed(self.smoothing.value())
        self._reflow(force=True)

    def _add_plot(self, name: str, title: str, legend: list) -> pg.PlotItem:
        self.flags[name] = []
        self.shown[name] = False
        cell = pg.GraphicsLayout()
        cell.setContentsMargins(0, 0, 0, 0)
        cell.layout.setSpacing(0)
        p = pg.PlotItem(axisItems={"left": SparseLogAxis("left")} if name in LOG_PLOTS else None)
        cell.addItem(p, row=0, col=0)
        p.setMinimumSize(MIN_PLOT_W - PLOT_GAP, MIN_PLOT_H)
        p.setTitle(title, size=f"{TITLE_PT}pt")
        p.layout.setRowFixedHeight(0, 2 * TITLE_PT + 4)
        p.titleLabel.setMaximumHeight(2 * TITLE_PT + 4)
        p.showGrid(x=True, y=True, alpha=0.2)
        cache_axes(p)
        p.setClipToView(True)
        p.setDownsampling(auto=True, mode="peak")
        if name in LOG_PLOTS:
            p.setLogMode(y=True)
        # ranges are set here (x to the last step, y robustly), never by pyqtgraph's auto-range: an
        # axis whose range changes is laid out and its text drawn again
        p.enableAutoRange(x=False, y=False)
        p.vb.sigXRangeChanged.connect(lambda _vb, r, n=name: self._x_moved(n, r))
        p.vb.sigRangeChanged.connect(lambda *_, n=name: self._layout_flags(n))
        p.vb.sigYRangeChanged.connect(lambda _vb, r, n=name: self._show_reference_label(n, r))
        p.vb.sigResized.connect(lambda *_, n=name: self._layout_flags(n))
        spikes = pg.ScatterPlotItem(size=8, pen=None, brush=SPIKE_BRUSH, hoverable=True,
                                    tip=lambda x, y, data: f"step {x:.0f}: {data:.4g} (outside the range; "
                                                           "tick Show outliers to see it)")
        spikes.setZValue(15)
        p.addItem(spikes, ignoreBounds=True)
        self.spikes[name] = spikes
        label = pg.LabelItem("", size=LEGEND_SIZE, color=LEGEND_COLOUR)
        label.setText(legend_html(legend), size=LEGEND_SIZE, color=LEGEND_COLOUR)
        self.legend_series = getattr(self, "legend_series", {})
        self.legend_series[name] = list(legend)
        cell.addItem(label, row=1, col=0)
        self.plots[name], self.cells[name], self.legends[name] = p, cell, label
        return p

    # -- layout -----------------------------------------------------------------------------------
    def eventFilter(self, obj, event) -> bool:
        if obj is self.scroll.viewport() and event.type() == QEvent.Type.Resize:
            self._reflow()
        return super().eventFilter(obj, event)

    def columns_for(self, width: int, n: int) -> int:
        return max(1, min(n, (width - 8 + PLOT_GAP) // MIN_PLOT_W)) if n else 1

    def _reflow(self, force: bool = False) -> None:
        """Place the shown plots in as many columns as the panel's width holds; the family's plot
        takes a row of its own across all of them. Taller than the panel, the canvas scrolls."""
        names = [n for n in self.plots if self.shown[n] and n != "family"]
        # the columns the scroll area's whole width holds, when they fit its height; else the columns
        # beside a scroll bar (sized by the viewport, which a shown bar narrows, a layout that did
        # fit without one kept the bar, and one column fewer, for good)
        ncols = self.columns_for(self.scroll.width(), len(names))
        if self.height_for(ncols) > self.scroll.height():
            ncols = self.columns_for(self.scroll.width() - self.scroll.verticalScrollBar().sizeHint().width(),
                                     len(names))
        key = (ncols, tuple(names), self.shown["family"])
        if key == self._grid_key and not force:
            return
        self._grid_key = key
        ci = self.canvas.ci
        for cell in self.cells.values():
            if cell in ci.items:
                ci.removeItem(cell)
        for i, name in enumerate(names):
            # the last plot of a short row takes the rest of it (no empty cell beside it)
            span = ncols - i % ncols if i == len(names) - 1 else 1
            ci.addItem(self.cells[name], row=i // ncols, col=i % ncols, colspan=span)
        rows = name_rows = (len(names) + ncols - 1) // ncols
        if self.shown["family"]:
            ci.addItem(self.cells["family"], row=rows, col=0, colspan=ncols)
            rows += 1
        # the step numbers under the bottom row only: the plots share their x axis, and an axis's
        # text is what costs most to paint each time the axis moves. The last plot spans the rest of
        # its row, so every plot of the rows above has one below it: the bottom row is the last row
        for i, name in enumerate(names):
            self.plots[name].getAxis("bottom").setStyle(showValues=i // ncols == name_rows - 1)
        grid = ci.layout
        for r in range(grid.rowCount()):
            grid.setRowStretchFactor(r, 1 if r < rows else 0)
        for c in range(grid.columnCount()):
            grid.setColumnStretchFactor(c, 1 if c < ncols else 0)
        self.canvas.setMinimumHeight(self.height_for(ncols))

    def height_for(self, ncols: int) -> int:
        """The canvas's least height with this run's plots in ``ncols`` columns."""
        n = sum(1 for name in self.plots if self.shown[name] and name != "family")
        rows = (n + ncols - 1) // ncols + (1 if self.shown["family"] else 0)
        return rows * (MIN_PLOT_H + LEGEND_PX + PLOT_GAP)

    def width_to_fit(self) -> int:
        """The width of the canvas at which this run's plots fit the panel's height without scrolling: as
        many columns as that takes (the family's plot a row of its own, as _reflow lays them out), the
        key of the branches above them wrapped as at that width (measured where it took two lines, four
        branches' plots 'needed' three columns at 1280x720, got two fifths of the row and one column)."""
        names = [n for n in self.plots if self.shown[n] and n != "family"]
        # columns_for's inverse, for each number of columns
        widths = [c * MIN_PLOT_W + 8 - PLOT_GAP for c in range(1, max(1, len(names)) + 1)]
        return next((w for c, w in enumerate(widths, 1) if self.height_for(c) <= self._scroll_height_at(w)),
                    widths[-1])

    def _scroll_height_at(self, width: int) -> int:
        """The plots' scroll area's height with the panel about ``width`` wide (the key rewrapped)."""
        key = self.branch_key
        if key.isHidden():
            return self.scroll.height()
        return self.scroll.height() + key.height() - key.heightForWidth(width)

    def is_shown(self, name: str) -> bool:
        """Whether a plot is on the canvas (this run has it)."""
        return self.cells[name] in self.canvas.ci.items

    @property
    def ncols(self) -> int:
        return self._grid_key[0] if self._grid_key else 1

    # -- drawing ----------------------------------------------------------------------------------
    def set_state(self, state: StudioState) -> None:
        """Draw another branch's state in full (the window's branch chooser)."""
        self.state = state
        self._session = None
        self._version = -1

    def set_overlays(self, overlays: list[tuple[str, tuple, StudioState, float]], selected: str = "") -> None:
        """Draw other branches over this one, each in its colour from the step where it left the
        shared history on (the history before it is the same run: drawn once); a dotted line in the
        branch's colour marks that step. ``overlays``: (label, colour, state, shared-until step);
        ``selected``: the name of the branch drawn in the plots' own colours (branch_key says it)."""
        for (i, key), curve in self.overlay_curves.items():
            self.plots[key.split(".")[0]].removeItem(curve)
        for name, line in self.branch_lines:
            self.plots[name].removeItem(line)
        self.overlay_curves, self._overlay_smoothers, self.branch_lines = {}, {}, []
        self.overlays = list(overlays)
        for i, (label, colour, state, until) in enumerate(self.overlays):
            for name, _title, series, source in PLOTS:
                for j, (column, _label, _pen) in enumerate(series):
                    style = Qt.PenStyle.SolidLine if j == 0 else Qt.PenStyle.DashLine
                    pen = pg.mkPen(colour, width=1.5, style=style)
                    # evaluations: a dot for a lone point (draw_points); per-step curves: never a symbol
                    dots = {} if source == "metrics" else {"symbolSize": LONE_POINT_PX, "symbolPen": pen,
                                                           "symbolBrush": pg.mkBrush(colour)}
                    curve = self.plots[name].plot(pen=pen, symbol=None, **dots)
                    curve.setZValue(-1)   # under the selected branch's curves
                    self.overlay_curves[(i, f"{name}.{column}")] = curve
                    self._overlay_smoothers[(i, f"{name}.{column}")] = Smoother()
                if 0 <= until < float("inf"):
                    line = pg.InfiniteLine(pos=until, angle=90,
                                           pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DotLine))
                    line.setToolTip(f"{label}: the branches share the history up to step {until:.0f}")
                    self.plots[name].addItem(line, ignoreBounds=True)
                    self.branch_lines.append((name, line))
        self.branch_key.setText(branch_key_html(selected, [(label, pg.mkPen(colour, width=1.5))
                                                           for label, colour, _s, _u in self.overlays]))
        self.branch_key.setVisible(bool(self.overlays))
        self._drawn = None
        self._version = -1

    def _overlay_version(self) -> tuple:
        return tuple((o[2].version, o[2].metrics.n, o[2].evals.n, o[2].logged.n) for o in self.overlays)

    def _draw_overlays(self, weight: float) -> None:
        for (i, key), curve in self.overlay_curves.items():
            name = key.split(".")[0]
            if not self.shown[name]:
                continue
            _label, _colour, st, until = self.overlays[i]
            source, col, _ = self.curves[key]
            arr = source_rows(st, source)
            x, y = arr[:, 0], arr[:, col]
            if name in LOG_PLOTS:            # a log axis has no place for 0 or NaN
                keep = np.isfinite(y) & (y > 0)
            elif source != "metrics":         # evaluations: the defined ones
                keep = np.isfinite(y)
            else:                             # per-step curves: gaps stay gaps (connect="finite")
                keep = np.ones(len(y), bool)
            x, y = x[keep], y[keep]
            if not len(y) or not np.isfinite(y).any():
                curve.clear()
                continue
            if source == "metrics":
                y = self._overlay_smoothers[(i, key)](x, y, weight)
            start = np.searchsorted(x, until, side="left") if until < float("inf") else len(x)
            start = max(0, min(start, len(x)))   # from the shared step on, so the branch joins its parent
            if source == "metrics":
                curve.setData(x[start:], y[start:], connect="finite")
            else:
                draw_points(curve, x[start:], y[start:], dotted=name in DOTTED_PLOTS)

    @property
    def cpu_s(self) -> float:
        """GUI-thread CPU seconds the plots have cost so far: their refreshes and the canvas's paints."""
        return self._refresh_cpu_s + self.canvas.cpu_s

    def refresh(self) -> None:
        t = time.thread_time()
        try:
            self._refresh()
        finally:
            self._refresh_cpu_s += time.thread_time() - t

    def _refresh(self) -> None:
        st = self.state
        if st.session is not self._session:
            self._begin_session()
        version = (st.version, self._overlay_version())
        if version == self._version:
            return
        self._version = version
        n = (st.metrics.n, st.evals.n, st.logged.n, st.image_evals.n, len(st.family_evals), self._overlay_version())
        if n != self._drawn:
            self._draw_curves()
            self._drawn = n
            self.redraws += 1
            m = st.metrics.data
            lasts = ([float(m[-1, 0])] if len(m) else []) + [
                float(o[2].metrics.data[-1, 0]) for o in self.overlays if o[2].metrics.n]
            if lasts:   # every branch's newest step in view
                self._grow_x(max(lasts), float(m[0, 0]) if len(m) else 0.0)
            if self._follow_x:
                for name in self.plots:
                    if self.shown[name]:
                        self._fit_y(name)
        if len(self.markers) < len(st.events):
            new_events = st.events[len(self.markers):]
            while len(self.markers) < len(st.events):
                self._add_marker(st.events[len(self.markers)])
            for name in self.plots:
                self._layout_flags(name)
            if any(isinstance(e, dict) and e.get("key") == "train.eval_every" for e in new_events):
                self._update_notes(self._measured())   # "every N steps" says the new N at once
        self._update_warnings()

    def _draw_curves(self) -> None:
        st = self.state
        weight = self.smoothing.value() / 100
        for key, (source, col, curve) in self.curves.items():
            if not self.shown[key.split(".")[0]]:
                continue
            arr = source_rows(st, source)
            x, y = arr[:, 0], arr[:, col]
            if source != "metrics":
                # evaluations are few: plot only the defined ones (reverse KL is n/a without HQ samples)
                keep = np.isfinite(y)
                draw_points(curve, x[keep], y[keep], dotted=key.split(".")[0] in DOTTED_PLOTS)
                continue
            if key.split(".")[0] in LOG_PLOTS:   # a log axis has no place for 0 or NaN
                keep = np.isfinite(y) & (y > 0)
                x, y = x[keep], y[keep]
            if not np.isfinite(y).any():
                continue
            smooth = self._smoothers[key](x, y, weight)
            self.raw_curves[key].setData(x, y, connect="finite")
            self.raw_curves[key].setVisible(weight > 0)
            curve.setData(x, smooth, connect="finite")
            lone_dot(curve, np.count_nonzero(np.isfinite(smooth)) == 1)
        for key, curve in self.family_curves.items():
            pts = [(step, row[key]) for step, row in st.family_evals if key in row]
            if pts:
                xy = np.array(pts, dtype=float)
                draw_points(curve, xy[:, 0], xy[:, 1], dotted=True)
        self._update_notes(self._measured())
        if self.overlays:
            self._draw_overlays(weight)

    def _set_x(self, lo: float, hi: float, source: str | None = None) -> None:
        self._setting_x = True
        try:
            self._x_range = (lo, hi)
            for name, p in self.plots.items():
                if name != source and self.shown[name]:   # a plot this run lacks follows when shown
                    p.setXRange(lo, hi, padding=0)
        finally:
            self._setting_x = False

    def _grow_x(self, last: float, first: float) -> None:
        if not self._follow_x:
            return
        lo, hi = min(first, 0.0), x_end(last)
        # the newest point's dot whole inside every plot: LAST_POINT_PX of room on the narrowest
        widths = [p.vb.width() for n, p in self.plots.items() if self.shown[n] and p.vb.width() > 0]
        if widths:
            hi = x_end(last, LAST_POINT_PX * (hi - lo) / min(widths))
        if (lo, hi) != self._x_range:
            self._set_x(lo, hi)

    def _x_moved(self, name: str, r) -> None:
        """The user panned or zoomed one plot: the others follow it, and the x axis stops growing."""
        if self._setting_x:
            return
        lo, hi = float(r[0]), float(r[1])
        if None in self._x_range:
            return   # nothing drawn since follow(): no range of ours to tell a user's from
        if abs(lo - self._x_range[0]) + abs(hi - self._x_range[1]) <= 1e-9 * max(1.0, abs(hi)):
            return   # a resize re-announcing the range we set
        if self._follow_x:
            self._follow_x = False
            self.follow_button.show()
        self._set_x(lo, hi, source=name)

    def _plot_data(self, name: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """The (x, y) of each raw curve of a plot, as drawn."""
        if name == "family":
            curves = list(self.family_curves.values())
        else:
            curves = [self.raw_curves.get(k, c) for k, (_, _, c) in self.curves.items() if k.startswith(name + ".")]
            curves += [c for (_, k), c in self.overlay_curves.items() if k.startswith(name + ".")]
        return [(c.xData, c.yData) for c in curves if c.yData is not None and len(c.yData)]

    def _fit_y(self, name: str, force: bool = False) -> None:
        """A y-range that outliers do not decide (or every point, with Show outliers); it moves only when
        the wanted range leaves it or fills less than half of it. Points beyond it become spikes."""
        p = self.plots[name]
        data = self._plot_data(name)
        if not data:
            self.spikes[name].clear()
            return
        log = name in LOG_PLOTS
        y_all = np.concatenate([y for _, y in data])
        wanted = robust_range(y_all, log=log, robust=not self.show_all.isChecked())
        if wanted is None:
            return
        lo, hi = wanted
        if name in COUNT_PLOTS:   # counts start at 0 and a flat 0 must stay in view
            lo, hi = -0.3, max(hi, 1.0) + 0.3
        if name in SHARE_PLOTS:   # nothing lies beyond [0, 1]: no axis past it
            lo, hi = max(lo, SHARE_RANGE[0]), min(hi, SHARE_RANGE[1])
        cur_lo, cur_hi = p.viewRange()[1]
        if force or not (cur_lo <= lo and hi <= cur_hi and hi - lo >= 0.5 * (cur_hi - cur_lo)):
            p.setYRange(lo, hi, padding=0)
            cur_lo, cur_hi = lo, hi
        self._mark_spikes(name, data, cur_lo, cur_hi, log)

    def _mark_spikes(self, name: str, data, lo: float, hi: float, log: bool) -> None:
        xs, ys, values, symbols = [], [], [], []
        inset = 0.04 * (hi - lo)
        for x, y in data:
            v = np.log10(np.where(y > 0, y, np.nan)) if log else y
            with np.errstate(invalid="ignore"):
                for mask, at, symbol in ((v > hi, hi - inset, "t1"), (v < lo, lo + inset, "t")):
                    idx = np.flatnonzero(mask)
                    if len(idx) > MAX_SPIKES:   # the biggest ones
                        idx = idx[np.argsort(np.abs(v[idx]))[-MAX_SPIKES:]]
                    xs.append(x[idx])
                    ys.append(np.full(len(idx), at))
                    values.append(y[idx])
                    symbols += [symbol] * len(idx)
        if not symbols:
            self.spikes[name].clear()
            return
        self.spikes[name].setData(x=np.concatenate(xs), y=np.concatenate(ys), symbol=symbols,
                                  data=np.concatenate(values))

    def spike_count(self, name: str) -> int:
        return len(self.spikes[name].data)

    def follow(self) -> None:
        """Follow the newest steps again (after the user panned or zoomed)."""
        self._follow_x = True
        self.follow_button.hide()
        self._x_range = (None, None)
        self._drawn = None
        self._version = -1

    def _smoothing_changed(self, value: int) -> None:
        self.smoothing_value.setText(f"{value / 100:.2f}")
        self._drawn = None
        self._version = -1
        if self.state.session is not None and self._session is self.state.session:
            self.refresh()

    def _show_all_changed(self, _on: bool) -> None:
        for name in self.plots:
            if self.shown[name]:
                self._fit_y(name, force=True)

    def _begin_session(self) -> None:
        self._session = s = self.state.session
        for lines in self.markers:
            for line in lines:
                if line.getViewBox() is not None:
                    line.getViewBox().removeItem(line)
        for name, flags in self.flags.items():
            for _, flag in flags:
                self.plots[name].removeItem(flag)
            flags.clear()
        self.markers = []
        for smoother in self._smoothers.values():
            smoother.reset()
        for key, (_, _, curve) in self.curves.items():
            curve.clear()
            if key in self.raw_curves:
                self.raw_curves[key].clear()
        for spikes in self.spikes.values():
            spikes.clear()
        self._drawn = None
        self._version = -1
        self.follow()
        has_modes = s is not None and s.modes is not None
        for name in MODE_PLOTS:
            self.shown[name] = has_modes
        self._reference_lines(len(s.modes) if has_modes else 0)
        for name in IMAGE_PLOTS:
            self.shown[name] = s is not None and s.image_metrics
        fam = self.plots["family"]
        for curve in self.family_curves.values():
            fam.removeItem(curve)
        self.family_curves = {}
        plot = s.family_plot if s is not None else None
        self.shown["family"] = bool(plot)
        self._x_range = (None, None)   # the next redraw sets every shown plot's x range
        if plot:
            title, series = plot
            fam.setTitle(title, size=f"{TITLE_PT}pt")
            pens = []
            for i, (key, label) in enumerate(series):
                pen = FAMILY_PENS[i % len(FAMILY_PENS)]
                pens.append((label, pen))
                self.family_curves[key] = fam.plot(pen=pen, symbol="o", symbolSize=DOT_PX,
                                                   symbolPen=pen, symbolBrush=pen.color())
            self.legends["family"].setText(legend_html(pens), size=LEGEND_SIZE, color=LEGEND_COLOUR)
        self._reflow(force=True)
        self._update_notes({name: False for name in self.notes})

    def _eval_every(self) -> int:
        """train.eval_every as the run has it now (switched live since it began: its newest set event)."""
        every = self.state.session.config.train.eval_every
        for e in self.state.events:
            if isinstance(e, dict) and e.get("event") == "set" and e.get("key") == "train.eval_every":
                every = e.get("value", every)
        return every

    def _measured(self) -> dict[str, bool]:
        """Which of the plots measured every train.eval_every steps have a point yet."""
        family = any(c.xData is not None and len(c.xData) > 0 for c in self.family_curves.values())
        return {"family": family, **{n: self.state.image_evals.n > 0 for n in IMAGE_PLOTS}}

    def _update_notes(self, measured: dict[str, bool]) -> None:
        """While the family's or an image plot has no point: say that its numbers come every
        train.eval_every steps (cgan-digits measures at step 500: an empty plot until then said nothing).
        An image plot's legend says what its numbers are and when they are measured, always."""
        s = self.state.session
        every = self._eval_every() if s is not None else 0
        for name, done in measured.items():
            note = self.notes[name]
            if done or not self.shown[name] or s is None:
                note.hide()
                continue
            # a plot of one column is narrow (about 190 px at 1280x720): its note takes two lines
            gap = " " if name == "family" else "\n"
            note.setText(f"measured every {every:,} steps:{gap}none yet")
            note.show()
            self._place_note(name)
        if s is not None and s.image_metrics:
            for name in IMAGE_PLOTS:
                text = legend_html(self.legend_series[name]) + f"&nbsp;&nbsp; every {every:,} steps"
                self.legends[name].setText(text, size=LEGEND_SIZE, color=LEGEND_COLOUR)
                self.cells[name].setToolTip(IMAGE_PLOT_TIPS[name].format(every=every))

    def _place_note(self, name: str) -> None:
        note = self.notes[name]
        if note.isVisible():
            (x0, x1), (y0, y1) = self.plots[name].viewRange()
            note.setPos((x0 + x1) / 2, (y0 + y1) / 2)

    def _reference_lines(self, k: int) -> None:
        """What a perfect generator scores: HQ's cap and reverse KL's sampling floor, dashed."""
        for name, line in self.references.items():
            self.plots[name].removeItem(line)
        self.references = {}
        if k < 2:
            return
        for name, value, text in (("hq", HQ_CAP, f"cap {HQ_CAP:.1f} %"),
                                  ("rkl", (k - 1) / (2 * N_EVAL), f"floor {(k - 1) / (2 * N_EVAL):.4f}")):
            line = pg.InfiniteLine(pos=value, angle=0, pen=REFERENCE_PEN, label=text,
                                   # under the line in the upper half of the view, over it in the lower
                                   # (reverse KL's floor sits at the bottom: hung under it, its label was cut)
                                   labelOpts={"position": 0.95, "color": LEGEND_COLOUR, "anchors": [(1, 0), (1, 1)]})
            self.plots[name].addItem(line, ignoreBounds=True)
            self.references[name] = line
            self._show_reference_label(name, self.plots[name].viewRange()[1])

    def _show_reference_label(self, name: str, y_range) -> None:
        """A reference line's label only while its line is in view: hung from a line just above the
        view ('cap 98.9 %' over an HQ axis that ends at 90) it was cut in half at the plot's top."""
        line = self.references.get(name)
        if line is not None:
            line.label.setVisible(bool(y_range[0] <= line.value() <= y_range[1]))

    # -- change flags -------------------------------------------------------------------------------
    def _add_marker(self, event: dict) -> None:
        pen = NAN_PEN if event.get("event") in ("diverged", "step_failed") else MARKER_PEN
        step = event.get("step", 0)
        lines = []
        for name, p in self.plots.items():
            line = pg.InfiniteLine(pos=step, angle=90, pen=pen, movable=False)
            p.addItem(line, ignoreBounds=True)
            lines.append(line)
            flag = pg.TextItem(marker_label(event), color=pen.color(), anchor=(0, 0), fill=FLAG_FILL,
                               border=pg.mkPen(pen.color(), width=1))
            flag.setFont(self._flag_font)
            tip = flag_tooltip(event)
            flag.setToolTip(tip)
            flag.textItem.setToolTip(tip)
            flag.setZValue(20)
            p.addItem(flag, ignoreBounds=True)
            self.flags[name].append((step, flag))
        self.markers.append(lines)

    def _layout_flags(self, name: str) -> None:
        """Put each flag at the top of the plot beside its line (left of it near the right edge), in
        the first row where it overlaps no other: near changes stack instead of covering each other."""
        flags = self.flags.get(name)
        if not flags or not self.shown.get(name):
            return
        vb = self.plots[name].vb
        rect = vb.sceneBoundingRect()
        if rect.width() <= 0 or rect.height() <= 0:
            return
        (x0, x1), (_, y1) = vb.viewRange()
        order = sorted(range(len(flags)), key=lambda i: flags[i][0])
        placed, spans = [], []
        for i in order:
            step, flag = flags[i]
            if not x0 <= step <= x1:
                flag.hide()
                continue
            size = flag.textItem.boundingRect()
            x = vb.mapViewToScene(QPointF(step, y1)).x()
            # beside its line, right of it where it fits, else left of it; never past the plot's edges
            # (a flag wider than the room either side of its line was cut at the left edge)
            left = x if x + size.width() <= rect.right() else x - size.width()
            left = max(rect.left(), min(left, rect.right() - size.width()))
            placed.append((flag, left, size.height()))
            spans.append((left, left + size.width()))
        rows = stack_rows(spans, gap=2.0)
        for (flag, left, h), row in zip(placed, rows):
            if (row + 1) * (h + 1) > FLAG_HEIGHT_SHARE * rect.height():
                flag.hide()
                continue
            flag.setPos(vb.mapSceneToView(QPointF(left, rect.top() + 1 + row * (h + 1))))
            flag.show()

    def _update_warnings(self) -> None:
        st = self.state
        loss = st.session.config.loss if st.session is not None else "non-saturating"
        warnings = ([st.diverged_message] if st.diverged_message else []) + \
            health_warnings(st.metrics.data, loss)
        if warnings != self._warnings:
            self._warnings = warnings
            self.warning.setText("\n".join("\u26a0 " + w for w in warnings))
            self.warning.setVisible(bool(warnings))

    @property
    def warnings(self) -> list[str]:
        return list(self._warnings)

    def marker_labels(self, plot: str = "losses") -> list[str]:
        """The flag texts on one plot (what a user reads on it), in the order of the events."""
        return [flag.textItem.toPlainText() for _, flag in self.flags[plot]]
