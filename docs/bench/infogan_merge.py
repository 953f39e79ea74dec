"""Merge single-seed `bench_infogan.py` tables into one table per group of seeds, as docs/bench/infogan-shapes.md
shows them: python docs/bench/infogan_merge.py GROUP_TITLE:F1.md,F2.md,F3.md [GROUP_TITLE:...] > OUT.md

Each file is one seed's --out of bench_infogan.py; the mean and sd (ddof 1) are over the group's seeds."""
import re
import statistics
import sys

ROW = re.compile(r"^\| (\d+) \| ([\d.]+) % \(([\d.]+) %\) \|")
SEED = re.compile(r"^\| step \| seed (\d+) \|")
LAST = re.compile(r"^At step (\d+): code_accuracy ([\d.]+) .*?q_accuracy ([\d.]+) .*?info_cat ([-\d.]+); "
                  r"fd_classifier ([\d.]+); code_ink_min ([\d.]+)")
MINUTES = re.compile(r"^Minutes per run on this machine: ([\d.]+)")


def read(path):
    seed, rows, last, minutes = None, {}, None, None
    for line in open(path):
        if m := SEED.match(line):
            seed = int(m.group(1))
        elif m := ROW.match(line):
            rows[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
        elif m := LAST.match(line):
            last = m.groups()
        elif m := MINUTES.match(line):
            minutes = float(m.group(1))
    return seed, rows, last, minutes


def sd(v):
    return statistics.stdev(v) if len(v) > 1 else 0.0


def group(title, paths):
    runs = [read(p) for p in paths]
    seeds = [r[0] for r in runs]
    out = [title, "", "| step | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |",
           "| ---: | " + " | ".join("---:" for _ in seeds) + " | ---: |"]
    for step in sorted(set.intersection(*(set(r[1]) for r in runs))):
        vals = [r[1][step] for r in runs]
        cells = " | ".join(f"{c:.1f} % ({q:.1f} %)" for c, q in vals)
        codes = [c for c, _ in vals]
        out.append(f"| {step} | {cells} | {statistics.mean(codes):.1f} ± {sd(codes):.1f} % |")
    out.append("")
    for s, r in zip(seeds, runs):
        step, code, q, info, fd, ink = r[2]
        out.append(f"- seed {s} at step {step}: code_accuracy {float(code):.1f} %, q_accuracy {float(q):.1f} %, "
                   f"info_cat {info}, fd_classifier {fd}, code_ink_min {ink}")
    out.append(f"- minutes per run: {', '.join(f'{r[3]:.1f}' for r in runs)}")
    return out, [r[1][max(r[1])][0] for r in runs]


if __name__ == "__main__":
    lines, finals = [], []
    for arg in sys.argv[1:]:
        title, files = arg.split(":", 1)
        part, last = group(title, files.split(","))
        lines += part + [""]
        finals += last
        if len(finals) > 3:
            lines.append(f"Over the {len(finals)} seeds so far at the last step: "
                         f"{statistics.mean(finals):.1f} ± {sd(finals):.1f} %.")
            lines.append("")
    print("\n".join(lines))
