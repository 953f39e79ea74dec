"""Run folders as TensorBoard event files, so runs and their forks can be compared in TensorBoard too:
each run's scalars (every number of metrics.jsonl under its own name), its events as text, its
snapshots as images, its config and lineage as text, in one subfolder per run. Uses
``torch.utils.tensorboard`` (the optional ``tensorboard`` package); the run folders are only read.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan_studio.core.errors import RunError, UserError

INSTALL_HINT = 'pip install "gan-studio[tensorboard]"'
#: logged values that are not scalars of the run
NOT_SCALARS = {"step"}


@dataclass
class Exported:
    """What was written for one run."""
    run: Path
    log_dir: Path
    scalars: int
    events: int
    images: int


def summary_writer_class():
    """torch's SummaryWriter, or UserError saying how to install TensorBoard."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:   # torch says so when the tensorboard package is missing
        raise UserError(f"export tensorboard needs the tensorboard package: {INSTALL_HINT}") from None
    return SummaryWriter


def export_runs(run_dirs: list[str | Path], out: str | Path) -> list[Exported]:
    """Write each run into ``out/<run folder name>`` (parent/name where two runs share a name).
    RunError for a folder that is no run or a subfolder that already holds event files; UserError for a
    run named twice (refused, not merged) or two runs that would share a subfolder. Nothing is written
    before all of that is checked."""
    from gan_studio.core.compare import load_histories
    writer_cls = summary_writer_class()
    _refuse_repeats(run_dirs)
    runs = load_histories(run_dirs)
    out = Path(out)
    targets = [out / r.label.replace("/", "__") for r in runs]
    for i, target in enumerate(targets):   # a/x/r1 and b/x/r1 are both labelled x/r1
        if target in targets[:i]:
            other = runs[targets.index(target)].path
            raise UserError(f"{other} and {runs[i].path} would both be written to {target}; export them "
                            "with separate --out folders")
    for target in targets:
        if target.is_dir() and any(n.startswith("events.out.tfevents") for n in os.listdir(target)):
            raise RunError(f"{target} already holds TensorBoard event files; choose another --out "
                           "(TensorBoard would show both)")
    done = []
    for hist, target in zip(runs, targets):
        target.mkdir(parents=True, exist_ok=True)
        writer = writer_cls(log_dir=str(target))
        try:
            done.append(_export_one(writer, hist, target))
        finally:
            writer.close()
    return done


def _refuse_repeats(run_dirs: list[str | Path]) -> None:
    """UserError when one run is named twice (runs/r1 and ./runs/r1/ alike): it would be written twice
    into one subfolder, and TensorBoard would show every curve twice."""
    seen: dict[Path, str | Path] = {}
    for d in run_dirs:
        try:
            key = Path(d).resolve()
        except OSError:
            key = Path(os.path.abspath(d))
        if key in seen:
            same = f"run {d} is given twice" if str(seen[key]) == str(d) else f"{seen[key]} and {d} are the same run"
            raise UserError(f"{same}: name each run once (repeats are refused, not merged: TensorBoard would "
                            "show every curve twice); nothing was written")
        seen[key] = d


def _export_one(writer, hist, target: Path) -> Exported:
    from gan_studio.core.runs import RunFolder
    scalars = events = images = 0
    for row in hist.rows:
        step = row.get("step")
        if not isinstance(step, int):
            continue
        for key, value in row.items():
            if key not in NOT_SCALARS and isinstance(value, (int, float)) and not isinstance(value, bool):
                writer.add_scalar(key, float(value), step)
                scalars += 1
    run = RunFolder(hist.path, read_only=True)
    for ev in run.read_events():
        step = ev.get("step") if isinstance(ev.get("step"), int) else 0
        writer.add_text("events", _event_text(ev), step)
        events += 1
    for step, path in _snapshots(hist.path):
        img = _read_png(path)
        if img is not None:
            writer.add_image("snapshot", img, step, dataformats="HWC")
            images += 1
    try:
        config = (hist.path / "config.json").read_text(encoding="utf-8")
        writer.add_text("config", "```\n" + config + "\n```", 0)
    except OSError:
        pass
    if hist.branch_step is not None:
        what = ", ".join(f"{k} = {v}" for k, v in hist.changes.items()) or "no change"
        writer.add_text("lineage", f"fork of {hist.parent} at step {hist.branch_step}: {what}", hist.branch_step)
    writer.flush()
    return Exported(hist.path, target, scalars, events, images)


def _event_text(ev: dict) -> str:
    """'set tricks.packing.enabled = true (was false)' and the like."""
    kind, key, value = ev.get("event", "event"), ev.get("key"), ev.get("value")
    text = f"{kind} {key} = {json.dumps(value, default=str)}" if key is not None else str(kind)
    if "old" in ev:
        text += f" (was {json.dumps(ev['old'], default=str)})"
    return text


def _snapshots(run_dir: Path) -> list[tuple[int, Path]]:
    folder = run_dir / "snapshots"
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for n in names:
        stem, _, ext = n.partition(".")
        if ext == "png" and stem.startswith("step_") and stem[5:].isdigit():
            found.append((int(stem[5:]), folder / n))
    return sorted(found)


def _read_png(path: Path) -> np.ndarray | None:
    """An RGB uint8 (H, W, 3) array, or None for a file that is not a readable picture."""
    from PIL import Image

    from gan_studio.core.data.images import open_picture
    try:
        with open_picture(path) as im:   # no DecompressionBombWarning on stderr for a forged header
            if im.width * im.height > 64 << 20:
                return None
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
