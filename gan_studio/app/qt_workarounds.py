"""A guard against a PySide6 bug that aborts a long-running window.

PySide6 6.12.0 on CPython 3.11 drops one reference to ``None`` too many on every QPainter method
that returns nothing (``setPen``, ``setRenderHint``, ``drawLine``...), and some calls do the same to
``True``: measured -6 None and -1 True per repaint of one pyqtgraph plot, and about -50,000 None a
second in the whole window while it trains. Before Python 3.12 ``None`` is an ordinary object (about
65,000 references after the studio's imports), so the count reaches zero within seconds to minutes and
the interpreter aborts with "Fatal Python error: none_dealloc" (or bool_dealloc).

The guard measures whether this PySide6 has the bug; if so, a timer in the GUI thread keeps the
count far from zero. ``None`` is never freed anyway, so an inflated count costs nothing. On Python
3.12+ ``None`` is immortal and the guard does nothing.
"""
from __future__ import annotations

import ctypes
import sys

#: top the count up when it falls below this...
NONE_FLOOR = 1 << 22
#: ...by this much (a leak of ~10,000 a second takes over an hour to use it up; checked every second)
NONE_TOP_UP = 1 << 26
CHECK_MS = 1000

_timer = None


def none_refcount_leaks() -> bool:
    """True when QPainter calls on this PySide6 lose references to None."""
    if sys.version_info >= (3, 12):
        return False
    from PySide6.QtGui import QImage, QPainter
    img = QImage(4, 4, QImage.Format.Format_ARGB32)
    painter = QPainter(img)
    try:
        before = sys.getrefcount(None)
        for _ in range(100):
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        return sys.getrefcount(None) < before - 50
    finally:
        painter.end()


#: the objects whose references the bug loses (immortal from Python 3.12 on)
SINGLETONS = (None, True, False)


def top_up_none() -> None:
    # ob_refcnt is the first field of every CPython object, at the address id() gives; the GIL is
    # held here, and every other refcount change also happens under it
    for obj in SINGLETONS:
        if sys.getrefcount(obj) < NONE_FLOOR:
            ctypes.c_ssize_t.from_address(id(obj)).value += NONE_TOP_UP


def install_none_guard() -> bool:
    """Start the guard once per process when it is needed (needs a QApplication). True if active."""
    global _timer
    if _timer is not None:
        return True
    if not none_refcount_leaks():
        return False
    from PySide6.QtCore import QCoreApplication, QTimer
    top_up_none()
    _timer = QTimer(QCoreApplication.instance())
    _timer.setObjectName("none_refcount_guard")
    _timer.timeout.connect(top_up_none)
    _timer.start(CHECK_MS)
    return True
