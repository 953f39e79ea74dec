"""gan-studio figure timeline RUN... [--steps 0,5000,...] --out FILE.png"""
from __future__ import annotations

from pathlib import Path

from gan_studio.core.errors import ConfigError

#: the default cell side in pixels (gan_studio.core.timeline.CELL_PX; not imported here, so that
#: building the parser stays light)
CELL_PX = 160


def add_parser(sub):
    p = sub.add_parser("figure", help="draw figures from run folders (reads them, writes only --out)",
                       description="Draw figures from finished or running run folders; nothing in the runs "
                                   "is written.")
    figures = p.add_subparsers(dest="figure", metavar="FIGURE", required=True)
    t = figures.add_parser(
        "timeline", help="rows of a 2-D run's samples over training (Metz et al. 2017, Fig. 1)",
        description="One row per run, one column per step: each cell shows the points the run kept at that "
                    "step (train.keep_samples_at; the unrolled-metz and metz-vanilla presets keep steps "
                    "0, 5000, ..., 25000) over the data's mode means, each ringed at 3 sigma. Any 2-D run "
                    "that kept samples can be drawn.")
    t.add_argument("runs", nargs="+", metavar="RUN", help="run folders, one row each, top to bottom")
    t.add_argument("--steps", help="steps to draw, comma-separated, e.g. 0,5000,10000,15000,20000,25000 "
                                   "(default: every step all the runs kept)")
    t.add_argument("--out", required=True, metavar="FILE.png", help="the PNG to write (outside the runs)")
    t.add_argument("--cell", type=int, default=CELL_PX, metavar="PX",
                   help=f"side of one cell in pixels (default {CELL_PX})")
    return p


def run(args) -> int:
    if args.figure == "timeline":
        return _timeline(args)
    raise ConfigError(f"unknown figure {args.figure!r}")   # argparse refuses it first


def _timeline(args) -> int:
    from gan_studio.core.io import atomic_write_bytes, refuse_output_in_runs
    from gan_studio.core.timeline import check_layout, figure_size, load_rows, parse_steps, timeline_png

    steps = parse_steps(args.steps) if args.steps is not None else None
    check_layout(len(args.runs), len(steps) if steps else 1, args.cell)
    out = Path(args.out)
    if out.suffix.lower() != ".png":   # PNG bytes in a .jpg, as other programs would be told
        raise ConfigError(f"--out {out}: the figure is a PNG; name a file ending in .png")
    refuse_output_in_runs(args.runs, ("--out", out))   # the figure never goes into a run folder
    steps, rows = load_rows(args.runs, steps)
    png = timeline_png(rows, steps, args.cell)
    atomic_write_bytes(out, png)
    w, h = figure_size(len(rows), len(steps), args.cell)
    print(f"wrote {out} ({w} x {h} px): {len(rows)} run(s) x steps {', '.join(str(s) for s in steps)}")
    return 0
