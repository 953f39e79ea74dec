"""Errors that are the user's input or the user's machine, shared by the CLI and the window.

Every error a user can act on is defined here, at the bottom of the core, so any layer can raise it
and :func:`user_errors` names them all without importing anything above it. Each is reported as one
line (the CLI: ``gan-studio CMD: error: ...`` and a non-zero exit; the window: a message), never as a
traceback. :func:`describe_os_error` turns an ``OSError`` from writing or reading a file (a full
disk, a read-only folder, no permission) into such a line. This module imports nothing heavy, and
never Qt.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path


class UserError(ValueError):
    """Base of the errors a user can act on; the message is one line naming what to change."""


class ConfigError(UserError):
    """A config value or key is wrong; the message is one line a user can act on."""


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, corrupt, hostile or not ours; the message says which."""


class RunError(ValueError):
    """A run folder is missing or lacks what it needs."""


class WriteError(RunError, OSError):
    """A file could not be written (disk full, read-only, ...); the previous version is kept.
    A RunError (one line in the CLI) and an OSError (``errno`` says why)."""

    def __str__(self) -> str:   # the message, not OSError's "[Errno N] ...: 'file'"
        return str(self.args[0]) if self.args else super().__str__()


class DataError(ValueError):
    """Image files are missing, unreadable or not in the expected format; one line says which."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's input, reported as one line without a traceback."""
    return (UserError, ConfigError, CheckpointError, RunError, FileNotFoundError, DataError)


_DISK_FULL = {errno.ENOSPC} | ({errno.EDQUOT} if hasattr(errno, "EDQUOT") else set())


def file_in_the_way(e: OSError) -> str | None:
    """For an OSError that says a folder was needed where a file is (``--out notes.txt/run``: ENOTDIR;
    a folder made where a file of that name is: EEXIST), the path of that file; else None. It is the
    user's input, not the machine: the CLI reports it as such (exit 2)."""
    if e.errno not in (errno.ENOTDIR, errno.EEXIST) or not isinstance(e.filename, (str, os.PathLike)):
        return None
    path = Path(e.filename)
    for part in (*reversed(path.parents), path):   # from the top down: the first file is the one in the way
        if str(part) in ("", ".") or not os.path.lexists(part):
            continue
        if not part.is_dir():
            return str(part)
    return None


def describe_os_error(e: OSError) -> str:
    """One line for an OSError: 'disk full while writing PATH', 'read-only file system: PATH', ...
    A WriteError is told in its own words, which also say what was kept ('disk full while writing
    RUN/checkpoint.pt: the previous checkpoint.pt is kept'), unless a file stands where a folder is
    needed (nothing of that path was ever written, and the blocker is what the user must move)."""
    path = e.filename if e.filename is not None else None
    where = f" {path}" if path is not None else ""
    blocker = file_in_the_way(e)
    if blocker is not None:
        return f"{blocker} is a file, where a folder is needed"
    if isinstance(e, WriteError):
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    if e.errno == errno.EISDIR and path is not None:   # metrics.jsonl made a folder by hand, --out DIR
        return f"{path} is a folder, where a file is needed"
    if e.errno in _DISK_FULL:
        return f"disk full while writing{where or ' (no space left on the device)'}"
    if e.errno == errno.EROFS:
        return f"cannot write{where}: the file system is read-only"
    if e.errno == errno.ENAMETOOLONG and path is not None:   # a pasted page as a path: not echoed whole
        return f"a name in the path is longer than the file system allows: {echo(os.fsdecode(path))}"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied{':' + where if where else ''}"
    text = e.strerror or str(e) or type(e).__name__
    return f"{text}{':' + where if where else ''}".splitlines()[0][:300]



def echo(text: str, most: int = 60) -> str:
    """``text`` quoted for a message, cut to its first ``most`` characters and '...' when longer, so a
    value pasted by mistake (a whole file, thousands of steps) does not fill the terminal."""
    text = str(text)
    return repr(text) if len(text) <= most else repr(text[:most]) + f"... ({len(text):,} characters)"
