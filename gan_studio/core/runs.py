"""Run folders: config.json, metrics.jsonl, events.jsonl, checkpoint.pt, snapshots/*.png, and for
2-D runs with ``train.keep_samples_at`` samples/step_XXXXXXXX.npy (G's points at those steps).
With ``train.fork_keep`` > 0, forks/step_XXXXXXXX.pt holds the full state at each of the last N
evaluations (a run can be forked there: core/fork.py); a fork's folder has lineage.json (its
``parent`` run and ``branch_step``).

Every file that is rewritten is written atomically, and the folder has one writer at a time
(:mod:`gan_studio.core.io`), so a crash or a full disk never leaves half a checkpoint. Checkpoints
are loaded with ``weights_only=True``: loading never runs code from the file; a file that tries to
is refused with a clear message.
"""
from __future__ import annotations

import io
import json
import math
import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

import gan_studio.core.families  # noqa: F401  (the model families' names and config sections a run's config holds)
from gan_studio.core.config import Config
from gan_studio.core.errors import (CheckpointError, ConfigError, DataError, RunError, WriteError,
                                    describe_os_error)
from gan_studio.core.io import (LOCK_NAME, RunLock, RunLockedError, atomic_write_bytes, atomic_write_text,
                                remove_stale_temp_files)
from gan_studio.core.trust import resolve_script_path, trusting

CHECKPOINT = "checkpoint.pt"
FORMAT = "gan-studio-checkpoint/1"
#: the folder of the kept 2-D samples, and the name of one file in it
SAMPLES = "samples"
_SAMPLES_FILE = re.compile(r"^step_(\d{8,10})\.npy$")
#: the largest samples file a reader loads (512 points are 4 KiB)
MAX_SAMPLES_BYTES = 64 << 20
#: the folder of the states kept to fork from (train.fork_keep), and the name of one file in it
FORKS = "forks"
_FORK_FILE = re.compile(r"^step_(\d{8,10})\.pt$")
#: a fork's record of where it comes from
LINEAGE = "lineage.json"
#: the largest step a checkpoint may hold (the kept states' and samples' file names have up to 10 digits)
MAX_STEP = 10**10 - 1


def check_step_count(steps: int, option: str, at: int = 0) -> None:
    """Refuse a number of steps that would carry a run past MAX_STEP: it would train (for ever) towards a
    step its own checkpoint could not hold, and a resume would refuse that checkpoint as damaged."""
    if at + steps > MAX_STEP:
        where = f" (the run is at step {at:,})" if at else ""
        raise ConfigError(f"{option} = {steps:,}: a run holds at most {MAX_STEP:,} steps in all{where}")


def _log_int(text: str) -> int | float:
    """An integer of a log row. One too large for a float (a hand-edited row's 5,000 digits) is read
    as the float inf, so that every reader can plot or skip it instead of failing on int() or float()."""
    return int(text) if len(text.lstrip("-")) <= 300 else float(text)


def _json_safe(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return _json_safe(obj.item())
    return obj


def save_checkpoint_file(state: dict, path: str | Path) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


#: what torch's weights-only unpickler says when it refuses a global (a class or function the file
#: names, which a plain unpickler would import and call): the file asks to run code
_REFUSED_GLOBAL = re.compile(r"GLOBAL |unsupported global|add_safe_globals|unrecognized function|"
                             r"unsupported class", re.IGNORECASE)


def load_checkpoint_file(path: str | Path) -> dict:
    """Load and check a checkpoint without running code from it (``weights_only=True``, always).
    CheckpointError in one line: missing, empty, cut short, incomplete or damaged, refused (it names
    code to run), or not ours; then what the user can do: for a run's checkpoint.pt, the states the
    run kept in forks/ and the ``gan-studio fork`` command that recovers from one, or an earlier copy
    put in its place, and that its metrics and snapshots can still be read; for a kept state, the
    other states to fork from."""
    path = Path(path)
    try:
        return _load_checkpoint(path)
    except CheckpointError as e:
        hint = _recovery_hint(path) if path.is_file() else ""
        if not hint:
            raise
        raise CheckpointError(f"{e}; {hint}") from None


def state_mismatch(e: Exception) -> str:
    """torch's load_state_dict error in a few words: the first layer whose shape differs, the weights
    missing or left over (its own text begins with 'Error(s) in loading state_dict for X:' and
    nothing else on that line); any other error as its type and first line."""
    text = str(e)
    parts = []
    size = re.search(r"size mismatch for ([\w.]+): copying a param with shape torch\.Size\((\[[^\]]*\])\) "
                     r"from checkpoint, the shape in current model is torch\.Size\((\[[^\]]*\])\)", text)
    if size:
        more = text.count("size mismatch for ") - 1
        parts.append(f"{size[1]} is {size[2]} in the file but {size[3]} for its config"
                     + (f", and {more} more weights of other shapes" if more > 0 else ""))
    for label, what in (("Missing key(s)", "weights missing"), ("Unexpected key(s)", "weights it has no place for")):
        found = re.search(re.escape(label) + r" in state_dict: ([^\n]*)", text)
        if found:
            names = re.findall(r'"([^"]+)"', found[1])
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            parts.append(f"{what}: {shown}")
    if parts:
        owner = re.match(r"Error\(s\) in loading state_dict for (\w+):", text)
        return (f"{owner[1]}: " if owner else "") + "; ".join(parts)
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return f"{type(e).__name__}: {first[:160]}"


def load_plain(path: Path, what: str = "a checkpoint", remedy: str = ""):
    """``torch.load`` of tensors and plain data only (never code): a file that names a class or
    function to call is refused in words that say so; any other file that cannot be read is described
    from its bytes in one sentence that names it, says what is wrong (empty, cut short, incomplete,
    damaged, not ``what``) and its size, then ``remedy`` (what the user can do), never torch's text."""
    try:
        with warnings.catch_warnings():   # a plain pickle's "Detected pickle protocol 4" is no second line
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=_is_archive(path))
    except pickle.UnpicklingError as e:
        if _REFUSED_GLOBAL.search(str(e)):   # the file names a class or function to call: never loaded
            name = re.search(r"GLOBAL ([\w.]+)", str(e))
            raise _refused(path, name.group(1) if name else None) from None
        # any other refusal is an opcode or a record the unpickler cannot take: bytes, not code
        raise _unreadable(path, what, remedy, e) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, AttributeError,
            ImportError, IndexError, KeyError, TypeError) as e:
        raise _unreadable(path, what, remedy, e) from None
    # torch reads an archive's records without checking their checksums: a flipped bit in a
    # tensor's bytes loads as a wrong weight and training goes on from it. Checked here (it reads
    # the file once more: 20 ms for a 50 MB file here, where torch.load itself took 30-55 ms)
    damaged = _damaged_record(path, what, remedy)
    if damaged is not None:
        raise CheckpointError(f"{path} {_damaged(f'{path.stat().st_size:,} bytes', damaged)}: it cannot be read"
                              + (f"; {remedy}" if remedy else ""))
    inflated = _inflated_tensor(loaded)
    if inflated is not None:
        raise CheckpointError(f"{path}: {inflated}: it was damaged or edited" + (f"; {remedy}" if remedy else ""))
    return loaded


def _inflated_tensor(obj, name: str = "") -> str | None:
    """The first tensor of a loaded file that claims more numbers than the bytes it was stored with (a
    view with a stride of 0, ``torch.zeros(1).expand(10**9)``: four bytes in the file, gigabytes once
    anything copies it), said in a few words; None when there is none. A state the studio writes never
    holds one: each tensor has its own bytes."""
    if isinstance(obj, torch.Tensor):
        if obj.numel() * obj.element_size() > obj.untyped_storage().nbytes():
            return (f"{name or 'a tensor'} claims {obj.numel():,} numbers ({list(obj.shape)}) where the file "
                    f"stores {obj.untyped_storage().nbytes():,} bytes for it")
        return None
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for key, value in items:
        found = _inflated_tensor(value, f"{name}.{key}" if name else str(key))
        if found is not None:
            return found
    return None


def _is_archive(path: Path) -> bool:
    """Whether ``path`` begins as torch.save's zip archive. Such a file is loaded memory-mapped: its
    tensors are views of the file, read only where they are used, so a damaged or hostile file whose
    tensor claims gigabytes is refused by the shape checks that follow (a network's load_state_dict)
    before anything of that size is allocated. Older formats (a plain pickle) cannot be mapped."""
    try:
        with open(path, "rb") as f:
            return f.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC
    except OSError:
        return False   # torch.load says why, in _unreadable's words


def _damaged(n: str, record: str) -> str:
    """What is wrong with an archive whose ``record`` fails its checksum (``n``: the file's size)."""
    return f"is damaged ({n}; its record {record} does not match its checksum)"


def _damaged_record(path: Path, what: str, remedy: str) -> str | None:
    """The first record of a zip archive (torch.save's format) whose bytes do not match the checksum
    stored beside them; None for a whole archive, or a file that is not an archive (a plain pickle
    has no checksums)."""
    try:
        with open(path, "rb") as f:
            if f.read(len(_ZIP_MAGIC)) != _ZIP_MAGIC:
                return None
        with zipfile.ZipFile(path) as zf:
            return zf.testzip()
    except zipfile.BadZipFile:
        return "table of contents"
    except (zipfile.LargeZipFile, NotImplementedError):
        return None   # an archive zipfile cannot check; torch read it
    except OSError as e:
        raise _unreadable(path, what, remedy, e) from None


def _refused(path: Path, name: str | None) -> CheckpointError:
    shown = f" ({name})" if name else ""
    return CheckpointError(f"{path} was refused: it holds objects other than tensors and plain "
                           f"data{shown}, and loading it could run code, so it was not loaded")


#: how a zip archive (torch.save's format since 1.6) begins; a file cut short keeps its beginning
_ZIP_MAGIC = b"PK\x03\x04"
#: the most of a file that is parsed (never run) to tell a plain pickle from other bytes
_PICKLE_SCAN_BYTES = 16 << 20


def _unreadable(path: Path, what: str, remedy: str, error: BaseException) -> CheckpointError:
    """One sentence on a file torch could not load: what is wrong with it, told from its bytes (read,
    never run), then ``remedy``. A file that cannot be opened at all says why, in words."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(len(_ZIP_MAGIC))
    except OSError as e:
        return CheckpointError(f"{path} cannot be opened: {_os_reason(e)}" + (f"; {remedy}" if remedy else ""))
    n = f"{size:,} byte{'s' if size != 1 else ''}"
    if size == 0:
        problem = f"is empty ({n})"
    elif head == _ZIP_MAGIC:
        problem = _zip_problem(path, n, what, error)
    else:
        code = _plain_pickle_globals(path)
        if code:   # a plain pickle that names classes or functions to call
            return _refused(path, code[0])
        if code is not None:
            problem = f"is a plain Python pickle, not {what} ({n})"
        elif head.startswith(_ZIP_MAGIC[:len(head)]):   # fewer bytes than the zip signature itself
            problem = f"is cut short ({n}; its end is missing)"
        else:
            problem = f"is cut short or is not {what} ({n} that are neither a PyTorch archive nor a pickle)"
    return CheckpointError(f"{path} {problem}: it cannot be read" + (f"; {remedy}" if remedy else ""))


def _zip_problem(path: Path, n: str, what: str, error: BaseException) -> str:
    """What is wrong with a file that begins as a zip archive but that torch could not load."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            broken = zf.testzip()   # the first record whose bytes do not match their checksum
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, RuntimeError, NotImplementedError):
        return f"is cut short ({n}; its end is missing)"   # no table of contents at the end
    if not any(name.endswith("data.pkl") for name in names):
        return f"is not {what} ({n}; a zip archive without the data.pkl that a PyTorch file holds)"
    if broken is not None:
        return _damaged(n, broken)
    missing = re.search(r"failed locating file ([\w./-]+)", str(error))
    if missing:
        return f"is incomplete ({n}; its archive lacks the record {missing.group(1)}, the bytes of a tensor)"
    return f"is damaged ({n}; its archive is whole but its records cannot be read as {what})"


def _plain_pickle_globals(path: Path) -> list[str] | None:
    """None unless the file is one whole plain Python pickle (parsed by pickletools, which never imports
    or calls anything); else the classes and functions it names, which unpickling it would call."""
    import pickletools
    named, strings, whole = [], [], False
    try:
        with open(path, "rb") as f:
            data = f.read(_PICKLE_SCAN_BYTES)
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            if op.name == "STOP":
                whole = True
                break
            if isinstance(arg, str):
                strings.append(arg)
            if op.name in ("GLOBAL", "INST"):
                named.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL":
                named.append(".".join(strings[-2:]) if len(strings) >= 2 else "a global")
            elif op.name in ("REDUCE", "OBJ", "NEWOBJ", "NEWOBJ_EX", "BUILD") and not named:
                named.append("an object")
    except (OSError, ValueError, EOFError, IndexError, KeyError, TypeError, UnicodeDecodeError,
            OverflowError, MemoryError):   # not a pickle (pickletools: ValueError for a byte that is no opcode)
        return None
    return named if whole else None


def _os_reason(e: OSError) -> str:
    """Why a file could not be opened, in words (never ``[Errno N]``)."""
    if isinstance(e, IsADirectoryError):
        return "it is a folder, not a file"
    if isinstance(e, PermissionError):
        return "permission denied (it is not readable by this user)"
    if isinstance(e, FileNotFoundError):
        return "it is not there (it was moved or deleted)"
    return (e.strerror or "the system could not read it").rstrip(".").lower()


def _load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    state = load_plain(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a GAN Studio checkpoint (format {FORMAT} expected)")
    for key in ("step", "config_json", "G", "D", "opt_g", "opt_d", "rng"):
        if key not in state:
            raise CheckpointError(f"{path} lacks {key!r}: it is incomplete or from another program")
    step = state["step"]
    # resuming cuts the run's logs and kept states after this step: -5 (or True) would erase them all
    if not (isinstance(step, int) and not isinstance(step, bool) and 0 <= step <= MAX_STEP):
        raise CheckpointError(f"{path} holds step {_show(step)}, not a step count (a whole number from 0 to "
                              f"{MAX_STEP:,}): it was damaged or edited")
    try:
        Config.from_dict(json.loads(state["config_json"]))
    except (ConfigError, json.JSONDecodeError, TypeError) as e:
        raise CheckpointError(f"{path} holds an invalid config: {e}") from None
    damaged = _damaged_part(state)
    if damaged is not None:
        raise CheckpointError(f"{path} holds a damaged {damaged} (not the table of names it must be): "
                              "it was damaged or edited")
    try:   # the run's changes: a Trainer appends to this list, a fork copies it into events.jsonl
        events = json.loads(state.get("events_json", "[]"))
    except (TypeError, ValueError, RecursionError):
        events = None
    if not isinstance(events, list):
        raise CheckpointError(f"{path} holds no list of the run's changes (its events_json is damaged or edited)")
    return state


def _damaged_part(state: dict) -> str | None:
    """The first part of a checkpoint's state that is not the dict (of dicts) every Trainer writes
    there, or None: G, D, the optimizers, the tricks' layouts and states, the gradient scalers'."""
    for key in ("G", "D", "opt_g", "opt_d"):
        if not isinstance(state[key], dict):
            return key
    extra, amp = state.get("extra", {}), state.get("amp", {})
    if not isinstance(extra, dict):
        return "extra"
    for part in ("layout", "tricks"):
        table = extra.get(part, {})
        if not isinstance(table, dict):
            return f"extra.{part}"
        for name, value in table.items():
            if not isinstance(value, dict):
                return f"extra.{part}.{name}"
    if not isinstance(amp, dict) or not all(isinstance(v, dict) for v in amp.values()):
        return "amp"
    return None


def _recovery_hint(path: Path) -> str:
    """What the user can do about a checkpoint file that cannot be used. A run's checkpoint.pt: the
    states it kept in forks/ (train.fork_keep) and the command that starts a run from one, or else an
    earlier copy put in its place; either way its logs are still there to read. A state kept in
    forks/: fork at another step. "" for any other file (it is not a run's)."""
    if path.parent.name == FORKS and _FORK_FILE.match(path.name):
        try:
            others = [s for s, p in RunFolder(path.parent.parent, read_only=True).fork_points().items() if p != path]
        except OSError:
            others = []
        listed = f" ({', '.join(map(str, others))})" if others else ""
        return f"fork at another kept step{listed} or from the run's {CHECKPOINT} (without --at)"
    if path.name != CHECKPOINT:
        return ""
    run = path.parent
    readable = "the run's metrics and snapshots can still be read"
    try:
        steps = list(RunFolder(run, read_only=True).fork_points())
    except OSError:   # forks/ cannot be listed (no permission): no states to name
        steps = []
    if not steps:
        return f"to go on, put an earlier copy of {CHECKPOINT} in its place; {readable}"
    last = steps[-1]
    listed = ", ".join(str(s) for s in steps)
    return (f"earlier states are kept in {run / FORKS} (step{'s' if len(steps) > 1 else ''} {listed}): "
            "recover from one with "
            f"`gan-studio fork {run} --at {last} --out NEW_DIR`; {readable}")


class RunFolder:
    """A run folder. ``RunFolder.open(path)`` is read-only (any write raises RunError);
    ``open(path, writable=True)``, ``create(path, cfg, lock=True)`` and ``lock()`` take the
    one-writer lock (:class:`~gan_studio.core.io.RunLock`) that whoever trains into the folder holds."""

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        self.restored_config = False   # a writer wrote a broken config.json again (restore_config)
        #: why its pictures could not be read, when trainer_from_run(needs_data=False) built its Trainer
        #: on a stand-in (drawing only: its config there names no pictures, so it must not be saved)
        self.pictures_gone = ""
        self._lock = None

    # -- creation / opening ------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, cfg: Config, lock: bool = False,
               command: str | None = None) -> "RunFolder":
        """A new run folder; ``lock=True``: held for writing (by ``command``) before anything is written."""
        run = cls(path)
        cls._refuse_foreign_folder(run.path)   # before the lock file: a stranger's folder is left alone
        if lock:
            run.path.mkdir(parents=True, exist_ok=True)
            run.lock(command)
        if (run.path / CHECKPOINT).exists():
            run.unlock()
            raise RunError(f"{run.path} already holds a run; resume it with --resume {run.path} "
                           "or choose another --out")
        run.path.mkdir(parents=True, exist_ok=True)
        cfg.save(run.path / "config.json")
        for name in ("metrics.jsonl", "events.jsonl"):
            (run.path / name).write_text("")
        return run

    @staticmethod
    def _refuse_foreign_folder(path: Path) -> None:
        """A new run goes into a new or empty folder, or one of our own runs (never overwrite
        someone's config.json or metrics.jsonl): RunError for a file, or for a folder with other
        things in it and no checkpoint.pt or config.json of ours."""
        if not path.exists():
            return
        if not path.is_dir():
            raise RunError(f"--out {path} is a file, not a folder; choose another --out")
        try:
            entries = [e for e in os.listdir(path) if e != ".lock"]
        except OSError as e:
            raise RunError(f"cannot use {path} as a run folder: {e.strerror or e}") from None
        if not entries or CHECKPOINT in entries:   # empty, or a run (refused below as 'already holds')
            return
        cfg_file = path / "config.json"
        try:
            if cfg_file.is_file() and cfg_file.stat().st_size < (16 << 20):
                Config.load(cfg_file)   # ours: a run that stopped before its first checkpoint
                return
        except (ConfigError, OSError):
            pass
        count = f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'}"
        raise RunError(f"{path} is not empty and is not a GAN Studio run folder ({count}, "
                       "no checkpoint.pt, no config.json of ours): choose a new or empty folder for --out")

    @classmethod
    def open(cls, path: str | Path, writable: bool = False, command: str | None = None) -> "RunFolder":
        """An existing run: read-only unless ``writable`` (then locked for writing, or RunError)."""
        run = cls(path, read_only=not writable)
        if not run.path.is_dir():
            raise RunError(f"no run folder at {run.path}")
        checkpoint = run.path / CHECKPOINT
        if os.path.lexists(checkpoint) and not checkpoint.is_file():   # a folder or a broken link
            what = "a folder" if checkpoint.is_dir() else "a link to nothing" if not checkpoint.exists() \
                else "not a plain file"
            raise CheckpointError(f"{checkpoint} is {what}, not a checkpoint file: it cannot be read; "
                                  f"{_recovery_hint(checkpoint)}")
        if not checkpoint.is_file():
            if writable:   # a fresh run before its first checkpoint: say who trains it, not "no run"
                cls._refuse_if_held(run.path, command)
            if (run.path / "config.json").is_file():   # ours, before its first checkpoint
                raise RunError(f"{run.path} has no {CHECKPOINT} yet: no step of this run was saved (a run "
                               "in training writes one at each save and when it stops)")
            raise RunError(f"{run.path} has no {CHECKPOINT}: it is not a run folder, or no step was saved")
        if writable:
            run.lock(command)
        return run

    @staticmethod
    def _refuse_if_held(path: Path, command: str | None) -> None:
        """RunError naming the writer when another process holds ``path``'s lock. Probed only where a
        lock file exists (no .lock is left in a folder that is no run); a free lock is let go at once."""
        if not (path / LOCK_NAME).is_file():
            return
        probe = RunLock(path, command)
        try:
            probe.acquire()
        except RunLockedError as e:
            raise RunError(str(e)) from None
        except OSError:
            return   # cannot lock (a read-only folder): nobody can be writing it either
        probe.release()

    # -- the one-writer lock -------------------------------------------------------------------
    @property
    def locked(self) -> bool:
        return self._lock is not None and self._lock.held

    def lock(self, command: str | None = None) -> "RunFolder":
        """Become this folder's one writer, or RunError naming the process that is."""
        if not self.locked:
            lock = RunLock(self.path, command)
            try:
                lock.acquire()
            except RunLockedError as e:
                raise RunError(str(e)) from None
            except OSError as e:
                raise RunError(f"cannot lock {self.path} for writing: {describe_os_error(e)}") from None
            self._lock = lock
        self.read_only = False
        return self

    def unlock(self) -> None:
        """Stop being the writer (the process's end does it too)."""
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

    def _check_writable(self) -> None:
        if self.read_only:
            raise RunError(f"{self.path} was opened read-only: nothing is written to it")

    def config(self) -> Config:
        """The run's config.json; when that file is missing or unreadable (cut, edited by hand) and
        the run has a checkpoint, the config the checkpoint holds (the run's latest, live changes
        included): the checkpoint is what the run trains from. Nothing is written here."""
        try:
            return Config.load(self.path / "config.json")
        except (ConfigError, OSError) as e:
            if not (self.path / CHECKPOINT).is_file():
                raise
            try:
                return Config.from_dict(json.loads(self.load_checkpoint()["config_json"]))
            except CheckpointError:
                raise e from None

    def restore_config(self, cfg: Config, events: list[dict] | None = None) -> bool:
        """A writer rewrites a config.json that is missing or cannot be read, atomically; True when
        it did. A readable config.json is left as it is. ``cfg`` is the checkpoint's (live) config and
        ``events`` the run's live changes: what is written is the config the folder started from (a
        run's first step, a fork's branch step), as config.json always holds, with the changes in
        events.jsonl on top of it (see :func:`start_config`)."""
        self._check_writable()
        try:
            Config.load(self.path / "config.json")
            return False
        except (ConfigError, OSError):
            events = events or []
            start_config(cfg, events, held_events(self.path, events)).save(self.path / "config.json")
            return True

    # -- logs ----------------------------------------------------------------------------------
    def _append(self, name: str, row: dict) -> None:
        """Append ``row`` as one line. A last line a crash cut (no newline at its end) is ended
        first: readers skip it alone, not the row written after it too. A write that fails (a full
        disk) takes back what it wrote, so the log is as it was, and is a WriteError naming the file."""
        self._check_writable()
        path, size = self.path / name, None
        line = (json.dumps(_json_safe(row)) + "\n").encode("utf-8")
        try:
            with open(path, "ab+") as fh:   # appends, and can read the last byte
                size = fh.seek(0, os.SEEK_END)
                if size:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        line = b"\n" + line
                fh.write(line)
        except OSError as e:
            if size is not None:
                try:
                    os.truncate(path, size)   # half a row is no row: the log ends where it did
                except OSError:
                    pass   # readers skip a cut line, and the next append ends it
            if e.filename is None:   # a failed write() names no file
                e.filename = str(path)
            err = WriteError(f"{describe_os_error(e)}: the rows before this one are kept")
            err.errno, err.strerror, err.filename = e.errno, e.strerror, str(path)
            raise err from None

    def append_metrics(self, row: dict) -> None:
        self._append("metrics.jsonl", row)

    def complete_last_metrics(self, row: dict) -> None:
        """Write ``row`` as the log's row of its step: the last row grows by its values when it is
        of that step (a step logged, then evaluated when the run closes; one row per step, never two),
        else ``row`` is appended. The file is rewritten atomically."""
        self._check_writable()
        p = self.path / "metrics.jsonl"
        lines = p.read_text(encoding="utf-8").splitlines() if p.exists() else []
        while lines and not lines[-1].strip():
            lines.pop()
        try:
            last = json.loads(lines[-1]) if lines else None
        except (ValueError, RecursionError):
            last = None   # a line cut by a crash mid-write: readers skip it, and so is it replaced
            lines.pop()
        if isinstance(last, dict) and last.get("step") == row.get("step"):
            lines[-1] = json.dumps(_json_safe({**last, **row}))
        else:
            lines.append(json.dumps(_json_safe(row)))
        atomic_write_text(p, "".join(line + "\n" for line in lines))

    def append_event(self, event: dict) -> None:
        self._append("events.jsonl", event)

    def _read(self, name: str) -> list[dict]:
        p = self.path / name
        if not p.exists():
            return []
        rows = []
        # bytes that are not UTF-8 spoil their line only (it is skipped below)
        for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line, parse_int=_log_int)
            except (ValueError, RecursionError):
                continue  # a line cut by a crash mid-write (or nested too deeply): skip it
            # a hand-broken line (a list, a text step) is no row either: every reader compares steps
            step = row.get("step", 0) if isinstance(row, dict) else None
            if isinstance(step, (int, float)) and not isinstance(step, bool):
                rows.append(row)
        return rows

    def read_metrics(self) -> list[dict]:
        return self._read("metrics.jsonl")

    def read_events(self) -> list[dict]:
        return self._read("events.jsonl")

    def truncate_after(self, step: int) -> None:
        """Drop log rows past ``step``: after a resume from that step they will be written again.
        Only the writer does this (a reader must not cut the log of a run that is training)."""
        self._check_writable()
        for name in ("metrics.jsonl", "events.jsonl"):
            rows = [r for r in self._read(name) if r.get("step", 0) <= step]
            atomic_write_text(self.path / name, "".join(json.dumps(r) + "\n" for r in rows))
        for s, path in self.kept_samples().items():   # kept past the checkpoint: kept again on the way
            if s > step:
                path.unlink(missing_ok=True)
        for s, path in self.fork_points().items():    # states of a future that will be trained again
            if s > step:
                path.unlink(missing_ok=True)

    # -- checkpoints and snapshots ---------------------------------------------------------------
    def save_checkpoint(self, trainer, state: dict | None = None) -> Path:
        """Write checkpoint.pt atomically, from finite weights only. ``state`` is the trainer's state
        as the caller (RunLoop) already checked it; without it the trainer's state is checked here and
        one with NaN or inf is refused (RunError), the previous checkpoint kept. Temporary files of
        checkpoint writers that were killed are removed first."""
        path = self.path / CHECKPOINT
        if state is None:
            from gan_studio.core.training.trainer import describe_nonfinite, nonfinite_tensors
            state = trainer.state_dict()
            bad = nonfinite_tensors(state)
            if bad:
                raise RunError(f"not saved: {describe_nonfinite(bad)} NaN or infinite; "
                               f"the previous {CHECKPOINT} is kept")
        remove_stale_temp_files(self.path, CHECKPOINT)
        save_checkpoint_file(state, path)
        return path

    def load_checkpoint(self) -> dict:
        return load_checkpoint_file(self.path / CHECKPOINT)

    # -- states kept to fork from (train.fork_keep) ---------------------------------------------------
    def save_fork_point(self, state: dict, keep: int) -> Path:
        """Write ``state`` (the trainer's, already found finite) to forks/step_XXXXXXXX.pt
        atomically, then remove the oldest so that ``keep`` remain."""
        self._check_writable()
        out = self.path / FORKS / f"step_{int(state['step']):08d}.pt"
        remove_stale_temp_files(out.parent)
        save_checkpoint_file(state, out)
        kept = self.fork_points()
        for s in list(kept)[:max(0, len(kept) - keep)]:
            kept[s].unlink(missing_ok=True)
        return out

    def fork_points(self) -> dict[int, Path]:
        """step -> file of the states kept to fork from, in step order ({} when none)."""
        folder = self.path / FORKS
        try:
            names = os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        found = {int(m.group(1)): folder / n for n in names if (m := _FORK_FILE.match(n))}
        return dict(sorted(found.items()))

    def checkpoint_step(self) -> int | None:
        """The step of checkpoint.pt (read from the file), or None when there is none."""
        if not (self.path / CHECKPOINT).is_file():
            return None
        return int(self.load_checkpoint()["step"])

    def lineage(self) -> dict | None:
        """What lineage.json says (``parent``, ``branch_step``, ``changes``, ``ancestry``), or None for
        a run that is no fork (or whose record cannot be read)."""
        return read_lineage(self.path)

    def save_snapshot(self, trainer) -> Path:
        from gan_studio.core.render import render_snapshot_png
        self._check_writable()
        out = self.path / "snapshots" / f"step_{trainer.step_count:08d}.png"
        atomic_write_bytes(out, render_snapshot_png(trainer))
        return out


    # -- kept 2-D samples (train.keep_samples_at) ---------------------------------------------------
    def samples_path(self, step: int) -> Path:
        return self.path / SAMPLES / f"step_{step:08d}.npy"

    def save_samples(self, trainer, only_if_missing: bool = False) -> Path | None:
        """Write G's points at the trainer's step (float32 (512, 2), one fixed latent batch) to
        samples/step_XXXXXXXX.npy, atomically; None (nothing written) for a run that is not 2-D."""
        from gan_studio.core.render import kept_samples
        self._check_writable()
        out = self.samples_path(trainer.step_count)
        if only_if_missing and out.is_file():
            return out
        pts = kept_samples(trainer)
        if pts is None:
            return None
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(pts, dtype=np.float32), allow_pickle=False)
        atomic_write_bytes(out, buf.getvalue())
        return out

    def kept_samples(self) -> dict[int, Path]:
        """step -> file of the samples this run kept, in step order ({} when it kept none)."""
        folder = self.path / SAMPLES
        try:
            names = os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        found = {int(m.group(1)): folder / n for n in names if (m := _SAMPLES_FILE.match(n))}
        return dict(sorted(found.items()))

    def load_samples(self, step: int) -> np.ndarray:
        """The kept samples at ``step`` as float64 (N, 2); RunError when that step was not kept or
        the file is not an (N, 2) array of numbers. Reads only: nothing in the folder changes."""
        kept = self.kept_samples()
        if step not in kept:
            have = ", ".join(str(s) for s in kept) or "none"
            raise RunError(f"{self.path} kept no samples at step {step}; the steps it kept: {have}")
        path = kept[step]
        if path.stat().st_size > MAX_SAMPLES_BYTES:
            raise RunError(f"{path} is too large to be the samples of one step "
                           f"(over {MAX_SAMPLES_BYTES >> 20} MiB)")
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            if isinstance(e, (FileNotFoundError, PermissionError)):
                raise
            raise RunError(f"{path} is truncated or corrupt and cannot be read") from None
        if not (isinstance(arr, np.ndarray) and arr.ndim == 2 and arr.shape[1] == 2
                and arr.dtype.kind in "fiu"):
            raise RunError(f"{path} does not hold (N, 2) points (found shape {getattr(arr, 'shape', '?')})")
        return arr.astype(np.float64)


def held_events(run_dir: str | Path, events: list[dict]) -> int:
    """How many of a folder's first ``events`` its config.json already holds: none for a run (it
    is written before the first step); for a fork, those up to its branch (the parent's changes and
    the fork's own at the branch), counted in lineage.json, or, for a fork written before the count
    was kept there, the events up to its branch step."""
    lineage = read_lineage(run_dir)
    if lineage is None:
        return 0
    held = lineage.get("events_at_branch")
    if isinstance(held, int) and not isinstance(held, bool) and 0 <= held <= len(events):
        return held
    branch = lineage["branch_step"]
    return sum(1 for e in events if isinstance(e, dict) and isinstance(e.get("step", 0), (int, float))
               and e.get("step", 0) <= branch)


def start_config(live: Config, events: list[dict], held: int = 0) -> Config:
    """The config a run folder started from, rebuilt from its live config and its events: every
    live change after the first ``held`` events ("set" events, each with its ``old`` value) undone,
    newest first (``held``: what config.json already holds, :func:`held_events`). Falls back to
    ``live`` when an event cannot be undone (no ``old``, a value the config refuses)."""
    cfg = live.copy()
    try:
        for event in reversed(events[held:]):
            if not isinstance(event, dict) or event.get("event") != "set":
                continue
            if "old" not in event or not isinstance(event.get("key"), str):
                return live.copy()
            cfg.set(event["key"], event["old"])
        cfg.validate()
    except (ConfigError, KeyError, TypeError, ValueError):
        return live.copy()
    return cfg


def read_lineage(run_dir: str | Path) -> dict | None:
    """A fork's lineage.json as a dict with an int ``branch_step``; None when the folder has none or
    it is not such a record (a reader that draws branch points does without)."""
    path = Path(run_dir) / LINEAGE
    try:
        if path.stat().st_size > (1 << 20):
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("branch_step"), int):
        return None
    return record


#: what says which run a checkpoint is of: no live change or legitimate copy makes these differ
#: between a run's config.json and the config inside its checkpoint
RUN_IDENTITY = ("data.name", "model.family", "model.arch")


def check_state_is_the_runs(run_path: str | Path, state: dict, state_path: str | Path) -> None:
    """CheckpointError when the state at ``state_path`` is of another run than the folder's
    config.json names (a checkpoint.pt copied from another run folder): resuming it would train that
    other run here and cut this run's log, kept states and samples at its step. Only the keys of
    RUN_IDENTITY that config.json names are compared; an unreadable config.json compares nothing."""
    try:
        named = json.loads((Path(run_path) / "config.json").read_text(encoding="utf-8"))
        held = json.loads(state["config_json"])
    except (OSError, ValueError, RecursionError, KeyError, TypeError):
        return
    if not isinstance(named, dict) or not isinstance(held, dict):
        return
    differ = []
    for key in RUN_IDENTITY:
        section, field = key.split(".")
        ours, theirs = named.get(section), held.get(section)
        if isinstance(ours, dict) and isinstance(theirs, dict) and field in ours \
                and ours[field] != theirs.get(field, ours[field]):
            differ.append(f"{key} = {_show(theirs[field])} (config.json: {_show(ours[field])})")
    if differ:
        raise CheckpointError(f"{state_path} is of another run: it holds {', '.join(differ)}; nothing was "
                              f"loaded or changed; put this run's own file in its place, or open the run folder "
                              f"it came from")


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def trainer_from_run(path: str | Path, device: str | None = None, trust_code: bool = False,
                     writable: bool = False, command: str | None = None, needs_data: bool = True):
    """Rebuild the Trainer of a run folder at its last checkpoint. Read-only by default (``sample``,
    ``latent``, the window looking at a run): nothing in the folder changes. ``writable=True`` (to
    train on: ``train --resume``) takes the folder's one-writer lock for ``command``, or RunError
    naming its holder, and drops the log rows past the checkpoint (they will be written again).
    A TorchScript generator inside the folder is loaded only if trusted (``trust_code`` trusts it).
    ``needs_data=False`` (drawing from G: ``sample``, ``latent``): a run whose pictures in data.path
    cannot be read (moved, emptied) is rebuilt on a stand-in of their shape (:func:`_without_data`)."""
    from gan_studio.core.families.registry import make_trainer
    run = RunFolder.open(path, writable=writable, command=command)
    state = run.load_checkpoint()
    check_state_is_the_runs(run.path, state, run.path / CHECKPOINT)
    cfg = Config.from_dict(json.loads(state["config_json"]))
    if cfg.model.script_path:  # imported TorchScript G: a file inside the run folder, run only if trusted
        cfg.model.script_path = str(resolve_script_path(run.path, cfg.model.script_path))
    try:
        with trusting(cfg.model.script_path if cfg.model.arch == "torchscript" else None, trust_code):
            try:
                tr = make_trainer(cfg, device=device)
            except DataError as gone:   # data.path moved or emptied
                from gan_studio.core.data.registry import dataset_folder
                if needs_data or not dataset_folder(cfg.data.name):
                    raise
                tr = _without_data(cfg, state, device, gone)
                run.pictures_gone = str(gone)
        tr.load_state_dict(state, copy=True)   # copied once it fits: the file is mapped (load_plain)
    except (RuntimeError, KeyError, ValueError, TypeError, AttributeError, IndexError) as e:
        # AttributeError, IndexError: a family's own state of another structure (a damaged or edited file)
        if isinstance(e, (ConfigError, CheckpointError, RunError, DataError)):   # DataError: data.path moved
            raise
        raise CheckpointError(f"{run.path / CHECKPOINT} does not fit its own config "
                              f"({state_mismatch(e)})") from None
    if writable:
        run.truncate_after(tr.step_count)
        # a cut or hand-broken config.json is written again from the checkpoint (run.restored_config
        # tells the caller, which says so)
        run.restored_config = run.restore_config(Config.from_dict(json.loads(state["config_json"])),
                                                 tr.events)
    return tr, run


def _without_data(cfg: Config, state: dict, device, gone: DataError):
    """The Trainer of a run whose pictures cannot be read, built on a stand-in of their shape (the
    ``imported`` set: no picture, as for a generator imported from another program), which is all G
    needs to draw, and of the classes the checkpoint names (a family whose G draws a chosen class).
    data.channels = 0 (the pictures' own) is found from the weights: colour, then grey.
    A family that builds from the pictures themselves (a reference drawn from real pictures) cannot:
    DataError, ``gone``'s message and why they are needed."""
    from gan_studio.core.data.images import no_images
    from gan_studio.core.families.registry import make_trainer, trainer_class
    classes = trainer_class(cfg).classes_without_data(state)   # damaged names: CheckpointError, here
    missing = f"{gone}; this run was opened without its pictures, to draw: put them back at data.path to train it"
    for channels in [cfg.data.channels] if cfg.data.channels else [3, 1]:
        stand_in = cfg.copy()
        stand_in.data.name, stand_in.data.channels = "imported", channels
        try:
            tr = make_trainer(stand_in, device=device, data=no_images(stand_in.data, classes, missing)
                              if classes is not None else None)
            tr.load_state_dict(state)   # the weights say whether these are the pictures' channels
        except (RuntimeError, KeyError, ValueError, TypeError):   # ConfigError, DataError: the family needs them
            continue
        return tr
    raise DataError(f"{gone}; a model.family = {cfg.model.family!r} run needs its pictures even to draw "
                    "(its networks are built from them): put them back at data.path") from None


def run_script_file(run_dir: str | Path) -> Path | None:
    """The TorchScript file a run folder would load (checked to be inside it), or None when its
    generator is not TorchScript. Reads the checkpoint's config, as opening the run does."""
    run = RunFolder.open(run_dir)
    cfg = Config.from_dict(json.loads(run.load_checkpoint()["config_json"]))
    if cfg.model.arch != "torchscript":
        return None
    return resolve_script_path(run.path, cfg.model.script_path)
