"""Semi-supervised K+1 GAN against the same classifier trained on the labelled examples alone.

For each number of labels per class and each seed, trains the ssl-digits preset (the seed picks
which examples are labelled) and reads, at the last step, the held-out test accuracy of the K+1
D's classifier and of the labelled-only baseline trained alongside it. Prints a Markdown table
(mean ± standard error over the seeds, and the paired difference).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_ssl.py --labels 1 5 10 --seeds 3 --steps 2000 \\
        --out docs/bench/ssl-digits.md --curves docs/images/ssl_digits_curves.png
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import torch

from gan_studio.core.families.registry import make_trainer
from gan_studio.core.presets import load_preset

SALIMANS = ("Salimans et al. 2016, Table 1 (MNIST, 60,000 images, 100 labels = 10 per class, "
            "their full-size networks): 93 ± 6.5 test errors of 10,000, i.e. 99.07 % accuracy")


def mean_se(xs: list[float]) -> tuple[float, float]:
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, float("nan")
    var = sum((x - m) ** 2 for x in xs) / (len(xs) - 1)
    return m, math.sqrt(var / len(xs))


def run_one(preset: str, labels: int, seed: int, steps: int, overrides: list[str], eval_every: int = 100) -> dict:
    cfg = load_preset(preset)
    cfg.set("ssl.labels_per_class", labels)
    cfg.set("train.seed", seed)
    cfg.set("train.device", "cpu")
    for text in overrides:
        k, v = text.split("=", 1)
        cfg.set(k, v)
    tr = make_trainer(cfg)
    t0 = time.perf_counter()
    curve = [(0, tr.evaluate())]
    for s in range(1, steps + 1):
        tr.step()
        if s % eval_every == 0 or s == steps:
            curve.append((s, tr.evaluate()))
    seconds = time.perf_counter() - t0   # includes the evaluations (359 test digits, cheap)
    return {"labels": labels, "seed": seed, "test_size": len(tr.test_idx), "seconds": seconds,
            "curve": curve, **curve[-1][1]}


COLOURS = {"test_accuracy": (200, 50, 40), "baseline_accuracy": (60, 90, 200)}


def curves_png(rows: list[dict], path: str, size=(760, 460)) -> None:
    """Mean test accuracy over the seeds against the step: K+1 red, labelled-only blue, one line per
    number of labels per class (darker: more labels). Drawn with PIL (no plotting library needed)."""
    from PIL import Image, ImageDraw
    w, h = size
    left, right, top, bottom = 60, 150, 30, 40
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    lpcs = sorted({r["labels"] for r in rows})
    steps = [s for s, _ in rows[0]["curve"]]
    means = {}
    for lpc in lpcs:
        rs = [r for r in rows if r["labels"] == lpc]
        for key in COLOURS:
            means[lpc, key] = [sum(r["curve"][i][1][key] for r in rs) / len(rs) for i in range(len(steps))]
    lo = max(0.0, math.floor(10 * min(min(v[1:] or v) for v in means.values())) / 10)
    hi = 1.0
    x_of = lambda s: left + (w - left - right) * s / steps[-1]
    y_of = lambda a: top + (h - top - bottom) * (hi - a) / (hi - lo)
    draw.rectangle((left, top, w - right, h - bottom), outline=(0, 0, 0))
    for i in range(int(round((hi - lo) * 10)) + 1):
        a = lo + i / 10
        draw.line((left, y_of(a), w - right, y_of(a)), fill=(225, 225, 225))
        draw.text((left - 40, y_of(a) - 6), f"{100 * a:.0f} %", fill=(0, 0, 0))
    for s in (0, steps[-1] // 2, steps[-1]):
        draw.text((x_of(s) - 12, h - bottom + 6), str(s), fill=(0, 0, 0))
    draw.text((left + (w - left - right) // 2 - 20, h - 18), "step", fill=(0, 0, 0))
    draw.text((left, 8), "held-out test accuracy on digits: K+1 GAN (red) vs labelled only (blue)", fill=(0, 0, 0))
    labels = []
    for j, lpc in enumerate(lpcs):
        shade = 0.45 + 0.55 * (j + 1) / len(lpcs)
        for key, (r, g, b) in COLOURS.items():
            colour = tuple(int(255 - (255 - c) * shade) for c in (r, g, b))
            pts = [(x_of(s), y_of(max(lo, a))) for s, a in zip(steps, means[lpc, key])]
            draw.line(pts, fill=colour, width=2)
            name = "K+1" if key == "test_accuracy" else "labelled only"
            labels.append([pts[-1][1] - 6, f"{name}, {lpc}/class", colour])
    labels.sort()
    for i in range(1, len(labels)):  # end-of-line names 14 px apart at least
        labels[i][0] = max(labels[i][0], labels[i - 1][0] + 14)
    for y, text, colour in labels:
        draw.text((w - right + 6, y), text, fill=colour)
    img.save(path)


def table(rows: list[dict], preset: str, steps: int, seeds: int) -> str:
    out = [f"K+1 GAN (`{preset}`, {steps} steps) against the same classifier trained on the labelled "
           f"digits alone; held-out test split of {rows[0]['test_size']} digits; mean ± s.e. over "
           f"{seeds} seeds (the seed picks the labelled examples).", "",
           "| labels per class | labels | K+1 test accuracy | labelled-only baseline | K+1 − baseline | "
           "K+1 ahead in | minutes per run |",
           "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for lpc in sorted({r["labels"] for r in rows}):
        rs = [r for r in rows if r["labels"] == lpc]
        k1, k1_se = mean_se([100 * r["test_accuracy"] for r in rs])
        bl, bl_se = mean_se([100 * r["baseline_accuracy"] for r in rs])
        d, d_se = mean_se([100 * (r["test_accuracy"] - r["baseline_accuracy"]) for r in rs])
        wins = sum(r["test_accuracy"] > r["baseline_accuracy"] for r in rs)
        mins = sum(r["seconds"] for r in rs) / len(rs) / 60
        out.append(f"| {lpc} | {10 * lpc} | {k1:.1f} ± {k1_se:.1f} % | {bl:.1f} ± {bl_se:.1f} % | "
                   f"{d:+.1f} ± {d_se:.1f} | {wins} of {len(rs)} | {mins:.1f} |")
    out += ["", f"Anchor for context: {SALIMANS}."]
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="ssl-digits")
    ap.add_argument("--labels", type=int, nargs="+", default=[1, 5, 10], help="labels per class")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per setting")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", help="also write the Markdown table to this file")
    ap.add_argument("--eval-every", type=int, default=100, help="steps between evaluations of the curves")
    ap.add_argument("--curves", metavar="FILE.png", help="also draw the mean accuracy curves")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for lpc in args.labels:
        for seed in range(args.seeds):
            r = run_one(args.preset, lpc, seed, args.steps, args.overrides, args.eval_every)
            print(f"labels/class {lpc} seed {seed}: K+1 {r['test_accuracy']:.4f}  baseline "
                  f"{r['baseline_accuracy']:.4f}  ({r['seconds']:.0f} s)", file=sys.stderr, flush=True)
            rows.append(r)
    md = table(rows, args.preset, args.steps, args.seeds)
    cmd = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_ssl.py " + " ".join(sys.argv[1:])
    md += f"\nMade by `{cmd}`.\n"
    print(md)
    if args.out:
        from gan_studio.core.io import atomic_write_text
        atomic_write_text(args.out, md)
    if args.curves:
        curves_png(rows, args.curves)
    return 0


if __name__ == "__main__":
    sys.exit(main())
