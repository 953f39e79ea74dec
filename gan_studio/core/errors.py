"""Errors that are the user's input or the user's machine, shared by the CLI and the window.

Anything in :func:`user_errors` is reported as one line (the CLI: ``gan-studio CMD: error: ...`` and a
non-zero exit; the window: a message), never as a traceback. :func:`describe_os_error` turns an
``OSError`` from writing or reading a file (a full disk, a read-only folder, no permission) into
such a line. This module imports nothing heavy, and never Qt.
"""
from __future__ import annotations

import errno


class UserError(ValueError):
    """Base of the errors a user can act on; the message is one line naming what to change."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's input, reported as one line without a traceback."""
    from gan_studio.core.config import ConfigError
    from gan_studio.core.runs import CheckpointError, RunError
    errs: list[type[BaseException]] = [UserError, ConfigError, CheckpointError, RunError, FileNotFoundError]
    try:
        from gan_studio.core.image_data import DataError
        errs.append(DataError)
    except ImportError:
        pass
    return tuple(errs)


_DISK_FULL = {errno.ENOSPC} | ({errno.EDQUOT} if hasattr(errno, "EDQUOT") else set())


def describe_os_error(e: OSError) -> str:
    """One line for an OSError: 'disk full while writing PATH', 'read-only file system: PATH', ..."""
    path = e.filename if e.filename is not None else None
    where = f" {path}" if path is not None else ""
    if e.errno in _DISK_FULL:
        return f"disk full while writing{where or ' (no space left on the device)'}"
    if e.errno == errno.EROFS:
        return f"cannot write{where}: the file system is read-only"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied{':' + where if where else ''}"
    text = e.strerror or str(e) or type(e).__name__
    return f"{text}{':' + where if where else ''}".splitlines()[0][:300]

