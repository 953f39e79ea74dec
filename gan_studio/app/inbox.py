"""The GUI thread owns every Qt object: other threads reach it by posting a call, and Python's
cyclic garbage collector runs only in it while other threads run Python.

Why not emit a Qt signal from the serving thread (a queued connection)? PySide's emit runs Qt code
that holds Qt mutexes (the signal-slot locks are a shared pool, picked by an object's address)
while it waits for the GIL to copy a Python argument or to call a Python override. The GUI thread,
holding the GIL, may at that moment destroy a widget, which waits for a lock of the same pool: both
wait forever (seen as a CI run that hung while a window's menu was deleted). So no Qt function is
ever called off the GUI thread: :func:`post` only puts the call on a queue and writes one byte to a
socket; a QSocketNotifier, in the GUI thread, wakes the event loop, which drains the queue.

The same deadlock has a second door: Python's cyclic garbage collector runs in whichever thread
happens to allocate past its threshold. In a training thread (the thread engine) or the worker's
own thread it may collect a cycle that holds a closed window's widgets and delete them there, in
Qt's destructors, while the GUI thread deletes other widgets (seen: a CI run that hung with the
training thread inside QObject::~QObject, called from gc_collect_main during an import). So while
any worker thread runs (:func:`hold_collector` / :func:`release_collector`), automatic collection
is off and the GUI thread collects on a timer, generation by generation as Python would (the same
cure as pyqtgraph's GarbageCollector); when the last worker has ended, automatic collection is
back as it was.
"""
from __future__ import annotations

import gc
import queue
import threading
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QObject, QSocketNotifier, QTimer

from gan_studio.session.wakeup import Wakeup


class _Inbox(QObject):
    def __init__(self):
        super().__init__()
        #: the application whose event loop wakes this inbox: a notifier made before any application
        #: existed (a worker made without one) never wakes, so the next GUI-thread call makes a new one
        self.app = QCoreApplication.instance()
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._wake = Wakeup()
        self._notifier = QSocketNotifier(self._wake.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self.drain)

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        self._calls.put((fn, args))
        self._wake.wake()   # a byte per call, read back before the queue is drained (session/wakeup.py)

    def drain(self, *_: Any) -> None:
        """Make every posted call, in order (the GUI thread, woken by the notifier)."""
        self._wake.clear()
        while True:
            try:
                fn, args = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                fn(*args)
            except RuntimeError as e:   # the receiver was deleted (a closed window): nobody to tell
                if "already deleted" not in str(e) and "has been deleted" not in str(e):
                    raise


class _GuiCollector(QObject):
    """Python's cyclic collection, made in the GUI thread on a timer while worker threads run."""

    INTERVAL_MS = 200

    def __init__(self):
        super().__init__()
        self.holders: set[int] = set()
        self._was_enabled = True
        self._timer = QTimer(self)
        self._timer.setInterval(self.INTERVAL_MS)
        self._timer.timeout.connect(self.collect)

    def take_over(self, old: "_GuiCollector") -> None:
        """Carry an earlier collector's holds (and the collection state they set) over."""
        self.holders, self._was_enabled = set(old.holders), old._was_enabled
        old._timer.stop()
        if self.holders:
            self._timer.start()

    def hold(self, key: int) -> None:
        if not self.holders:
            self._was_enabled = gc.isenabled()
            gc.disable()
            self._timer.start()
        self.holders.add(key)

    def release(self, key: int) -> None:
        if key not in self.holders:
            return
        self.holders.discard(key)
        if not self.holders:
            self._timer.stop()
            if self._was_enabled:
                gc.enable()

    def collect(self) -> None:
        """What Python's own collector would do now, generation by generation (its thresholds)."""
        t0, t1, t2 = gc.get_threshold()
        c0, c1, c2 = gc.get_count()
        if c0 > t0:
            gc.collect(2 if (c1 > t1 and c2 > t2) else 1 if c1 > t1 else 0)


_INBOX: _Inbox | None = None
_COLLECTOR: _GuiCollector | None = None
_LOCK = threading.Lock()


def inbox() -> _Inbox:
    """The GUI thread's inbox; the first call must come from the GUI thread (a window makes it)."""
    global _INBOX, _COLLECTOR
    with _LOCK:
        stale = _INBOX is not None and _INBOX.app is not QCoreApplication.instance()
        if _INBOX is None or (stale and threading.current_thread() is threading.main_thread()):
            old, old_collector = _INBOX, _COLLECTOR
            _INBOX, _COLLECTOR = _Inbox(), _GuiCollector()
            if old is not None:   # the calls posted to the old one, in order, then its holds
                while True:
                    try:
                        _INBOX.post(*_unpack(old._calls.get_nowait()))
                    except queue.Empty:
                        break
                old._notifier.setEnabled(False)
                _COLLECTOR.take_over(old_collector)
        return _INBOX


def _unpack(item):
    fn, args = item
    return (fn, *args)


def hold_collector(key: int) -> None:
    """GUI thread: a thread that runs Python is about to start; collect garbage only here until
    :func:`release_collector` with the same key."""
    inbox()
    _COLLECTOR.hold(key)


def release_collector(key: int) -> None:
    """GUI thread: that thread has ended (again is harmless)."""
    if _COLLECTOR is not None:
        _COLLECTOR.release(key)


def collecting_in_gui_thread() -> bool:
    """True while automatic collection is off and the GUI thread collects (a worker thread runs)."""
    return _COLLECTOR is not None and bool(_COLLECTOR.holders)


def post(fn: Callable[..., Any], *args: Any) -> None:
    """Call ``fn(*args)`` in the GUI thread, soon. Any thread; touches no Qt object."""
    inbox().post(fn, *args)
