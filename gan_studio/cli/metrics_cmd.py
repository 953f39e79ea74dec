"""gan-studio metrics DIR: the latest metrics of a run as a table."""
from __future__ import annotations

from gan_studio.core.metrics import format_value


def add_parser(sub):
    p = sub.add_parser("metrics", help="print the latest metrics of a run as a table",
                       description="Print the newest logged values of every metric in DIR/metrics.jsonl.")
    p.add_argument("run_dir", metavar="DIR", help="a run folder")
    return p


def print_table(row: dict) -> None:
    width = max((len(k) for k in row), default=0)
    for k, v in row.items():
        print(f"{k:<{width}}  {format_value(v)}")


def run(args) -> int:
    from pathlib import Path

    from gan_studio.core.errors import RunError
    from gan_studio.core.runs import RunFolder
    path = Path(args.run_dir)
    if not (path / "metrics.jsonl").is_file():
        raise RunError(f"{path} has no metrics.jsonl: it is not a run folder")
    rows = RunFolder(path, read_only=True).read_metrics()   # a reader: takes no lock, writes nothing
    if not rows:
        raise RunError(f"{path}/metrics.jsonl holds no rows yet")
    latest: dict = {}
    for r in rows:  # the newest value of each metric (mode metrics are logged less often)
        latest.update({k: v for k, v in r.items()})
    latest["step"] = rows[-1]["step"]
    print_table(latest)
    return 0
