"""The guard that keeps PySide6 6.12's lost references to None/True from aborting the window."""
from __future__ import annotations

import sys

import numpy as np
import pyqtgraph as pg

from gan_studio.app.qt_workarounds import NONE_FLOOR, install_none_guard, none_refcount_leaks, top_up_none


def test_guard_keeps_none_and_bools_far_from_zero(qtbot):
    active = install_none_guard()
    assert active == none_refcount_leaks()
    if not active:   # a fixed PySide6 or Python 3.12+: nothing to guard
        return
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    plot.plot(np.arange(50), np.arange(50) ** 0.5)
    plot.show()
    before = sys.getrefcount(None)
    for _ in range(20):
        plot.grab()     # each repaint loses references to None on the buggy PySide6
    assert sys.getrefcount(None) < before   # the bug is real here...
    top_up_none()
    assert min(sys.getrefcount(o) for o in (None, True, False)) >= NONE_FLOOR   # ...and the guard answers it
