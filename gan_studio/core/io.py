"""Files that survive a crash: atomic writes, and one writer per run folder.

Atomic writes: every file that is rewritten goes through a temporary file, fsync and rename
(:func:`atomic_write_bytes`), so a crash or a full disk never leaves half a checkpoint; an OSError
becomes a :class:`~gan_studio.core.errors.WriteError` naming the file.

One writer per run folder: an OS file lock on ``DIR/.lock`` (:class:`RunLock`).
Whoever trains into a run folder (``gan-studio train``, the window's training process) holds an
exclusive, non-blocking lock (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows) for as long
as it writes. The lock file records the holder's pid, host and command, so a second writer gets one
line naming it. The kernel drops the lock when the holder's process ends, however it ends (a
``kill -9`` included): a lock file left behind by a dead process never blocks anyone. Readers
(``sample``, ``latent``, ``metrics``, the window looking at a run) take no lock and write nothing, not
even what they are asked to write: an output inside a run folder they read is refused
(:func:`refuse_output_in_runs`).
"""
from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from pathlib import Path

from gan_studio.core.errors import UserError, WriteError


# -- atomic writes ---------------------------------------------------------------------------------
#: temporary files this process is writing now (their paths): never stale
_WRITING: set[str] = set()


def _temp_name(path: Path) -> Path:
    """``.NAME.<pid>.<random>.tmp`` beside ``path``: the pid tells whether its writer still lives."""
    return path.parent / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and rename: a crash or a full disk
    leaves the previous file or the new one, never a mix. The file gets the mode a plain ``open``
    would give (0666 less the umask). An OSError becomes a :class:`WriteError` naming the file,
    after the temporary file was removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    _WRITING.add(str(tmp))
    try:
        fd = os.open(tmp, flags, 0o666)   # the kernel applies the umask, as for open(path, "wb")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and not isinstance(e, WriteError):
            raise _write_error(path, e) from None
        raise
    finally:
        _WRITING.discard(str(tmp))


def _write_error(path: Path, e: OSError) -> WriteError:
    kept = f"the previous {path.name} is kept" if path.exists() else "nothing was written"
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        msg = f"disk full while writing {path}: {kept}"
    else:
        msg = f"could not write {path} ({e.strerror or type(e).__name__}): {kept}"
    err = WriteError(msg)
    err.errno, err.strerror, err.filename = e.errno, e.strerror, str(path)
    return err


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); best effort."""
    if os.name == "nt":
        return
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # pragma: no cover - no cheap probe without ctypes: assume it lives
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_temp_files(folder: str | Path, name: str | None = None, min_age_s: float = 60.0) -> list[Path]:
    """Remove the temporary files (``.NAME.*.tmp``) that killed writers left in ``folder``; with
    ``name``, only those of that file. A temporary file is stale when the process that wrote it is
    gone (its pid is in the name), or when it is this process's own but not being written now;
    one from an older version (no pid in the name) is stale when it is ``min_age_s`` old. A file
    another live process is writing is never touched. Returns the files removed."""
    folder = Path(folder)
    removed: list[Path] = []
    prefix = f".{name}." if name else "."
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        n = entry.name
        if not (n.startswith(prefix) and n.endswith(".tmp")) or n.count(".") < 3:
            continue
        parts = n[:-len(".tmp")].split(".")
        pid = int(parts[-2]) if len(parts) >= 4 and parts[-2].isdigit() else None
        if pid == os.getpid():
            stale = str(folder / n) not in _WRITING
        elif pid is not None:
            stale = not _pid_alive(pid)
        else:
            try:
                stale = now - entry.stat(follow_symlinks=False).st_mtime >= min_age_s
            except OSError:
                continue
        if stale and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


# -- one writer per run folder -------------------------------------------------------------------
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


def refuse_output_in_runs(runs, *outputs: tuple[str, str | Path | None]) -> None:
    """UserError when an output a command writes, ``(option, path)`` (None: not asked for), lies in one of
    the run folders ``runs`` it reads: the folder itself or anything under it, after relative paths,
    ``..`` and symlinks are resolved. A run folder is its training's (one writer, atomic files, a
    window watching it); a stray file in it confuses its readers (snapshots/, forks/, samples/).
    ``compare``, ``figure``, ``export``, ``sample``, ``latent``, ``translate`` and ``fork`` ask here."""
    for option, out in outputs:
        if out is None or str(out) == "":
            continue
        try:
            target = Path(out).resolve()
        except (OSError, RuntimeError):   # a symlink loop: the write fails with its own message
            continue
        for d in runs:
            try:
                inside = target.is_relative_to(Path(d).resolve())
            except (OSError, RuntimeError):
                inside = False
            if inside:
                raise UserError(f"{option} {out} is inside the run folder {d}; choose a path outside it")


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
