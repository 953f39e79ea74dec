"""Live plots: losses, D outputs, gradient norms and mode coverage, with a marker per trick change."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from gan_studio.app.plot_style import cache_axes
from gan_studio.app.history import EVAL_COLUMNS, StudioState, health_warnings
from gan_studio.app.snapshot import METRIC_COLUMNS

D_PEN = pg.mkPen((40, 110, 200), width=1.5)
G_PEN = pg.mkPen((220, 90, 30), width=1.5)
EXTRA_PEN = pg.mkPen((120, 120, 120), width=1.2, style=pg.QtCore.Qt.PenStyle.DashLine)
MARKER_PEN = pg.mkPen((150, 40, 160), width=1, style=pg.QtCore.Qt.PenStyle.DashLine)
NAN_PEN = pg.mkPen((220, 0, 0), width=2)

#: (plot name, title, [(column, label, pen)], source) -- source is "metrics" or "evals"
PLOTS = [
    ("losses", "Losses", [("loss_d", "D loss", D_PEN), ("loss_g", "G loss", G_PEN)], "metrics"),
    ("d_outputs", "D(x) and D(G(z))", [("d_real", "D(x)", D_PEN), ("d_fake", "D(G(z))", G_PEN)], "metrics"),
    ("grad_norms", "Gradient norms", [("grad_norm_d", "|grad D|", D_PEN), ("grad_norm_g", "|grad G|", G_PEN)],
     "metrics"),
    ("modes", "Modes captured", [("modes", "captured", D_PEN), ("modes_strict", "strict", EXTRA_PEN)], "evals"),
    ("hq", "High-quality samples (%)", [("hq", "HQ %", D_PEN)], "evals"),
    ("rkl", "Reverse KL to uniform", [("rkl", "reverse KL", G_PEN)], "evals"),
]


def marker_label(event: dict) -> str:
    """Short text for a marker: '+packing' when a trick goes on, 'lr_d=0.0003' for a value."""
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
    return str(kind or "event")


class PlotsPanel(QWidget):
    def __init__(self, state: StudioState, parent=None):
        super().__init__(parent)
        self.state = state
        self.setObjectName("panel.plots")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
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
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setObjectName("plots.canvas")
        self.canvas.setAccessibleName("Training curves")
        self.canvas.setBackground("w")
        layout.addWidget(self.canvas, 1)
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[str, tuple[str, int, pg.PlotDataItem]] = {}
        first = None
        for i, (name, title, series, source) in enumerate(PLOTS):
            p = self.canvas.addPlot(row=i // 2, col=i % 2, title=title)
            p.showGrid(x=True, y=True, alpha=0.2)
            cache_axes(p)
            p.addLegend(offset=(-5, 5), labelTextSize="8pt")
            p.setClipToView(True)
            p.setDownsampling(auto=True, mode="peak")
            if name == "grad_norms":
                p.setLogMode(y=True)
            # y, like x, moves in jumps (see _fit_y): an axis whose range changes is laid out and
            # its text drawn again, and auto-range would change it on every redraw
            p.enableAutoRange(y=False)
            if first is None:
                first = p
                # x grows with every report; following it exactly would re-layout every axis on every
                # frame (their text is the costliest paint). The range grows in 1.5x jumps instead.
                p.enableAutoRange(x=False)
                p.sigXRangeChanged.connect(self._user_moved_x)
            else:
                p.setXLink(first)
            cols = METRIC_COLUMNS if source == "metrics" else EVAL_COLUMNS
            for column, label, pen in series:
                curve = p.plot(name=label, pen=pen)
                self.curves[f"{name}.{column}"] = (source, cols.index(column), curve)
            self.plots[name] = p
        # the model family's own numbers (test accuracy, conditional accuracy, ...), beneath the rest
        fam = self.canvas.addPlot(row=(len(PLOTS) + 1) // 2, col=0, colspan=2, title="")
        fam.showGrid(x=True, y=True, alpha=0.2)
        cache_axes(fam)
        fam.addLegend(offset=(-5, 5), labelTextSize="8pt")
        fam.enableAutoRange(y=False)
        # not linked: pyqtgraph aligns linked views by screen position, and this one is twice as wide
        first.sigXRangeChanged.connect(lambda _vb, r: fam.setXRange(*r, padding=0))
        fam.hide()
        self.plots["family"] = fam
        self.family_curves: dict[str, pg.PlotDataItem] = {}
        self.markers: list[list[pg.InfiniteLine]] = []
        self._session = None
        self._drawn = (-1, -1)
        self._version = -1
        self.redraws = 0               # how often new points were drawn (the benchmark checks it)
        self._follow_x = True          # until the user pans or zooms the plots themselves
        self._setting_x = False
        self._warnings: list[str] = []

    # -- drawing ------------------------------------------------------------------------------
    def refresh(self) -> None:
        st = self.state
        if st.session is not self._session:
            self._begin_session()
        if st.version == self._version:
            return
        self._version = st.version
        n = (st.metrics.n, st.evals.n, len(st.family_evals))
        if n != self._drawn:
            m, e = st.metrics.data, st.evals.data
            for source, col, curve in self.curves.values():
                arr = m if source == "metrics" else e
                y = arr[:, col]
                if source == "evals" or col in (5, 6):
                    # evaluations are few: plot only the defined ones (reverse KL is n/a without HQ
                    # samples); norms sit on a log axis, where 0 and NaN have no place
                    keep = np.isfinite(y) & ((y > 0) if source == "metrics" else True)
                    curve.setData(arr[keep, 0], y[keep])
                elif np.isfinite(y).any():
                    curve.setData(arr[:, 0], y, connect="finite")
            for key, curve in self.family_curves.items():
                pts = [(step, row[key]) for step, row in st.family_evals if key in row]
                if pts:
                    xy = np.array(pts, dtype=float)
                    curve.setData(xy[:, 0], xy[:, 1])
            self._drawn = n
            self.redraws += 1
            self._grow_x(m[-1, 0] if len(m) else 0.0, m[0, 0] if len(m) else 0.0)
            if self._follow_x:
                for name, p in self.plots.items():
                    self._fit_y(name, p)
        while len(self.markers) < len(st.events):
            self._add_marker(st.events[len(self.markers)])
        self._update_warnings()

    def _grow_x(self, last: float, first: float) -> None:
        hi = self.plots["losses"].viewRange()[0][1]
        if not self._follow_x or last <= hi:
            return
        self._setting_x = True
        self.plots["losses"].setXRange(min(first, 0.0), max(10.0, 1.5 * last), padding=0)
        self._setting_x = False

    def _fit_y(self, name: str, p: pg.PlotItem) -> None:
        """Keep every point in view with a margin; move the range only when a point leaves it or
        the data fill less than a third of it."""
        curves = (list(self.family_curves.values()) if name == "family" else
                  [c for key, (_, _, c) in self.curves.items() if key.startswith(name + ".")])
        ys = [c.yData[np.isfinite(c.yData)] for c in curves if c.yData is not None]
        ys = [y for y in ys if len(y)]
        if not ys:
            return
        y = np.concatenate(ys)
        if name == "grad_norms":            # the view of a log axis is in log10 units
            y = np.log10(y[y > 0])
            if not len(y):
                return
        lo, hi = float(y.min()), float(y.max())
        (cur_lo, cur_hi) = p.viewRange()[1]
        span = max(hi - lo, 1e-6 * max(1.0, abs(hi)), 1e-9)
        if lo >= cur_lo and hi <= cur_hi and span >= (cur_hi - cur_lo) / 3:
            return
        self._setting_x = True
        p.setYRange(lo - 0.25 * span, hi + 0.25 * span, padding=0)
        self._setting_x = False

    def _user_moved_x(self, *_):
        if not self._setting_x and self._follow_x:
            self._follow_x = False
            self.follow_button.show()

    def follow(self) -> None:
        """Follow the newest steps again (after the user panned or zoomed)."""
        self._follow_x = True
        self.follow_button.hide()
        self._setting_x = True
        self.plots["losses"].setXRange(0, 10, padding=0)
        self._setting_x = False
        self._drawn = (-1, -1)
        self._version = -1

    def _begin_session(self) -> None:
        self._session = self.state.session
        for lines in self.markers:
            for line in lines:
                line.getViewBox().removeItem(line) if line.getViewBox() else None
        self.markers = []
        self._drawn = (-1, -1)
        self._version = -1
        self.follow()
        s = self._session
        has_modes = s is not None and s.modes is not None
        for name in ("modes", "hq", "rkl"):
            self.plots[name].setVisible(has_modes)
        fam = self.plots["family"]
        for curve in self.family_curves.values():
            fam.removeItem(curve)
        if fam.legend is not None:
            fam.legend.clear()
        self.family_curves = {}
        plot = s.family_plot if s is not None else None
        fam.setVisible(bool(plot))
        if plot:
            title, series = plot
            fam.setTitle(title)
            colours = [D_PEN, G_PEN, EXTRA_PEN, pg.mkPen((40, 160, 60), width=1.5)]
            for i, (key, label) in enumerate(series):
                self.family_curves[key] = fam.plot(name=label, pen=colours[i % len(colours)],
                                                   symbol="o", symbolSize=4)

    def _add_marker(self, event: dict) -> None:
        pen = NAN_PEN if event.get("event") == "diverged" else MARKER_PEN
        # several changes at one step: stack their labels instead of printing them over each other
        same_step = sum(1 for lines in self.markers if lines and lines[0].value() == event.get("step", 0))
        lines = []
        for p in self.plots.values():
            line = pg.InfiniteLine(pos=event.get("step", 0), angle=90, pen=pen, movable=False,
                                   label=marker_label(event),
                                   labelOpts={"position": max(0.1, 0.97 - 0.1 * same_step), "color": pen.color(),
                                              "anchors": [(0, 0), (0, 0)], "fill": (255, 255, 255, 200)})
            p.addItem(line, ignoreBounds=True)
            lines.append(line)
        self.markers.append(lines)

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
        """The marker texts on one plot (what a user reads on it)."""
        idx = list(self.plots).index(plot)
        return [lines[idx].label.toPlainText() for lines in self.markers]
