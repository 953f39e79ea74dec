"""The 2-D distribution view: samples over D's heatmap, G's gradient arrows, mode means coloured by
capture, a per-mode bar chart, a mode-occupancy timeline, a history scrubber and a point drawer."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSizePolicy,
                               QSlider, QSplitter, QVBoxLayout, QWidget)

from gan_studio.app.history import HistoryScrubber, StudioState
from gan_studio.app.plot_style import ModeAxis, SpacedAxis, cache_axes, fit_title
from gan_studio.session.payloads import Frame, eval_summary

REAL_BRUSH = pg.mkBrush(110, 110, 110, 140)
FAKE_BRUSH = pg.mkBrush(220, 50, 30, 200)
DRAWN_BRUSH = pg.mkBrush(30, 90, 220, 230)
CAPTURED_PEN = pg.mkPen((20, 160, 60), width=2.5)
MISSED_PEN = pg.mkPen((20, 20, 20), width=2.5)
CAPTURED_BRUSH = pg.mkBrush(40, 170, 70)
MISSED_BRUSH = pg.mkBrush(160, 160, 160)
ARROW_PEN = pg.mkPen((40, 40, 40, 170), width=1)
#: D low (looks fake) blue, D high (looks real) orange; the middle is white so samples stay visible
HEAT_LUT = pg.ColorMap([0.0, 0.5, 1.0], [(90, 130, 210), (248, 248, 248), (235, 160, 80)]).getLookupTable(nPts=256)
OCCUPANCY_LUT = pg.colormap.get("viridis").getLookupTable(nPts=256)
#: the longest arrow, as a share of the view's width
ARROW_LENGTH = 0.08
#: a painted stroke adds a point every this share of the view's width
PAINT_SPACING = 0.015
#: the bar chart and the timeline are at least this wide and tall (px)
SIDE_MIN = 140
#: ... and, side by side beneath a narrow scatter, at least this wide: eight bars of 10 px; the
#: selected branch's view beside another's (262 px at 1280x720) then keeps its scatter square
SIDE_MIN_BESIDE = 125
#: the side plots go right of the scatter when the panel is this much wider than tall, else below it
WIDE = 1.25
#: no coordinate beyond this is drawn or framed: Qt and pyqtgraph work in float32-ish ranges, and a
#: diverging G (or a wild data set) would otherwise ask for a range of [-inf, inf] and hang the view
VIEW_LIMIT = 1e9


def finite_bounds(bounds) -> tuple[float, float, float, float]:
    """x0, x1, y0, y1 made safe to frame: finite (float64), within +-VIEW_LIMIT, each span > 0;
    anything unusable falls back to the unit square's frame."""
    try:
        x0, x1, y0, y1 = (float(v) for v in bounds)
    except (TypeError, ValueError, OverflowError):
        return -1.5, 1.5, -1.5, 1.5
    out = []
    for lo, hi in ((x0, x1), (y0, y1)):
        if not (np.isfinite(lo) and np.isfinite(hi)) or not hi > lo:
            lo, hi = -1.5, 1.5
        lo, hi = max(lo, -VIEW_LIMIT), min(hi, VIEW_LIMIT)
        if not hi > lo:
            lo, hi = -1.5, 1.5
        out += [lo, hi]
    return tuple(out)


def drawable(points) -> np.ndarray:
    """The (N, 2) rows of ``points`` that are finite and within +-VIEW_LIMIT."""
    if points is None:
        return np.empty((0, 2))
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return pts[np.isfinite(pts).all(1) & (np.abs(pts) <= VIEW_LIMIT).all(1)]


class ModeView(HistoryScrubber, QWidget):
    """Emits ``train_points_requested(points)`` when the user asks to train on drawn points."""
    train_points_requested = Signal(list)

    def __init__(self, state: StudioState, parent=None):
        super().__init__(parent)
        self.state = state
        self.setObjectName("panel.modes")
        self.drawn: list[list[float]] = []
        self.pinned_step: int | None = None      # None: follow the latest view
        self._session = None
        self._drawn_version = None
        self._drawn_evaluations = None   # state.evaluations_added when the bars were drawn
        self.shown_view: Frame | None = None
        self.heat_rect = QRectF(0, 0, 1, 1)
        self.span = 1.0                          # the view's width in data units (arrow and paint scale)

        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("modeview.plot")
        self.plot.setAccessibleName("2-D samples over the discriminator heatmap")
        self.plot.setAspectLocked(True)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.heat = pg.ImageItem()
        self.heat.setLookupTable(HEAT_LUT)
        self.heat.setZValue(-10)
        self.real = pg.ScatterPlotItem(size=3, pen=None, brush=REAL_BRUSH)
        self.fake = pg.ScatterPlotItem(size=4, pen=None, brush=FAKE_BRUSH)
        self.arrows = pg.PlotDataItem(pen=ARROW_PEN, connect="pairs")
        self.means = pg.ScatterPlotItem(size=16, symbol="o", brush=None)
        self.drawn_item = pg.ScatterPlotItem(size=8, symbol="x", pen=None, brush=DRAWN_BRUSH)
        for item in (self.heat, self.real, self.fake, self.arrows, self.means, self.drawn_item):
            self.plot.addItem(item)
        self.plot.viewport().installEventFilter(self)

        self.bars_plot = pg.PlotWidget(background="w", axisItems={"bottom": ModeAxis("bottom")})
        fit_title(self.bars_plot, "HQ samples per mode", "HQ per mode", "HQ / mode")
        self.bars_plot.setObjectName("modeview.bars")
        self.bars_plot.setAccessibleName("Samples per mode")
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8)
        self.bars_plot.addItem(self.bars)
        self.bars_plot.getPlotItem().enableAutoRange(x=False)   # one bar per mode, set per run
        self.timeline_plot = pg.PlotWidget(background="w", axisItems={"bottom": SpacedAxis("bottom"),
                                                                      "left": ModeAxis("left")})
        fit_title(self.timeline_plot, "Mode occupancy over time", "Occupancy")
        self.timeline_plot.setObjectName("modeview.timeline")
        self.timeline_plot.setAccessibleName("Mode occupancy timeline")
        self.timeline_plot.setLabel("bottom", "step")
        self.timeline_plot.setLabel("left", "mode")
        self.timeline = pg.ImageItem()
        self.timeline.setLookupTable(OCCUPANCY_LUT)
        self.timeline_plot.addItem(self.timeline)
        for w in (self.plot, self.bars_plot, self.timeline_plot):
            cache_axes(w.getPlotItem())
        self.timeline_cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen((255, 60, 60), width=1.5))
        self.timeline_plot.addItem(self.timeline_cursor, ignoreBounds=True)
        # a hop of the dominant mode between two of the run loop's evaluations (what the Mode hops
        # plot counts): a white triangle at the mode G jumped to
        self.hop_marks = pg.ScatterPlotItem(size=9, symbol="t1", pen=pg.mkPen((200, 30, 30), width=1.2),
                                            brush=pg.mkBrush(255, 255, 255, 230), hoverable=True,
                                            tip=lambda x, y, data: f"step {x:.0f}: {data}")
        self.hop_marks.setZValue(10)
        self.timeline_plot.addItem(self.hop_marks, ignoreBounds=True)

        def check(name: str, text: str, tip: str) -> QCheckBox:
            c = QCheckBox(text)
            c.setObjectName(f"modeview.{name}")
            c.setAccessibleName(text)
            c.setToolTip(tip)
            c.setChecked(True)
            c.toggled.connect(self._redraw)
            return c

        self.show_heat = check("show_heatmap", "D heatmap", "the discriminator's output behind the samples "
                               "(normalised per frame, so a critic's unbounded values work too)")
        self.show_arrows = check("show_arrows", "G's gradient", "arrows: where G's loss moves each fake sample")
        self.show_real = check("show_real", "real samples", "grey: samples of the data")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("modeview.history")
        self.slider.setAccessibleName("Scrub through recorded steps")
        self.slider.setRange(0, 0)
        self.slider.valueChanged.connect(self._scrubbed)
        self.live_button = QPushButton("Live")
        self.live_button.setObjectName("modeview.live")
        self.live_button.setAccessibleName("Follow the latest step")
        self.live_button.clicked.connect(self.go_live)
        self.step_label = QLabel("no samples yet")
        self.step_label.setObjectName("modeview.step_label")
        self.summary = QLabel("")
        self.summary.setObjectName("modeview.summary")
        self.summary.setAccessibleName("Mode coverage of the shown step")
        # text that changes on every frame must not change the layout: a new size hint would resize
        # the plots beside it, and a resized plot lays out and draws its axes again
        # (the summary takes what room its row has, and never asks for more)
        self.step_label.setFixedWidth(self.step_label.fontMetrics().horizontalAdvance("step 99999999 (history)") + 4)
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)

        self.draw_button = QPushButton("Draw points")
        self.draw_button.setCheckable(True)
        self.draw_button.setObjectName("modeview.draw")
        self.draw_button.setAccessibleName("Draw your own distribution")
        self.draw_button.setToolTip("click or paint on the plot to place points; each becomes a mode")
        self.draw_button.toggled.connect(self._draw_toggled)
        # "Clear", not "Clear points": the row then fits a 1280 px window with a branch beside it
        self.clear_button = self._button("clear_points", "Clear", "remove the drawn points", self.clear_points)
        self.csv_button = self._button("load_csv", "Load CSV...", "points from a file of x,y rows", self._load_csv)
        self.train_button = self._button("train_points", "Train on points",
                                         "start a new run on the drawn points", self._train_points)
        self.drawn_label = QLabel("")
        self.drawn_label.setObjectName("modeview.drawn_count")
        self.drawn_label.hide()   # until points are drawn
        self.image_note = QLabel("The 2-D view shows 2-D data sets; image runs are in the grid browser.")
        self.image_note.setObjectName("modeview.image_note")
        self.image_note.hide()

        self.side = side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.bars_plot)
        side.addWidget(self.timeline_plot)
        self.top = top = QSplitter(Qt.Orientation.Horizontal)
        top.setObjectName("modeview.split")
        top.addWidget(self.plot)
        top.addWidget(side)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        top.setChildrenCollapsible(False)
        self._user_split = False   # once the user drags the splitter, it stays where they put it
        top.splitterMoved.connect(self._split_moved)
        for w in (self.bars_plot, self.timeline_plot):
            w.setMinimumSize(SIDE_MIN_BESIDE, SIDE_MIN)
        # the side's least width is one plot's: _fit_split stacks the two when the panel is narrower
        # than both side by side (their side-by-side least width, asked of a panel laid out wide, kept
        # a branch's view from ever being made that narrow)
        side.setMinimumWidth(SIDE_MIN)
        controls = QGridLayout()
        self._checks = QGridLayout()   # a narrow view puts the third on a line of its own (set_compact)
        self._checks.setColumnStretch(3, 1)
        controls.addWidget(self.summary, 0, 0)   # a line of its own: never cut beside the check boxes
        controls.addLayout(self._checks, 1, 0)
        self._step_row = row1 = QHBoxLayout()
        row1.addWidget(self.slider, 1)
        row1.addWidget(self.live_button)
        controls.addLayout(row1, 2, 0)
        self._draw_row = QGridLayout()
        self._draw_row.setColumnStretch(5, 1)
        controls.addLayout(self._draw_row, 3, 0)
        self.compact = None
        self.set_compact(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.image_note)
        layout.addWidget(top, 1)
        layout.addLayout(controls)

    # -- layout -------------------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_split()

    def _split_moved(self, *_):
        self._user_split = True

    def _fit_split(self) -> None:
        """Give the scatter a square: the data's frame fills it (a locked aspect ratio in a tall or
        wide box would show +-3 around data in +-1.5). The bar chart and the timeline take the rest,
        beside the scatter in a wide panel, beneath it in a tall one."""
        if self._user_split or not self.side.isVisibleTo(self):
            return
        w, h = self.top.width(), self.top.height()
        if w <= 0 or h <= 0:
            return
        handle = self.top.handleWidth()
        both = 2 * SIDE_MIN + self.side.handleWidth()   # the bars and the timeline side by side
        wide = w >= WIDE * h
        # too narrow for the bars beside the timeline (a branch's view in a dock beside the selected
        # one's): the bars go above the timeline, both beneath the scatter; unless stacked they leave
        # the scatter less than its square and they fit side by side at SIDE_MIN_BESIDE (stacked, the
        # selected branch's view at 1280x720 drew its scatter 262 x 150 px: the data in 128 px)
        stacked_square = h - both - handle
        narrow = not wide and w < both and (w < 2 * SIDE_MIN_BESIDE + self.side.handleWidth() or stacked_square >= w)
        self.top.setOrientation(Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical)
        self.side.setOrientation(Qt.Orientation.Vertical if wide or narrow else Qt.Orientation.Horizontal)
        along, across = (w, h) if wide else (h, w)
        side_need = both if narrow else SIDE_MIN
        square = max(min(across, along - side_need - handle), along // (3 if narrow else 2))
        self.top.setSizes([square, along - square - handle])

    def _button(self, name: str, text: str, tip: str, slot) -> QPushButton:
        b = QPushButton(text)
        b.setObjectName(f"modeview.{name}")
        b.setAccessibleName(text)
        b.setToolTip(tip)
        b.clicked.connect(slot)
        return b

    def set_state(self, state: StudioState) -> None:
        """Draw another branch's state (the window's branch chooser)."""
        self.state = state
        self._session = None
        self._drawn_version = None
        self._drawn_evaluations = None
        self.shown_view = None

    #: a view of another branch beside the selected one (app/branches.py): it does not draw data sets
    branch_view = False

    def set_compact(self, compact: bool) -> None:
        """The controls in a narrow form, or in one row each. Compact: the check boxes on two lines, the
        step on a third, the summary on two lines (always two: a line count that followed
        the numbers would lay the plots above it out again on every frame), the point buttons two by
        two. A branch's view is always compact; the selected one while another branch's view is beside
        it (the window then leaves the live plots room for two columns at 1280x720: in one row the
        buttons set this view's least width at 372 px, and the plots had one column that scrolled)."""
        if compact == self.compact:
            return
        self.compact = compact
        for w in (self.show_heat, self.show_arrows, self.show_real, self.step_label):
            self._checks.removeWidget(w)
            self._step_row.removeWidget(w)
        self._checks.addWidget(self.show_heat, 0, 0)
        self._checks.addWidget(self.show_arrows, 0, 1)
        if compact:   # the step on a line of its own: beside a check box it set the view's least width
            self._checks.addWidget(self.show_real, 1, 0)
            self._checks.addWidget(self.step_label, 2, 0, 1, 4)
        else:
            self._checks.addWidget(self.show_real, 0, 2)
            self._step_row.insertWidget(0, self.step_label)
        self.summary.setWordWrap(compact)
        if compact:
            self.summary.setFixedHeight(2 * self.summary.fontMetrics().lineSpacing() + 2)
        else:
            self.summary.setMinimumHeight(0)
            self.summary.setMaximumHeight(16777215)
        buttons = (self.draw_button, self.clear_button, self.csv_button, self.train_button, self.drawn_label)
        for w in buttons:
            self._draw_row.removeWidget(w)
        for i, w in enumerate(buttons):
            row, col = divmod(i, 2) if compact else (0, i)
            self._draw_row.addWidget(w, row, col)

    def as_branch_view(self) -> None:
        """A view of a branch beside the selected one: its samples over the data, D's heatmap and G's
        arrows with the same fixed z, and its own mode bars and occupancy timeline, so that the two
        branches' modes are compared as their samples are (the parent on one bar, the branch spread
        over eight). It does not draw new data sets. (Without the bars, a tall narrow dock gave the
        square scatter all its height: the data sat in a third of it, between empty bands.)"""
        self.branch_view = True
        for w in (self.draw_button, self.clear_button, self.csv_button, self.train_button, self.drawn_label):
            w.hide()
        # compact: in one line the check boxes set the narrow dock 22 px wider than the mode bars need
        # (a 1280 px window with a branch grew past its width), and beside the slider the step's label
        # left it 15 px
        self.set_compact(True)

    # -- drawing the state ------------------------------------------------------------------------
    def refresh(self) -> None:
        st = self.state
        if st.session is not self._session:
            self._begin_session()
        if self._drawn_version == st.version:
            return
        self._drawn_version = st.version
        self._set_slider(len(st.views), self._index_to_show())
        if self.state.view_at(self.slider.value()) is not self.shown_view:
            self._redraw()
        elif self._drawn_evaluations != st.evaluations_added:
            # an evaluation without a picture (the last one before a pause comes so): the bars and the
            # timeline follow it as the Mode hops plot does, not the next picture; a report with
            # neither changes nothing here. Called from the window's timer: at most once a tick
            self._draw_evaluation()

    def _index_to_show(self) -> int:
        views = self.state.views
        if self.pinned_step is None or not views:
            return max(0, len(views) - 1)
        steps = np.array([v.step for v in views])
        return int(max(0, np.searchsorted(steps, self.pinned_step, side="right") - 1))

    def _begin_session(self) -> None:
        s = self._session = self.state.session
        self.pinned_step = None
        image = s is not None and s.is_image
        self.image_note.setVisible(image)
        for w in (self.plot, self.bars_plot, self.timeline_plot, self.side):
            w.setVisible(not image)
        if s is None or image:
            return
        self.real.setData(pos=drawable(s.real))
        has_modes = s.modes is not None
        self.bars_plot.setVisible(has_modes)
        self.timeline_plot.setVisible(has_modes)
        self.side.setVisible(has_modes)
        self._fit_split()
        x0, x1, y0, y1 = finite_bounds(s.bounds)
        self.heat_rect = QRectF(x0, y0, x1 - x0, y1 - y0)
        self.plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        self.span = max(x1 - x0, y1 - y0)
        self.heat.clear()
        self.fake.clear()
        self.arrows.setData([], [])
        self.hop_marks.clear()
        if has_modes:
            k = len(s.modes)
            self.means.setData(pos=s.modes, pen=[MISSED_PEN] * k)
            self.bars.setOpts(x=np.arange(k), height=np.zeros(k), width=0.8, brushes=[MISSED_BRUSH] * k)
            self.bars_plot.setXRange(-0.6, k - 0.4, padding=0)
            self.timeline_plot.setYRange(-0.5, k - 0.5, padding=0)
            self.bars_plot.getAxis("bottom").set_modes(k)
            self.timeline_plot.getAxis("left").set_modes(k)
            self.timeline.clear()
        else:
            self.means.clear()
        self._drawn_version = None
        self._drawn_evaluations = None

    def _redraw(self) -> None:
        s = self.state.session
        if s is None or s.is_image:
            return
        v = self.state.view_at(self.slider.value())
        self.shown_view = v
        self.real.setVisible(self.show_real.isChecked())
        if v is None:
            return
        live = self.pinned_step is None
        self.step_label.setText(f"step {v.step}" + (" (live)" if live else " (history)"))
        if v.fake is not None:
            self.fake.setData(pos=drawable(v.fake))   # a diverging G makes NaNs and 3e38s
        if v.heat is not None and self.show_heat.isChecked():
            self.heat.setImage(v.heat, levels=(0, 255), autoLevels=False)
            self.heat.setRect(self.heat_rect)   # after setImage: the rect maps the image's own size
            self.heat.setVisible(True)
        else:
            self.heat.setVisible(False)
        if v.arrows is not None and self.show_arrows.isChecked():
            a = v.arrows[np.isfinite(v.arrows).all(1) & (np.abs(v.arrows) <= VIEW_LIMIT).all(1)]
            longest = float(np.sqrt((a[:, 2:] ** 2).sum(1)).max()) if len(a) else 1.0
            longest = longest or 1.0
            tips = a[:, :2] + a[:, 2:] * (ARROW_LENGTH * self.span / longest)
            xy = np.empty((2 * len(a), 2), np.float32)
            xy[0::2], xy[1::2] = a[:, :2], tips
            self.arrows.setData(xy[:, 0], xy[:, 1])
            self.arrows.setVisible(True)
        else:
            self.arrows.setVisible(False)
        self._draw_evaluation()

    def _draw_evaluation(self) -> None:
        """The mode bars, the captured modes, the summary and the timeline. Live: the newest
        evaluation, a picture's or the run loop's (the Mode hops plot's), whichever came last; in
        the history: the evaluation of the picture shown."""
        s, v = self.state.session, self.shown_view
        self._drawn_evaluations = self.state.evaluations_added
        if s is None or s.is_image or s.modes is None:
            return
        if self.pinned_step is None:
            newest = self.state.newest_evaluation()
            ev = newest[1] if newest is not None else None
        else:
            ev = v.evaluation if v is not None else None
        counts = ev.get("mode_counts") if ev else None
        if counts is not None:
            captured = [c > 0 for c in counts]
            self.means.setData(pos=s.modes, pen=[CAPTURED_PEN if c else MISSED_PEN for c in captured])
            self.bars.setOpts(x=np.arange(len(counts)), height=np.asarray(counts, float), width=0.8,
                              brushes=[CAPTURED_BRUSH if c else MISSED_BRUSH for c in captured])
            self.bars_plot.setYRange(0, max(1.0, 1.1 * max(counts)), padding=0)
            try:
                self.summary.setText(eval_summary(ev))
            except (TypeError, ValueError):   # a hand-broken log row ("hq": null): its numbers are not said
                self.summary.setText("")
            self._draw_timeline(len(counts), v.step if v is not None else self.state.step)

    def _draw_timeline(self, k: int, step: int) -> None:
        """This state's evaluations as bands (each until the next; the newest until the run's step),
        modes bottom to top as the bars left to right, and the hops between its logged evaluations."""
        occ = self.state.occupancy_image(until=self.state.step)
        if occ is None:
            return
        img, first, end = occ
        # colour = share of HQ samples; 2/K (twice the uniform share) and above is the brightest
        self.timeline.setImage(np.ascontiguousarray(img.astype(np.float32)), levels=(0.0, 2.0 / k),
                               autoLevels=False)
        self.timeline.setRect(QRectF(first, -0.5, end - first, k))
        self.timeline_cursor.setPos(step)
        hops = self.state.hops()
        self.hop_marks.setData(x=[h[0] for h in hops], y=[h[2] for h in hops],
                               data=[f"the dominant mode hopped from {a} to {b}" for _, a, b in hops])

    # -- history ---------------------------------------------------------------------------------
    def _scrub_views(self) -> list:
        return self.state.views

    # -- drawing points --------------------------------------------------------------------------
    def _draw_toggled(self, on: bool) -> None:
        # while drawing, the mouse places points instead of panning the view
        self.plot.setMouseEnabled(x=not on, y=not on)
        self.plot.viewport().setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)

    def eventFilter(self, obj, event) -> bool:
        if obj is self.plot.viewport() and self.draw_button.isChecked():
            et = event.type()
            if et == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton:
                self._add_point_at(event.position(), spacing=0.0)
                return True
            if et == QEvent.Type.MouseMove and event.buttons() & Qt.MouseButton.LeftButton:
                self._add_point_at(event.position(), spacing=PAINT_SPACING * self.span)
                return True
        return super().eventFilter(obj, event)

    def _add_point_at(self, pos, spacing: float) -> None:
        p = self.plot.plotItem.vb.mapSceneToView(self.plot.mapToScene(pos.toPoint()))
        x, y = float(p.x()), float(p.y())
        if spacing and self.drawn and np.hypot(x - self.drawn[-1][0], y - self.drawn[-1][1]) < spacing:
            return
        self.drawn.append([round(x, 4), round(y, 4)])
        self._show_drawn()

    def set_points(self, points: list[list[float]]) -> None:
        self.drawn = [[float(x), float(y)] for x, y in points]
        self._show_drawn()

    def clear_points(self) -> None:
        self.set_points([])

    def _show_drawn(self) -> None:
        self.drawn_item.setData(pos=np.asarray(self.drawn, float).reshape(-1, 2))
        self.drawn_label.setText(f"{len(self.drawn)} points" if self.drawn else "")
        # hidden when empty: its margin and the row's spacing would widen the panel for nothing
        self.drawn_label.setVisible(bool(self.drawn) and not self.branch_view)

    def _load_csv(self) -> None:
        from gan_studio.core.data.mixtures import read_points_csv
        from gan_studio.core.errors import ConfigError
        path, _ = QFileDialog.getOpenFileName(self, "Load points", "", "CSV files (*.csv);;All files (*)")
        if not path:
            return
        try:
            self.set_points(read_points_csv(path))
        except ConfigError as e:
            self.window().statusBar().showMessage(str(e), 10000)

    def _train_points(self) -> None:
        if not self.drawn:
            self.window().statusBar().showMessage("Draw some points first (press Draw points, then click "
                                                  "on the plot) or load a CSV.", 8000)
            return
        self.draw_button.setChecked(False)
        self.train_points_requested.emit([list(p) for p in self.drawn])
