"""Shared pyqtgraph settings for the panels."""
from __future__ import annotations

import math

import pyqtgraph as pg
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
