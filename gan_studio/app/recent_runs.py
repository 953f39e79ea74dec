"""File > Open recent: the run folders last opened or trained in the window, newest first. No Qt:
the window keeps the list in QSettings and builds the menu from it; the rules are here.

What QSettings gives back can be anything (a file edited by hand, another version of the studio, an
INI file that stores a list of one path as a plain string), so :func:`recent_runs` makes a clean
list of it, and every change goes through :func:`with_run` / :func:`without_run`: absolute paths,
one entry per folder (compared resolved: a link and its target are one folder), at most
MAX_RECENT of them.
"""
from __future__ import annotations

import os
from pathlib import Path

#: the entries File > Open recent lists (numbered &1..&8)
MAX_RECENT = 8
#: a longer string is no path the system opens (Linux's PATH_MAX): garbage, not a folder
MAX_PATH_CHARS = 4096
#: the files that make a folder a run: its checkpoint, or the config a run writes before its first one
RUN_FILES = ("checkpoint.pt", "config.json")


def resolved(path) -> str | None:
    """``path`` as one folder is named whatever the way to it (links, ``..``); None for what is no
    usable path (not a string, empty, relative, too long, a NUL in it)."""
    if not isinstance(path, str) or not path or len(path) > MAX_PATH_CHARS or "\0" in path:
        return None
    if not os.path.isabs(path):   # relative to which folder? Only the window's own absolute paths count
        return None
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return None


def recent_runs(value, limit: int = MAX_RECENT) -> list[str]:
    """The list kept under "recent_runs", from whatever was stored there: a list (or tuple) of
    paths, or one path as a string; anything else is an empty list. Entries that are no usable
    path are dropped, a folder listed twice is kept where it first appears; reading stops at
    ``limit`` entries, however long the stored list."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return []
    out: list[str] = []
    seen: set[str] = set()
    for item in value:
        if len(out) >= limit:
            break
        if not isinstance(item, str) or item in seen:   # an exact repeat costs no resolving
            continue
        seen.add(item)
        path = resolved(item)
        if path is not None and path not in out:
            out.append(path)
    return out


def _absolute(path) -> str | None:
    """A path the window has just used, relative ones (the studio's default ``runs/``) taken from
    the current folder, as the window's training process took them."""
    try:
        return resolved(os.path.abspath(os.fspath(path)))
    except (TypeError, ValueError, OSError):
        return None


def with_run(paths, path, limit: int = MAX_RECENT) -> list[str]:
    """``paths`` with ``path`` first (moved there if it was listed), cut to ``limit``; ``paths``
    unchanged (but cleaned) when ``path`` is no usable path."""
    first = _absolute(path)
    rest = recent_runs(paths, limit)
    if first is None:
        return rest
    return [first, *(p for p in rest if p != first)][:limit]


def without_run(paths, path) -> list[str]:
    """``paths`` without the folder ``path`` (however it is written)."""
    gone = _absolute(path)
    return [p for p in recent_runs(paths) if p != gone]


def is_run_folder(path) -> bool:
    """Whether ``path`` is still a run folder: a folder with a checkpoint.pt or a config.json. A run
    the window created has its config.json from the start; its checkpoint comes with its first save."""
    try:
        folder = Path(path)
        return folder.is_dir() and any((folder / name).exists() for name in RUN_FILES)
    except (OSError, ValueError, TypeError):
        return False
