"""Quality over training time for an image preset: trains it with the CLI, then prints the image
metrics logged every ``train.eval_every`` steps next to the wall-clock minutes.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_images_quality.py digits --steps 3000
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_images_quality.py shapes --steps 2500

The run folder (grids in snapshots/) is kept; pass --out to choose it.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gan_studio.cli import main as cli_main
from gan_studio.core.runs import RunFolder

COLUMNS = ("classes_covered", "classes_covered_strict", "class_kl", "fd_classifier",
           "shape_covered", "colour_covered", "size_covered", "position_covered")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("preset")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--out", default=None)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    out = Path(args.out or f"runs/bench-{args.preset}-{time.strftime('%Y%m%d-%H%M%S')}")
    argv = ["train", args.preset, "--steps", str(args.steps), "--out", str(out), "--quiet"]
    for s in args.overrides:
        argv += ["--set", s]
    t0 = time.perf_counter()
    code = cli_main(argv)
    minutes = (time.perf_counter() - t0) / 60
    if code:
        return code
    rows = [r for r in RunFolder(out).read_metrics() if "fd_classifier" in r]
    cols = [c for c in COLUMNS if any(c in r for r in rows)]
    print(f"\n{args.preset}: {args.steps} steps in {minutes:.1f} min; run folder {out}")
    print("step    " + "  ".join(f"{c:>22}" for c in cols))
    for r in rows:
        print(f"{r['step']:<8}" + "  ".join(f"{r.get(c, float('nan')):>22.4g}" for c in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
