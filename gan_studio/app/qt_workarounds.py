"""Refuse a PySide6 that would abort the window.

PySide6 6.12.0 on CPython 3.11 drops one reference to ``None`` too many on every QPainter method
that returns nothing (``setPen``, ``setRenderHint``, ``drawLine``...), and some calls do the same to
``True``: measured -1 None per call, and -119 None and -21 True per repaint of one pyqtgraph plot.
Before Python 3.12 ``None`` is an ordinary object (a few thousand to ~65,000 references), so the count
reaches zero within seconds to minutes and the interpreter aborts with "Fatal Python error:
none_dealloc" (or bool_dealloc). Measured sound on 3.11: 6.5.3, 6.7.3, 6.8.3, 6.9.3, 6.10.3, 6.11.0,
6.11.3; on Python 3.12+ ``None`` and the bools are immortal, so 6.12.0 is sound there.

pyproject.toml excludes that combination; this module only measures whether the PySide6 in use has
the bug and, if so, refuses to open the window with one line, before any window exists.
"""
from __future__ import annotations

import functools
import sys


class BrokenPySide(RuntimeError):
    """This PySide6 loses references to None/True: the window would abort after a while."""


@functools.lru_cache(maxsize=1)
def none_refcount_leaks() -> bool:
    """True when QPainter calls on this PySide6 lose references to None (measured once a process;
    needs no QApplication)."""
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


def refusal_message() -> str:
    import PySide6
    py = ".".join(str(v) for v in sys.version_info[:2])
    return (f"PySide6 {PySide6.__version__} on Python {py} has a reference-count bug that crashes the window; "
            f"install PySide6-Essentials<6.12 (pip install 'PySide6-Essentials<6.12') or use Python 3.12+")


def check_pyside() -> None:
    """Raise BrokenPySide (its message is the one line to show) when this PySide6 has the bug."""
    if none_refcount_leaks():
        raise BrokenPySide(refusal_message())
