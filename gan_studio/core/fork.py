"""Fork a run: a new run folder that starts from the exact state of another at one of its kept
steps, with some settings changed, so both branches can be trained on and compared.

A fork holds the parent's state at the branch step (G, D, both optimisers, every trick's state, the
RNG, the step: the checkpoint the parent kept there), its history up to that step (metrics, events,
snapshots, kept samples) and ``lineage.json``: the ``parent`` run, the ``branch_step``, the
``changes`` made there and the ``ancestry`` (the same records of the parent's own forks, oldest
first). A fork with no change trains on bit for bit as its parent did; a change is applied as the
live switch it would be in a running Trainer (an event at the branch step), so a fork with one
matches its parent up to the branch step and differs after it.

The steps a run can be forked at are its last checkpoint's and those of the states it kept at its
last ``train.fork_keep`` evaluations (forks/step_XXXXXXXX.pt, written by the RunLoop); the window's
engine keeps the same states in memory and writes a fork with :func:`write_fork`.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gan_studio.core.config import Config, config_from_json
from gan_studio.core.errors import CheckpointError, ConfigError, RunError
from gan_studio.core.family_spec import needs_reset
from gan_studio.core.io import RunLock, RunLockedError, atomic_write_text, refuse_output_in_runs
from gan_studio.core.metrics import is_number
from gan_studio.core.runs import (CHECKPOINT, LINEAGE, SAMPLES, RunFolder, check_state_is_the_runs,
                                  load_checkpoint_file, read_lineage, save_checkpoint_file, state_mismatch)

#: what the parent's lock file says while a fork reads it (core/io.py)
FORK_COMMAND = "gan-studio fork"


def kept_steps(run_dir: str | Path) -> list[int]:
    """The steps ``run_dir`` can be forked at: its kept evaluation states and its checkpoint's step."""
    steps, problem = fork_listing(run_dir)
    if problem is not None:
        raise problem
    return steps


def fork_listing(run_dir: str | Path) -> tuple[list[int], CheckpointError | None]:
    """The steps ``run_dir`` can be forked at, and why its checkpoint.pt cannot be one of them when
    it cannot be read (None when it can): a run whose checkpoint is damaged can still be forked at
    the states it kept, which is how it is recovered, so they are listed all the same."""
    run = RunFolder.open(run_dir)
    steps = set(run.fork_points())
    problem = None
    try:
        step = run.checkpoint_step()
    except CheckpointError as e:
        step, problem = None, e
    if step is not None:
        steps.add(step)
    return sorted(steps), problem


#: values logged at every logged step: the columns of ``fork_table`` show the evaluation's instead
PER_STEP = {"step", "d_real", "d_fake", "steps_per_s"}


@dataclass
class KeptState:
    """One step a run can be forked at, as ``gan-studio fork RUN --list`` shows it."""
    step: int
    kind: str                    # "evaluation" (forks/step_N.pt) or "checkpoint" (checkpoint.pt)
    losses: dict = field(default_factory=dict)    # loss_* of the last row logged at or before the step
    metrics: dict = field(default_factory=dict)   # the last evaluation's values at or before the step
    metrics_step: int | None = None               # the step of that evaluation (None: none yet)
    changes: list[dict] = field(default_factory=list)   # events after the previous kept step, up to this one


def fork_table(run_dir: str | Path) -> tuple[list[KeptState], list[dict], CheckpointError | None]:
    """What a person choosing where to fork wants to see: each kept step with the run's losses and its
    last evaluation's metrics there (modes, HQ, ... or an image run's classifier metrics) and the live
    changes made since the kept step before it. Returns the states, the changes after the last kept
    step (made there or later: a fork at that step does not have them) and ``fork_listing``'s problem.
    Reads only."""
    steps, problem = fork_listing(run_dir)
    run = RunFolder.open(run_dir)
    kept = set(run.fork_points())
    rows = sorted(run.read_metrics(), key=lambda r: r.get("step", 0))
    events = sorted(run.read_events(), key=lambda e: e.get("step", 0) if isinstance(e.get("step"), int) else 0)
    states, previous = [], None
    for step in steps:
        state = KeptState(step, "evaluation" if step in kept else "checkpoint")
        for r in rows:
            if r.get("step", 0) > step:
                break
            losses = {k: v for k, v in r.items() if k.startswith("loss_") and is_number(v)}
            if losses:
                state.losses = losses
            found = {k: v for k, v in r.items() if k not in PER_STEP and not k.startswith(("loss_", "grad_norm"))
                     and (v is None or is_number(v))}   # None: a value with nothing to measure (n/a)
            if found:
                state.metrics, state.metrics_step = found, r.get("step")
        # a change logged at a kept step was applied after the state kept there (before the next step)
        state.changes = [e for e in events if (previous is None or _event_step(e) >= previous)
                         and _event_step(e) < step]
        states.append(state)
        previous = step
    after = [e for e in events if previous is not None and _event_step(e) >= previous]
    return states, after, problem


def state_summary(row: dict | None) -> str:
    """A kept state's evaluation in a few words, for a menu item: '3 modes (2 strict), HQ 15.4 %' on a
    2-D run, 'fd 64.7, 9 classes covered' on an image run; '' when the row has none of these."""
    if not row:
        return ""
    if is_number(row.get("modes")):
        text = f"{row['modes']} mode{'' if row['modes'] == 1 else 's'}"
        if is_number(row.get("modes_strict")):
            text += f" ({row['modes_strict']} strict)"
        if is_number(row.get("hq")):
            text += f", HQ {row['hq']:.1f} %"
        return text
    parts = []
    if is_number(row.get("fd_classifier")):
        parts.append(f"fd {row['fd_classifier']:.3g}")
    if is_number(row.get("classes_covered")):
        parts.append(f"{row['classes_covered']} classes covered")
    return ", ".join(parts)



def _event_step(event: dict) -> int:
    step = event.get("step", 0)
    return step if isinstance(step, int) else 0


def fork_run(src: str | Path, out: str | Path, at_step: int | None = None, changes: dict | None = None,
             device: str | None = None) -> Path:
    """Fork the run in ``src`` at ``at_step`` (None: its last checkpoint) into the new folder ``out``,
    with ``changes`` (dotted key -> value, a string is parsed as ``--set`` does) applied at the branch
    step. Returns ``out``. One-line errors: RunError for a step that was not kept (naming the kept
    steps), a run another process is training, an ``out`` that is not new or empty; ConfigError for
    a change that is not a valid setting or that needs a new run. ``src`` is only read."""
    src_run = RunFolder.open(src)   # read-only
    lock = RunLock(src_run.path, FORK_COMMAND)
    try:
        lock.acquire()   # nobody writes the parent while its history is copied
    except RunLockedError as e:   # its history and kept states are changing: fork once it stopped
        who = str(e).split(";")[0]
        raise RunError(f"{who}; fork it once that run has stopped (the window forks the run it trains)") from None
    except OSError:
        lock = None      # a read-only folder (a mounted archive): nobody can be writing it either
    try:
        points = src_run.fork_points()
        try:
            step = src_run.checkpoint_step()
        except CheckpointError:
            if at_step not in points:
                raise   # its message names the kept states to fork from instead
            step = None   # a corrupt checkpoint.pt: the kept state asked for is whole, recover from it
        if at_step is None or at_step == step:
            state_path = src_run.path / CHECKPOINT
        elif at_step in points:
            state_path = points[at_step]
        else:
            have = ", ".join(str(s) for s in sorted({*points, step})) or "none"
            raise RunError(f"{src_run.path} kept no state at step {at_step} to fork from; the steps it kept: "
                           f"{have} (train.fork_keep keeps the last N evaluations)")
        state = load_checkpoint_file(state_path)
        check_state_is_the_runs(src_run.path, state, state_path)
        from gan_studio.core.training.trainer import describe_nonfinite, nonfinite_tensors
        bad = nonfinite_tensors(state)   # a checkpoint older versions wrote after a divergence
        if bad:
            others = ", ".join(str(s) for s in sorted(set(points) - {at_step, step})) or "none"
            raise CheckpointError(f"{state_path} cannot be forked: {describe_nonfinite(bad)} NaN or infinite "
                                  f"(it was saved after the run diverged); its other kept steps: {others}")
        return write_fork(src_run.path, state, out, changes, device, check=True)
    finally:
        if lock is not None:
            lock.release()


def check_changes(cfg: Config, changes: dict | None) -> dict:
    """``changes`` checked against ``cfg`` (names, types, ranges, the family's rules); ConfigError for
    one that is not a setting or needs a new run. Returns them with their parsed values."""
    trial, parsed = cfg.copy(), {}
    for key, value in (changes or {}).items():
        trial.set(key, value)   # an unknown key, a bad value: one line naming the key
        if needs_reset(key, cfg.model.family):
            raise ConfigError(f"{key} is fixed when a run is built (its networks, data, batches and seed), "
                              "and a fork keeps it from its parent; "
                              "train a new run for it (gan-studio train --set ...)")
        parsed[key] = trial.get(key)
    trial.validate()   # the family's rules (a trick it lacks, a loss it does not take)
    return parsed


def write_fork(parent: str | Path, state: dict, out: str | Path, changes: dict | None = None,
               device: str | None = None, check: bool = False) -> Path:
    """The fork folder ``out`` of the run in ``parent`` from ``state`` (a checkpoint's state, finite:
    a kept one, or a running Trainer's), with ``changes`` applied at its step. Written into a
    temporary folder beside ``out`` and renamed at the end: a failure leaves no half fork.
    ``check``: ``state`` was read from a file; it is loaded into a Trainer first even without
    changes, so a damaged one (weights or optimizer moments of other shapes) is refused here."""
    parent, out = Path(parent).resolve(), Path(out)
    step = int(state["step"])
    cfg = config_from_json(state["config_json"], f"the checkpoint of {parent}")
    if cfg.model.arch == "torchscript":
        raise RunError(f"{parent} samples an imported TorchScript generator, which does not train: "
                       "there is nothing to fork")
    parsed = check_changes(cfg, changes)
    _check_out(out, parent)
    events = json.loads(state.get("events_json", "[]"))
    if parsed or check:   # a state read from a file is loaded once: a fork that cannot train is not written
        state, cfg, events = _apply_changes(state, cfg, parsed, device)

    tmp = out.parent / f".{out.name}.fork-{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        src = RunFolder(parent, read_only=True)   # a running one may have no checkpoint yet
        cfg.save(tmp / "config.json")
        _write_rows(tmp / "metrics.jsonl", [r for r in src.read_metrics() if r.get("step", 0) <= step])
        _write_rows(tmp / "events.jsonl", events)
        _copy_upto(parent / "snapshots", tmp / "snapshots", step)
        _copy_upto(parent / SAMPLES, tmp / SAMPLES, step)
        before = read_lineage(parent)
        ancestry = list(before.get("ancestry", [])) if before else []
        here = {"run": str(parent), "branch_step": step, "changes": parsed}
        atomic_write_text(tmp / LINEAGE, json.dumps(
            {"parent": str(parent), "branch_step": step, "changes": parsed, "ancestry": ancestry + [here],
             "events_at_branch": len(events),   # config.json holds these; later ones are the fork's own
             "created": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=2, default=str))
        save_checkpoint_file(state, tmp / CHECKPOINT)   # last: a folder with a checkpoint is a run
        if out.is_dir():
            out.rmdir()   # empty (checked above): the rename takes its place
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _check_out(out: Path, parent: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise RunError(f"--out {out} is a file; a fork needs a new or empty folder")
        if any(out.iterdir()):
            raise RunError(f"--out {out} is not empty; a fork needs a new or empty folder")
    refuse_output_in_runs([parent], ("--out", out))   # a fork goes beside its parent, never into it


def _apply_changes(state: dict, cfg: Config, changes: dict, device: str | None):
    """(state, config, events) after ``changes`` were applied to a Trainer at ``state`` as live
    switches (none: the state is only checked to load, and returned as it is). The global RNG is put
    back after: the engine's own Trainer shares this process."""
    from gan_studio.core.families.registry import make_trainer
    kept = state   # a kept state stays as it was: it is loaded as a copy (copy=True), once it fits
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count())) if cuda else []):
        tr = make_trainer(cfg, device=device)
        try:
            tr.load_state_dict(state, copy=True)
        except (RuntimeError, KeyError, ValueError, TypeError, AttributeError, IndexError) as e:
            if isinstance(e, (ConfigError, RunError)):
                raise
            why = str(e) if isinstance(e, CheckpointError) else f"it does not fit its own config ({state_mismatch(e)})"
            raise RunError(f"the state at step {state['step']} cannot be forked: {why}") from None
        if not changes:
            return kept, cfg, json.loads(kept.get("events_json", "[]"))
        for key, value in changes.items():
            tr.apply_setting(key, value)
        return tr.state_dict(), tr.cfg, tr.events


def _write_rows(path: Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, default=str) + "\n" for r in rows))


def _copy_upto(src: Path, dst: Path, step: int) -> None:
    """Copy the step_XXXXXXXX.* files of ``src`` up to ``step`` (snapshots, kept samples)."""
    try:
        names = sorted(os.listdir(src))
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        stem = name.split(".", 1)[0]
        if not stem.startswith("step_") or not stem[5:].isdigit() or int(stem[5:]) > step:
            continue
        if (src / name).is_file() and not (src / name).is_symlink():
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / name, dst / name)
