"""A run folder is data: the only code it can carry is an imported TorchScript generator
(``model.arch = "torchscript"``), and that file is run only once the person has said they trust it.

Trust is given per file content: the sha256 of the script file is remembered in a small JSON store,
``trusted_scripts.json`` in the studio's config folder (``$GAN_STUDIO_CONFIG_DIR``, else
``$XDG_CONFIG_HOME/gan-studio``, else ``~/.config/gan-studio``). A changed file has another hash and
is untrusted again. The CLI gives trust with ``--trust-code``; the window asks with a confirmation
naming the file and its hash. :func:`gan_studio.core.nets.scripted.read_script` is the one place a script
is loaded: it hashes the very bytes it loads and refuses them unless trusted here (or its caller
passes ``trust=True`` explicitly).

``script_path`` must name a file inside the run folder (:func:`resolve_script_path`): relative, no
``..``, and still inside after symlinks are resolved.
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import time
from pathlib import Path, PurePosixPath, PureWindowsPath

from gan_studio.core.errors import CheckpointError, RunError
from gan_studio.core.io import atomic_write_text

STORE_NAME = "trusted_scripts.json"

# hashes trusted for the current call only (``--trust-code`` when the store cannot be written)
_granted: contextvars.ContextVar[frozenset] = contextvars.ContextVar("gan_studio_granted", default=frozenset())


class UntrustedCodeError(CheckpointError):
    """A TorchScript file that nobody has said they trust; it was not loaded (so it did not run)."""

    def __init__(self, path: str | Path, sha: str):
        self.path, self.sha256 = Path(path), sha
        super().__init__(f"{path} is a TorchScript program (sha256 {sha}) that has not been trusted: it was "
                         "not loaded, so it did not run; pass --trust-code if you trust it")


def config_dir() -> Path:
    if os.environ.get("GAN_STUDIO_CONFIG_DIR"):
        return Path(os.environ["GAN_STUDIO_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "gan-studio"


def store_path() -> Path:
    return config_dir() / STORE_NAME


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path) -> str:
    path = Path(path)
    try:
        return sha256_bytes(path.read_bytes())
    except OSError as e:
        raise CheckpointError(f"cannot read the TorchScript file {path} ({e.strerror or e})") from None


def _read_store() -> dict:
    """The store's ``{"scripts": {sha: {...}}}``; a missing, unreadable or malformed store trusts nothing."""
    try:
        data = json.loads(store_path().read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {"version": 1, "scripts": {}}
    if not isinstance(data, dict) or not isinstance(data.get("scripts"), dict):
        return {"version": 1, "scripts": {}}
    return data


def hash_trusted(sha: str) -> bool:
    return sha in _granted.get() or sha in _read_store()["scripts"]


def script_trusted(path: str | Path) -> bool:
    """Has the person trusted this file's current content?"""
    return hash_trusted(file_sha256(path))


def trust_hash(sha: str, name: str = "") -> None:
    """Remember ``sha`` as trusted (atomic write of the store); RunError when it cannot be written."""
    data = _read_store()
    data["version"] = 1
    data["scripts"][sha] = {"file": str(name), "trusted_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        atomic_write_text(store_path(), json.dumps(data, indent=1, sort_keys=True) + "\n")
    except OSError as e:
        raise RunError(f"cannot remember the trusted script in {store_path()} ({e.strerror or e}); "
                       "set GAN_STUDIO_CONFIG_DIR to a writable folder") from None


def trust_script(path: str | Path) -> str:
    """Remember the file's current content as trusted; returns its sha256."""
    sha = file_sha256(path)
    trust_hash(sha, Path(path).name)
    return sha


@contextlib.contextmanager
def granted(sha: str):
    """Trust ``sha`` inside this block only (an explicit ``--trust-code`` whose store write failed)."""
    token = _granted.set(_granted.get() | {sha})
    try:
        yield
    finally:
        _granted.reset(token)


def resolve_script_path(run_dir: str | Path, script_path: str) -> Path:
    """``model.script_path`` of a run folder as an absolute path inside it, or one CheckpointError."""
    run_dir = Path(run_dir)
    text = str(script_path)
    if (not text or "\x00" in text or PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute()
            or PureWindowsPath(text).drive or ".." in PurePosixPath(text.replace("\\", "/")).parts):
        raise CheckpointError(f"{run_dir}: model.script_path = {text!r} is not allowed; it must be a file "
                              "name relative to the run folder, without '..' (a run folder may not point "
                              "at files outside it)")
    root = run_dir.resolve()
    full = (root / text).resolve()
    if full != root and root not in full.parents:
        raise CheckpointError(f"{run_dir}: model.script_path = {text!r} leads outside the run folder "
                              f"(to {full}); it must stay inside it")
    return full


@contextlib.contextmanager
def trusting(script: str | Path | None, trust_code: bool):
    """Inside the block, ``script`` may be loaded when ``trust_code`` (``--trust-code``) says so: its
    hash is remembered in the store, and trusted for this block even if the store cannot be written.
    Without ``trust_code`` nothing changes: the loader asks the store."""
    if not (trust_code and script):
        yield
        return
    sha = file_sha256(script)
    try:
        trust_hash(sha, Path(script).name)
    except RunError:
        pass  # still trusted for this call; the next one asks again
    with granted(sha):
        yield
