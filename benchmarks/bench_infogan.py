"""Does InfoGAN's categorical code find the classes without labels? code_accuracy of an InfoGAN preset.

Trains the preset with the CLI for each seed (run folders kept, grids in snapshots/), then prints a
Markdown table of ``code_accuracy`` at each evaluation: the share of generated images (100 per value
of the categorical code, random z and continuous codes) that the data set's metric classifier puts
in the class matched to their code value, under the best one-to-one matching of code values to
classes (Hungarian; labels are used only here, never in training). Beside it ``q_accuracy`` (the
paper's measure: Q's code of 2,000 real images, matched the same way) and ``info_cat`` (the
mutual-information bound of the categorical code as a share of log K) and ``code_ink_min`` (a code
value that draws empty pictures flatters code_accuracy). The last lines are the mean and the spread
over the seeds at the last step.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_infogan.py infogan-digits --steps 3000 \\
        --seeds 0-2 --out docs/bench/infogan-digits.md
"""
from __future__ import annotations

import argparse
import statistics
import sys

import torch
from seed_runs import finish_report, train_seeds

from gan_studio.core.bench import parse_seeds


def mean_spread(values: list[float]) -> str:
    if not values:
        return ""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * sd:.1f} %"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("preset", nargs="?", default="infogan-digits")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seeds", type=parse_seeds, default=[0, 1, 2],
                    help="training seeds: a count N (0..N-1), a range A-B or a list A,B,C (default 0,1,2)")
    ap.add_argument("--runs", default="runs", help="folder for the run folders")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", help="also write the Markdown table to this file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = train_seeds(args.preset, args.seeds, args.steps, args.runs, args.overrides, "code_accuracy")
    if results is None:
        return 1

    steps = sorted({r["step"] for _, _, rows, _ in results for r in rows})
    lines = [f"code_accuracy of `{args.preset}`: generated images per code value, classified by the data set's "
             f"metric classifier, under the best one-to-one matching of code values to classes (Hungarian); "
             f"in brackets q_accuracy (Q's code of real images, matched the same way).", "",
             "| step | " + " | ".join(f"seed {s}" for s, *_ in results) + " | mean |",
             "| ---: | " + " | ".join("---:" for _ in results) + " | ---: |"]
    for st in steps:
        cells, accs = [], []
        for _, _, rows, _ in results:
            r = next((r for r in rows if r["step"] == st), None)
            cells.append(f"{100 * r['code_accuracy']:.1f} % ({100 * r['q_accuracy']:.1f} %)" if r else "")
            if r:
                accs.append(r["code_accuracy"])
        lines.append(f"| {st} | " + " | ".join(cells) + f" | {mean_spread(accs)} |")
    last = [rows[-1] for _, _, rows, _ in results if rows]
    acc = last[0].get("classifier_acc") if last else None
    lines += ["", f"At step {steps[-1] if steps else '-'}: code_accuracy {mean_spread([r['code_accuracy'] for r in last])}, "
              f"q_accuracy {mean_spread([r['q_accuracy'] for r in last])} (mean ± sd over seeds "
              f"{', '.join(str(s) for s, *_ in results)}); info_cat "
              + ", ".join(f"{r['info_cat']:.3f}" for r in last) + "; fd_classifier "
              + ", ".join(f"{r['fd_classifier']:.0f}" for r in last if r.get("fd_classifier") is not None)
              + "; code_ink_min " + ", ".join(f"{r['code_ink_min']:.2f}" for r in last if "code_ink_min" in r)
              + " (the dimmest code value's brightness as a share of the real images'; near 0: a code value "
                "draws empty pictures, which the classifier still puts in some class).",
              f"Metric classifier on held-out real images: {100 * acc:.1f} % right (its weakest head)." if acc else ""]
    return finish_report(lines, results, "bench_infogan.py", args.out)


if __name__ == "__main__":
    sys.exit(main())
