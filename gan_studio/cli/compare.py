"""gan-studio compare RUN RUN... [--metrics hq,rkl,modes] [--smooth 0.9] [--out FILE.png|FILE.csv]"""
from __future__ import annotations

import sys
from pathlib import Path

from gan_studio.core.errors import ConfigError

#: no smoothing unless asked: the evaluation metrics come every eval_every steps (12 points in 3,000
#: steps of ring8), where a moving average lags by several evaluations; the per-step losses want 0.6-0.9
SMOOTH = 0.0


def add_parser(sub):
    p = sub.add_parser(
        "compare", help="overlay runs' metrics on one step axis (a PNG chart or a CSV table)",
        description="Draw the runs' metric curves on a shared step axis, one panel per metric and one colour "
                    "per run, each fork's branch point marked; or write the aligned table (step, then "
                    "run:metric columns) as CSV; without --out, print each run's mean and last value of each "
                    "metric after the branch point. Nothing in the runs is written.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders (a parent and its forks, or any runs)")
    p.add_argument("--metrics", default="hq,rkl,modes",
                   help="comma-separated metrics: hq, rkl, modes, hops (mode_hops), strict (modes_strict), fd "
                        "(fd_classifier) or any name in the runs' metrics.jsonl, e.g. loss_d "
                        "(default: hq,rkl,modes)")
    p.add_argument("--smooth", type=float, default=SMOOTH, metavar="W",
                   help="exponential moving average weight in [0, 1), drawn over the faint raw curve as "
                        "TensorBoard does, e.g. 0.9 for losses (default 0: the raw curves)")
    p.add_argument("--out", metavar="FILE.png|FILE.csv",
                   help="the chart or the table to write (without --out: each run's mean and last value of "
                        "each metric over the steps after the latest branch point, as a table on the terminal)")
    return p


def _refuse_repeats(run_dirs) -> None:
    """One run named twice (runs/r1 and ./runs/r1/ alike) would be two rows, curves or CSV columns of
    the same name; refused, as export refuses it."""
    import os
    seen: dict[str, str] = {}
    for d in map(str, run_dirs):
        key = os.path.realpath(d)
        if key in seen:
            same = f"run {d} is given twice" if seen[key] == d else f"{seen[key]} and {d} are the same run"
            raise ConfigError(f"{same}: name each run once (its curves would be drawn twice under one name)")
        seen[key] = d


def run(args) -> int:
    from gan_studio.core import compare as C
    from gan_studio.core.io import atomic_write_bytes, atomic_write_text, refuse_output_in_runs
    _refuse_repeats(args.runs)
    if args.out is None:
        C.check_smoothing(args.smooth)
        runs = C.load_histories(args.runs)
        metrics, missing = C.common_metrics(runs, C.parse_metrics(args.metrics))
        if missing:
            print(f"gan-studio compare: not every run logged {', '.join(missing)}: left out", file=sys.stderr)
        sys.stdout.write(C.summary_text(runs, metrics))
        return 0
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".csv"):
        raise ConfigError(f"--out {out}: name a .png (the chart) or a .csv (the table)")
    C.check_smoothing(args.smooth)
    refuse_output_in_runs(args.runs, ("--out", out))   # the comparison never goes into a run folder
    runs = C.load_histories(args.runs)
    metrics, missing = C.common_metrics(runs, C.parse_metrics(args.metrics))
    if missing:
        print(f"gan-studio compare: not every run logged {', '.join(missing)}: left out", file=sys.stderr)
    if out.suffix.lower() == ".csv":
        columns, table = C.aligned_table(runs, metrics)
        atomic_write_text(out, C.table_csv(columns, table))
        print(f"wrote {out}: {len(table)} steps x {len(columns) - 1} columns")
    else:
        atomic_write_bytes(out, C.compare_png(runs, metrics, args.smooth))
        print(f"wrote {out}: {', '.join(metrics)} of {len(runs)} run(s)")
    return 0
