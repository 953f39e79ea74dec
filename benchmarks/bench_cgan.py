"""Does a conditional GAN draw the class it is asked for? cond_accuracy of a cGAN preset against chance.

Trains the preset with the CLI for each seed (run folders kept, grids in snapshots/), then prints
a Markdown table of ``cond_accuracy`` (share of generated images the data set's metric classifier
assigns to the requested label, 1,000 images with balanced labels) at each evaluation, next to
chance (1/K) and the classifier's own accuracy on held-out real images.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_cgan.py cgan-digits --steps 3000 --seeds 2 \\
        --out docs/bench/cgan-digits.md
"""
from __future__ import annotations

import argparse
import sys

import torch
from seed_runs import finish_report, train_seeds

from gan_studio.core.presets import load_preset


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("preset", nargs="?", default="cgan-digits")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seeds", type=int, default=2, help="seeds 0..N-1")
    ap.add_argument("--runs", default="runs", help="folder for the run folders")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", help="also write the Markdown table to this file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = train_seeds(args.preset, range(args.seeds), args.steps, args.runs, args.overrides, "cond_accuracy")
    if results is None:
        return 1
    cfg = load_preset(args.preset)
    from gan_studio.core.data.registry import build_dataset
    k = len(build_dataset(cfg.data, "cpu").class_names)
    steps = sorted({r["step"] for _, _, rows, _ in results for r in rows})
    lines = [f"cond_accuracy of `{args.preset}` (share of 1,000 generated images, labels balanced, that the "
             f"data set's metric classifier puts in the requested class); chance is 1/{k} = {100 / k:.0f} %.", "",
             "| step | " + " | ".join(f"seed {s}" for s, *_ in results) + " | fd_classifier (seeds) |",
             "| ---: | " + " | ".join("---:" for _ in results) + " | ---: |"]
    for st in steps:
        cells, fds = [], []
        for _, _, rows, _ in results:
            r = next((r for r in rows if r["step"] == st), None)
            cells.append(f"{100 * r['cond_accuracy']:.1f} %" if r else "")
            fds.append(f"{r['fd_classifier']:.0f}" if r and r.get("fd_classifier") is not None else "")
        lines.append(f"| {st} | " + " | ".join(cells) + " | " + " / ".join(fds) + " |")
    acc = results[0][2][-1].get("classifier_acc") if results[0][2] else None
    lines += ["", f"Metric classifier on held-out real images: {100 * acc:.1f} % right." if acc else ""]
    return finish_report(lines, results, "bench_cgan.py", args.out)


if __name__ == "__main__":
    sys.exit(main())
