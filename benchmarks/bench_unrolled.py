"""What unrolling costs: Trainer step time for k = 0 (plain), 1, 5, 10, second-order and copy-D.

    python benchmarks/bench_unrolled.py [--steps 30] [--threads 1] [--preset vanilla] [--data ring8]

All configurations run in this one process on the same networks and batch, interleaved in rounds so
that a busy machine slows them alike; each is reported in ms per G step and as a ratio to the
plain step (k = 0).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from gan_studio.core.bench import build_bench_config
from gan_studio.core.training.trainer import Trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30, help="timed steps per configuration and round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; the median round is reported")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--preset", default="vanilla")
    ap.add_argument("--data", default="ring8")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = [("plain (k = 0)", [])]
    for k in (1, 5, 10):
        for method in ("second-order", "copy-d"):
            rows.append((f"k = {k:2d} {method}", [f"tricks.unrolled.enabled=true", f"tricks.unrolled.k={k}",
                                                 f"tricks.unrolled.method={method}"]))
    trainers = []
    for label, sets in rows:
        tr = Trainer(build_bench_config(args.preset, args.data, 0, sets), device="cpu")
        for _ in range(3):  # warm-up: allocations, Adam state
            tr.step()
        trainers.append(tr)
    times: list[list[float]] = [[] for _ in rows]
    for _ in range(args.rounds):
        for i, tr in enumerate(trainers):
            t0 = time.perf_counter()
            for _ in range(args.steps):
                tr.step()
            times[i].append((time.perf_counter() - t0) / args.steps)
    cfg = trainers[0].cfg
    print(f"{args.data}, batch {cfg.train.batch_size}, G {cfg.model.g_depth}x{cfg.model.g_width}, "
          f"D {cfg.model.d_depth}x{cfg.model.d_width}, {args.threads} thread(s), median of {args.rounds} rounds "
          f"of {args.steps} steps")
    base = statistics.median(times[0])
    print(f"{'configuration':<24} {'ms / step':>10} {'x plain':>8}")
    for (label, _), ts in zip(rows, times):
        med = statistics.median(ts)
        print(f"{label:<24} {med * 1000:>10.1f} {med / base:>8.1f}")


if __name__ == "__main__":
    main()
