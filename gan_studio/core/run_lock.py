"""One writer per run folder: an OS file lock on ``DIR/.lock``.

Whoever trains into a run folder (``gan-studio train``, the window's training process) holds an
exclusive, non-blocking lock (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows) for as long
as it writes. The lock file records the holder's pid, host and command, so a second writer gets one
line naming it. The kernel drops the lock when the holder's process ends, however it ends (a
``kill -9`` included): a lock file left behind by a dead process never blocks anyone. Readers
(``sample``, ``latent``, ``metrics``, the window looking at a run) take no lock and write nothing.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

LOCK_NAME = ".lock"

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)   # byte 0; the holder's record starts at byte 1
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as e:
            import errno
            if e.errno in (errno.EACCES, errno.EAGAIN):
                return False
            raise
        return True

    def _unlock(fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            pass

#: the holder's record starts here (Windows cannot read a byte that another process has locked)
_RECORD_AT = 1


def default_command() -> str:
    """What the lock file says the holder is running: ``gan-studio train`` and the like."""
    argv = [a for a in sys.argv if a]
    if not argv:
        return "python"
    prog = Path(argv[0]).name
    if prog in ("__main__.py", "-m", "-c") or prog.startswith("python"):
        prog = "gan-studio"
    sub = next((a for a in argv[1:] if not a.startswith("-")), "")
    return f"{prog} {sub}".strip()


class RunLockedError(Exception):
    """Raised by :meth:`RunLock.acquire` when another process holds the run folder."""


class RunLock:
    """The writer's lock on one run folder. ``acquire()`` or fail at once; ``release()`` (or the
    process's end) lets the next writer in."""

    def __init__(self, folder: str | Path, command: str | None = None):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.command = command or default_command()
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "RunLock":
        if self._fd is not None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _try_lock(fd):
                raise RunLockedError(self._refusal(fd))
            record = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                      "since": time.strftime("%Y-%m-%d %H:%M:%S")}
            os.ftruncate(fd, _RECORD_AT)
            os.lseek(fd, _RECORD_AT, os.SEEK_SET)
            os.write(fd, (json.dumps(record) + "\n").encode("utf-8"))
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, _RECORD_AT)   # an empty record: nobody holds it
        except OSError:
            pass
        _unlock(fd)
        os.close(fd)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self):
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def _refusal(self, fd: int) -> str:
        holder = read_holder(self.folder, fd)
        if holder:
            who = (f"pid {holder.get('pid', '?')} ({holder.get('command') or 'unknown command'}) "
                   f"on host {holder.get('host') or '?'}")
        else:
            who = "another process"
        return (f"{self.folder} is being trained by {who}; stop it first or open the run read-only "
                "(gan-studio sample, latent and metrics only read it)")


def read_holder(folder: str | Path, fd: int | None = None) -> dict | None:
    """The record of the process that holds (or last held) the lock, or None."""
    try:
        if fd is None:
            with open(Path(folder) / LOCK_NAME, "rb") as fh:
                fh.seek(_RECORD_AT)
                data = fh.read(4096)
        else:
            os.lseek(fd, _RECORD_AT, os.SEEK_SET)
            data = os.read(fd, 4096)
    except OSError:
        return None
    try:
        record = json.loads(data.decode("utf-8", "replace").strip() or "null")
    except ValueError:
        return None
    return record if isinstance(record, dict) else None
