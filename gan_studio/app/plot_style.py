"""Shared pyqtgraph settings for the panels."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsItem


def cache_axes(plot: pg.PlotItem) -> None:
    """Paint each axis into a pixmap that is reused until the axis changes.

    An axis's tick text is the costliest thing the panels paint (measured: over half the GUI
    thread's paint time), and without a cache it is drawn again whenever a curve beside it moves."""
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
