"""What the per-seed benchmarks of a family preset share (bench_cgan, bench_infogan): train the
preset with the CLI once per seed, keep the run folders, read back the evaluated rows; and the
Markdown report's closing lines."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from gan_studio.cli import main as cli_main
from gan_studio.core.io import atomic_write_text
from gan_studio.core.runs import RunFolder


def train_seeds(preset: str, seeds, steps: int, runs: str, overrides: list[str], metric: str):
    """[(seed, run folder, the rows that carry ``metric``, minutes)], or None when a run fails."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = []
    for seed in seeds:
        out = Path(runs) / f"bench-{preset}-s{seed}-{stamp}"
        argv = ["train", preset, "--steps", str(steps), "--seed", str(seed), "--out", str(out),
                "--quiet", "--device", "cpu"]
        for s in overrides:
            argv += ["--set", s]
        t0 = time.perf_counter()
        if cli_main(argv):
            return None
        rows = [r for r in RunFolder(out).read_metrics() if metric in r]
        results.append((seed, out, rows, (time.perf_counter() - t0) / 60))
    return results


def finish_report(lines: list[str], results, script: str, out: str | None) -> int:
    """Add the minutes per run, the run folders and the command; print; write ``out`` atomically."""
    lines = lines + ["Minutes per run on this machine: " + ", ".join(f"{m:.1f}" for *_, m in results)
                     + "; run folders: " + ", ".join(f"`{o}`" for _, o, _, _ in results) + ".",
                     "", f"Made by `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/{script} "
                     + " ".join(sys.argv[1:]) + "`."]
    md = "\n".join(lines) + "\n"
    print(md)
    if out:
        atomic_write_text(out, md)
    return 0
