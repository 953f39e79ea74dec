"""A wake-up another thread can wait on: a byte down a socket pair per wake, read back by clear().

Used where a thread sleeps in a wait on file descriptors and other threads queue work for it: the
serving thread of session/client.py (in ``multiprocessing.connection.wait``) and the GUI thread's
inbox (app/inbox.py, through a QSocketNotifier). A byte per wake, read back *before* the queue is
drained, means a wake-up is never lost: work queued after clear() makes the socket readable again
(a flag saying "one is on its way" was lost: the drain could read that byte and leave the flag set).
"""
from __future__ import annotations

import socket


class Wakeup:
    def __init__(self):
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)

    def fileno(self) -> int:
        """The end to wait on: readable once wake() was called after the last clear()."""
        return self._read.fileno()

    def wake(self) -> None:
        try:
            self._write.send(b"\0")
        except OSError:   # full of wake-ups already, or closed (its owner has ended): nothing to wake
            pass

    def clear(self) -> None:
        """Read every wake-up byte; call it before draining the queue it announces."""
        try:
            while self._read.recv(4096):
                pass
        except OSError:   # nothing left to read (BlockingIOError), or closed
            pass

    def close(self) -> None:
        self._read.close()
        self._write.close()
