"""CycleGAN on shapes: do circles become squares (and back) with everything else kept?

Trains a preset (default ``cyclegan-shapes``: A = circles, B = squares, unpaired, 16 px) once per seed
and at every ``--eval-every`` steps translates 500 held-out real images of each domain (shapes drawn
with another seed than the training set's). The studio's 16 px shapes classifiers judge each
translation: right = the target shape, and colour, size and position all the input's own. Also the
cycle reconstruction error, mean |G_BA(G_AB(a)) - a| with pixels in [0, 1]. Prints one row per
evaluation and the mean and standard deviation over the seeds at the last step; writes
docs/bench/<preset>.md (+ .csv) and the figure docs/images/<preset>.png (rows: real A, A -> B,
A -> B -> A, real B, B -> A, B -> A -> B) from the first seed.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_cyclegan.py [--preset cyclegan-shapes]
        [--steps 2000] [--seeds 0 1 2] [--set KEY=VALUE ...] [--runs DIR]

Tune on seeds that are not reported (e.g. 10 11 12), report others (0 1 2).
"""
from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import torch

from gan_studio.core.config import parse_override
from gan_studio.core.families.cyclegan import GRID_IMAGES, sheet_png
from gan_studio.core.families.registry import make_trainer
from gan_studio.core.io import atomic_write_bytes
from gan_studio.core.metrics.images import get_metric_model
from gan_studio.core.presets import load_preset

ROOT = Path(__file__).resolve().parents[1]
ATTRS = ("shape", "colour", "size", "position")
COLS = (["seed", "step", "seconds", "a2b_right", "b2a_right", "a2b_cycle_l1", "b2a_cycle_l1"]
        + [f"{d}_{a}" for d in ("a2b", "b2a") for a in ATTRS])
SHOWN = COLS[:7]


def figure(tr, path: Path, n: int = GRID_IMAGES) -> None:
    rows = []
    a_name, b_name = tr.domain_names
    for d, direction, name, arrow in (("a", "a2b", a_name, ("A -> B", "A -> B -> A")),
                                      ("b", "b2a", b_name, ("B -> A", "B -> A -> B"))):
        x = tr.real_images(d, n)
        y, rec = tr.translate(x, direction)
        rows += [(f"real {d.upper()} ({name})", x), (arrow[0], y), (arrow[1], rec)]
    atomic_write_bytes(path, sheet_png(rows, scale=4, title=f"{tr.cfg.name}, seed {tr.cfg.train.seed}, "
                                                             f"step {tr.step_count}: held-out real images"))


def save_run(tr, path: Path) -> None:
    from gan_studio.core.runs import RunFolder
    run = RunFolder.create(path, tr.cfg, lock=True, command="benchmarks/bench_cyclegan.py")
    try:
        run.save_checkpoint(tr)
        run.save_snapshot(tr)
    finally:
        run.unlock()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cyclegan-shapes")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a preset key")
    ap.add_argument("--out", help="report path without suffix (default docs/bench/<preset>)")
    ap.add_argument("--picture", help="figure path (default docs/images/<preset>.png); 'none' skips it")
    ap.add_argument("--runs", metavar="DIR", help="also save each seed's trained networks as a run folder "
                                                  "DIR/<preset>-seed<N> (for `gan-studio translate` and the window)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out or ROOT / "docs" / "bench" / args.preset)
    picture = None if args.picture == "none" else Path(args.picture or ROOT / "docs" / "images" / f"{args.preset}.png")

    rows, last = [], []
    print("  ".join(f"{c:>13}" for c in SHOWN), flush=True)
    for seed in args.seeds:
        cfg = load_preset(args.preset)
        for text in args.set:
            cfg.set(*parse_override(text))
        cfg.set("train.seed", seed)
        cfg.set("train.device", "cpu")
        tr = make_trainer(cfg)
        model = get_metric_model(tr.data)   # trained or loaded before the clock starts
        t0, spent = time.perf_counter(), 0.0
        while tr.step_count < args.steps:
            tr.step()
            if tr.step_count % args.eval_every == 0 or tr.step_count == args.steps:
                spent += time.perf_counter() - t0
                m = tr.translation_scores()
                row = {"seed": seed, "step": tr.step_count, "seconds": round(spent), **{c: m[c] for c in COLS[3:]}}
                rows.append(row)
                print("  ".join(f"{row[c]:>13}" for c in SHOWN), flush=True)
                t0 = time.perf_counter()
        last.append(rows[-1])
        if args.runs:
            save_run(tr, Path(args.runs) / f"{args.preset}-seed{seed}")
        if picture is not None and seed == args.seeds[0]:
            figure(tr, picture)

    def mean_sd(key: str, digits: int = 3) -> str:
        vals = [r[key] for r in last]
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        return f"{statistics.fmean(vals):.{digits}f} +- {sd:.{digits}f}"

    overrides = "".join(f" --set {s}" for s in args.set)
    command = (f"OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_cyclegan.py --preset {args.preset} "
               f"--steps {args.steps} --seeds {' '.join(map(str, args.seeds))}{overrides}")
    print(f"at step {args.steps}, mean +- sd over seeds {', '.join(map(str, args.seeds))} "
          f"(classifier held-out accuracy: {', '.join(f'{k} {v:.3f}' for k, v in model.accuracy.items())}):")
    summary = {k: mean_sd(k) for k in COLS[3:]}
    summary["seconds"] = mean_sd("seconds", 0)
    for k in ("a2b_right", "b2a_right", "a2b_cycle_l1", "b2a_cycle_l1", "seconds"):
        print(f"  {k:<14} {summary[k]}")

    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLS)
        w.writeheader()
        w.writerows(rows)
    a_name, b_name = tr.domain_names
    md = [f"# CycleGAN ({args.preset}): A = {a_name}, B = {b_name}", "", f"`{command}`", "",
          "500 held-out real images per domain (shapes drawn with another seed) translated and judged by the "
          "studio's 16 px shapes classifiers. right = the target shape with colour, size and position all "
          "unchanged; cycle_l1 = mean |G_BA(G_AB(a)) - a| (pixels in [0, 1]); seconds = training time on one "
          "CPU thread, evaluation excluded.", "",
          f"At step {args.steps}, mean +- sd over seeds {', '.join(map(str, args.seeds))}:", "",
          "| direction | right | shape | colour | size | position | cycle_l1 |", "|---|---|---|---|---|---|---|"]
    for d, name in (("a2b", "A -> B"), ("b2a", "B -> A")):
        md.append(f"| {name} | {summary[f'{d}_right']} | " + " | ".join(summary[f"{d}_{a}"] for a in ATTRS)
                  + f" | {summary[f'{d}_cycle_l1']} |")
    md += ["", f"training time: {summary['seconds']} s", "", "Every evaluation:", "",
           "| " + " | ".join(SHOWN) + " |", "|" + "---|" * len(SHOWN)]
    md += ["| " + " | ".join(str(r[c]) for c in SHOWN) + " |" for r in rows]
    md.append("")
    out.with_suffix(".md").write_text("\n".join(md))
    print(f"wrote {out.with_suffix('.md')}, {out.with_suffix('.csv')}" + (f" and {picture}" if picture else ""))


if __name__ == "__main__":
    main()
