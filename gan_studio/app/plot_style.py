"""Shared pyqtgraph settings for the panels."""
from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QGraphicsItem


#: size of every plot's title (pyqtgraph's default, 11pt, leaves a narrow plot's title cut)
TITLE_PT = 10

#: width of every plot's left axis, in pixels: room for "-1.5", "0.01" or "10³"
LEFT_AXIS_PX = 44


def cache_axes(plot: pg.PlotItem) -> None:
    """Paint each axis into a pixmap that is reused until the axis changes.

    An axis's tick text is the costliest thing the panels paint (measured: over half the GUI
    thread's paint time), and without a cache it is drawn again whenever a curve beside it moves."""
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    # a fixed width: an axis that fits its width to its tick text resizes the view beside it, which
    # (with a locked aspect ratio) moves the ticks again: the 2-D view's axes were laid out and drawn
    # again on every frame, flipping between two widths (measured: half of the GUI thread's time)
    plot.getAxis("left").setWidth(LEFT_AXIS_PX)


#: room a plot's title leaves beside the left axis (pyqtgraph's layout margins), in pixels
TITLE_MARGIN_PX = 4


def fit_title(widget: pg.PlotWidget, full: str, *shorter: str) -> None:
    """Title ``widget`` with ``full``, or with the first of ``shorter`` that fits while the plot is too
    narrow for ``full`` (the last when none does).

    A title sets its plot's minimum width: a plot narrower than its title was laid out wider than
    its view and drawn cut at the right edge (measured: the mode view's timeline in a branch's dock
    at 1280x720, 149 px wide for a title of 184 px beside a 44 px axis)."""
    widget.installEventFilter(_TitleFitter(widget, (full, *shorter)))


class _TitleFitter(QObject):
    def __init__(self, widget: pg.PlotWidget, titles: tuple[str, ...]):
        super().__init__(widget)
        self.widget = widget
        item = widget.getPlotItem()
        self.widths = []   # (title, its width), in the order given: the full title first
        for text in reversed(titles):
            item.setTitle(text, size=f"{TITLE_PT}pt")
            self.widths.insert(0, (text, item.titleLabel.item.boundingRect().width()))

    def room(self) -> float:
        """The width the title has beside the left axis."""
        item = self.widget.getPlotItem()
        axis = item.getAxis("left")
        return self.widget.width() - (axis.width() if axis.isVisible() else 0) - TITLE_MARGIN_PX

    def eventFilter(self, obj, ev) -> bool:
        if ev.type() == QEvent.Type.Resize:
            item = self.widget.getPlotItem()
            room = self.room()
            text = next((t for t, width in self.widths if width <= room), self.widths[-1][0])
            if item.titleLabel.text != text:
                item.setTitle(text, size=f"{TITLE_PT}pt")
        return False


#: the least room between two tick labels of a SpacedAxis, in pixels
LABEL_GAP_PX = 8


class SpacedAxis(pg.AxisItem):
    """A horizontal axis whose tick labels never run into each other.

    pyqtgraph always labels every tick of the coarsest level, however narrow the axis: the occupancy
    timeline of a branch's 2-D view, about 100 px wide, printed "0", "1000" and "2000" as "01000 2000".
    Where the labels do not fit, only every k-th is kept (ticks at a multiple of k times the spacing,
    so the kept ones do not change as the axis scrolls); every tick and grid line stays."""

    def tickStrings(self, values, scale, spacing):
        strings = super().tickStrings(values, scale, spacing)
        lo, hi = self.range
        length = self.geometry().width() if self.orientation in ("top", "bottom") else self.geometry().height()
        if not strings or spacing <= 0 or hi <= lo or length <= 0:
            return strings
        per_tick = length * spacing / (hi - lo)   # pixels between two ticks of this level
        fm = QFontMetricsF(self.style["tickFont"] or self.font())
        widest = max(fm.horizontalAdvance(text) for text in strings)
        k = math.ceil((widest + LABEL_GAP_PX) / per_tick) if per_tick > 0 else 1
        if k <= 1:
            return strings
        return [text if round(v / spacing) % k == 0 else "" for v, text in zip(values, strings)]

    def generateDrawSpecs(self, p):
        """As pyqtgraph draws it, less a finer level's label that would touch a coarser one's: each
        level is spaced on its own above, and pyqtgraph labels a finer level wherever the text fills
        little of the axis, so a 150 px timeline of 3,300 steps printed "1500" into "2000"."""
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return specs
        axis_spec, tick_specs, text_specs = specs
        kept = []
        for rect, flags, text in text_specs:   # the coarsest level's first
            room = rect.adjusted(-LABEL_GAP_PX / 2, 0, LABEL_GAP_PX / 2, 0)
            if text and any(room.intersects(other) for other, _, _ in kept):
                continue
            kept.append((rect, flags, text))
        return axis_spec, tick_specs, kept


class SparseLogAxis(pg.AxisItem):
    """A log axis that labels only 1, 2 and 5 times a power of ten.

    pyqtgraph labels every minor tick of a log axis that spans a decade or two (2·10¹, 3·10¹, ...
    9·10¹): the top of each decade then holds five labels within a few pixels, drawn over each
    other. Every tick and grid line is kept; only the crowded labels are left blank."""

    LABELLED = (1, 2, 5)

    def logTickStrings(self, values, scale, spacing):
        strings = super().logTickStrings(values, scale, spacing)
        return [text if _leading_digit(v) in self.LABELLED else "" for v, text in zip(values, strings)]


def _leading_digit(log_value: float) -> int | None:
    """The mantissa of 10**log_value when it is a whole number (a tick at k·10ⁿ), else None."""
    mantissa = 10 ** (log_value - math.floor(log_value + 1e-9))
    whole = round(mantissa)
    return whole if abs(mantissa - whole) < 1e-6 * max(1, whole) else None


class ModeAxis(pg.AxisItem):
    """An axis of mode indices (the mode bars' x, the occupancy timeline's y): ticks only at the
    modes there are, 0 to K-1. pyqtgraph's own ticks put a "8" beside modes 0-7 (the range ends half
    a bar past the last one) and "2.5" on a tall one. Where every mode's label does not fit, every
    2nd, 5th, 10th... is labelled."""

    modes = 0

    def set_modes(self, k: int) -> None:
        self.modes = int(k)
        self.picture = None   # drawn again with the new ticks
        self.update()

    def tickValues(self, minVal, maxVal, size):
        if self.modes <= 0:
            return []
        lo, hi = sorted((float(minVal), float(maxVal)))
        first, last = max(0, math.ceil(lo)), min(self.modes - 1, math.floor(hi))
        if last < first or size <= 0 or hi <= lo:
            return []
        per_mode = size / (hi - lo)   # pixels from one mode to the next
        fm = QFontMetricsF(self.style["tickFont"] or self.font())
        need = (fm.horizontalAdvance(str(self.modes - 1)) if self.orientation in ("top", "bottom")
                else fm.height()) + LABEL_GAP_PX / 2
        step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10**9) if s * per_mode >= need)
        return [(float(step), [float(v) for v in range(first, last + 1) if v % step == 0])]
