"""gan-studio export tensorboard RUN... --out DIR"""
from __future__ import annotations

from pathlib import Path

from gan_studio.core.errors import ConfigError


def add_parser(sub):
    p = sub.add_parser("export", help="write runs in the formats of other tools (TensorBoard)",
                       description="Write run folders in another tool's format; nothing in the runs is written.")
    formats = p.add_subparsers(dest="format", metavar="FORMAT", required=True)
    t = formats.add_parser(
        "tensorboard", help="the runs' scalars, events and snapshots as TensorBoard event files",
        description="Write each run's metrics as scalars, its events (trick switches, divergences) as text and "
                    "its snapshots as images into DIR/<run folder name>, so runs and forks can be compared "
                    "in TensorBoard (`tensorboard --logdir DIR`). Needs the optional extra: "
                    'pip install "gan-studio[tensorboard]".')
    t.add_argument("runs", nargs="+", metavar="RUN", help="run folders")
    t.add_argument("--out", required=True, metavar="DIR", help="the log folder (one subfolder per run)")
    return p


def run(args) -> int:
    if args.format != "tensorboard":
        raise ConfigError(f"unknown format {args.format!r}")   # argparse refuses it first
    from gan_studio.core.io import refuse_output_in_runs
    from gan_studio.core.tensorboard_export import export_runs, summary_writer_class
    summary_writer_class()   # before anything is read: one line on how to install TensorBoard
    out = Path(args.out)
    check_out_folder(out)
    refuse_output_in_runs(args.runs, ("--out", out))   # the export never goes into a run folder
    for e in export_runs(args.runs, out):
        print(f"{e.run} -> {e.log_dir}: {_count(e.scalars, 'scalar')}, {_count(e.events, 'event')}, "
              f"{_count(e.images, 'image')}")
    print(f"view them with: tensorboard --logdir {out}")
    return 0


def check_out_folder(out: Path) -> None:
    """ConfigError when ``--out`` (or a folder above it) is an existing file: the export could not
    make its folders there ("Not a directory" from deep inside)."""
    for p in (out, *out.parents):
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                what = f"--out {out} is a file" if p == out else f"--out {out}: {p} is a file"
                raise ConfigError(f"{what}, not a folder; choose a folder for the TensorBoard logs")
            return


def _count(n: int, noun: str) -> str:
    """'1 event', '3 events', '1,200 scalars'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
