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
import time
from pathlib import Path

import torch

from gan_studio.cli import main as cli_main
from gan_studio.core.presets import load_preset
from gan_studio.core.runs import RunFolder


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
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = []
    for seed in range(args.seeds):
        out = Path(args.runs) / f"bench-{args.preset}-s{seed}-{stamp}"
        argv = ["train", args.preset, "--steps", str(args.steps), "--seed", str(seed), "--out", str(out),
                "--quiet", "--device", "cpu"]
        for s in args.overrides:
            argv += ["--set", s]
        t0 = time.perf_counter()
        if cli_main(argv):
            return 1
        rows = [r for r in RunFolder(out).read_metrics() if "cond_accuracy" in r]
        results.append((seed, out, rows, (time.perf_counter() - t0) / 60))
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
    lines += ["", f"Metric classifier on held-out real images: {100 * acc:.1f} % right." if acc else "",
              "Minutes per run on this machine: " + ", ".join(f"{m:.1f}" for *_, m in results)
              + "; run folders: " + ", ".join(f"`{o}`" for _, o, _, _ in results) + ".",
              "", "Made by `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_cgan.py "
              + " ".join(sys.argv[1:]) + "`."]
    md = "\n".join(lines) + "\n"
    print(md)
    if args.out:
        from gan_studio.core.io import atomic_write_text
        atomic_write_text(args.out, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
