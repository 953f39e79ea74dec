"""The one way other threads reach the GUI thread: post a call, the GUI thread makes it.

Why not emit a Qt signal from the serving thread (a queued connection)? PySide's emit runs Qt code
that holds Qt mutexes (the signal-slot locks are a shared pool, picked by an object's address)
while it waits for the GIL to copy a Python argument or to call a Python override. The GUI thread,
holding the GIL, may at that moment destroy a widget, which waits for a lock of the same pool: both
wait forever (seen as a CI run that hung while a window's menu was deleted). So no Qt function is
ever called off the GUI thread: :func:`post` only puts the call on a queue and writes one byte to a
socket; a QSocketNotifier, in the GUI thread, wakes the event loop, which drains the queue.
"""
from __future__ import annotations

import queue
import socket
import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, QSocketNotifier


class _Inbox(QObject):
    def __init__(self):
        super().__init__()
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        self._pending = threading.Event()   # a wake-up byte is on its way: don't write another
        self._notifier = QSocketNotifier(self._read.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self.drain)

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        self._calls.put((fn, args))
        if not self._pending.is_set():
            self._pending.set()
            try:
                self._write.send(b"\0")
            except (BlockingIOError, OSError):   # the socket is full of wake-ups already
                pass

    def drain(self, *_: Any) -> None:
        """Make every posted call, in order (the GUI thread; also callable directly to flush)."""
        self._pending.clear()
        try:
            while self._read.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
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


_INBOX: _Inbox | None = None
_LOCK = threading.Lock()


def inbox() -> _Inbox:
    """The GUI thread's inbox; the first call must come from the GUI thread (a window makes it)."""
    global _INBOX
    with _LOCK:
        if _INBOX is None:
            _INBOX = _Inbox()
        return _INBOX


def post(fn: Callable[..., Any], *args: Any) -> None:
    """Call ``fn(*args)`` in the GUI thread, soon. Any thread; touches no Qt object."""
    inbox().post(fn, *args)


def flush() -> None:
    """Make the posted calls now (the GUI thread only)."""
    if _INBOX is not None:
        _INBOX.drain()
