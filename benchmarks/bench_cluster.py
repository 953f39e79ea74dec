"""What the Ray engine costs: the 2-seed ring8 mode table on Ray tasks against the local process pool,
end to end, in one process.

Each round times, in alternating order so that load from other processes hits both alike:

- local: ``run_table`` on the local pool (``--jobs`` spawned processes that import torch and train);
- ray, cold: what ``gan-studio bench modes --engine ray`` pays: start a Ray on this machine with
  ``--jobs`` CPUs, run the table as Ray tasks, stop Ray;
- ray, warm (``--warm``): the table on a Ray that is already running, as on a cluster reached with
  ``--address``; its workers were started by the previous round's table, so they have torch imported.

Every round checks that both engines gave the same metrics. The printed figures are the medians over
the rounds of each time and of the per-round ratio ray / local (1.00 = no overhead).

    python benchmarks/bench_cluster.py [--steps 2000] [--seeds 2] [--rounds 5] [--jobs 2] [--warm]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

from gan_studio.core import bench, cluster


#: the runs' own training times (RunResult.seconds) of each kind: what the engine does not add
TRAINING: dict[str, list[float]] = {}


def table(engine, args, kind: str = "") -> tuple[float, list]:
    t0 = time.perf_counter()
    results = bench.run_table([args.config], "ring8", args.seeds, args.steps, tuple(args.set), jobs=args.jobs,
                              engine=engine, threads=1)
    TRAINING.setdefault(kind, []).extend(r.seconds for r in results)
    return time.perf_counter() - t0, [(r.config, r.seed, r.modes, r.hq, r.rkl) for r in results]


def local_round(args) -> tuple[float, list]:
    return table(None, args, "local")


def ray_cold_round(args) -> tuple[float, list]:
    t0 = time.perf_counter()
    with cluster.RayCluster(num_cpus=args.jobs):
        _, metrics = table(cluster.RayEngine(), args, "ray cold")
    return time.perf_counter() - t0, metrics


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="ring8", help="the table's configuration (default: the ring8 preset)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--jobs", type=int, default=2, help="local processes, and the CPUs of the Ray started")
    p.add_argument("--warm", action="store_true", help="also time the table on an already running Ray")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    print(f"ring8 table: {args.config}, {args.seeds} seeds x {args.steps} steps, {args.jobs} processes / Ray CPUs, "
          f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.1f}", flush=True)
    times: dict[str, list[float]] = {"local": [], "ray cold": [], "local, warm rounds": [], "ray warm": []}
    kinds = [("local", local_round), ("ray cold", ray_cold_round)]
    for i in range(args.rounds):
        got = {}
        for name, fn in (kinds if i % 2 == 0 else kinds[::-1]):
            seconds, got[name] = fn(args)
            times[name].append(seconds)
        assert got["local"] == got["ray cold"], f"the engines disagree: {got}"
        print(f"round {i + 1}: local {times['local'][-1]:.1f} s, ray cold {times['ray cold'][-1]:.1f} s "
              f"(ratio {times['ray cold'][-1] / times['local'][-1]:.3f}); load {os.getloadavg()[0]:.1f}", flush=True)
    if args.warm:
        with cluster.RayCluster(num_cpus=args.jobs):
            table(cluster.RayEngine(), args)   # starts the workers (torch imported)
            kinds = [("local, warm rounds", None), ("ray warm", cluster.RayEngine())]
            for i in range(args.rounds):
                for name, engine in (kinds if i % 2 == 0 else kinds[::-1]):
                    times[name].append(table(engine, args, name)[0])
                print(f"warm round {i + 1}: local {times['local, warm rounds'][-1]:.1f} s, ray warm "
                      f"{times['ray warm'][-1]:.1f} s; load {os.getloadavg()[0]:.1f}", flush=True)
    report(times, "ray cold", "local")
    if args.warm:
        report(times, "ray warm", "local, warm rounds")


def report(times: dict[str, list[float]], ray: str, local: str) -> None:
    ratios = [r / loc for r, loc in zip(times[ray], times[local])]
    print(f"median: {local} {statistics.median(times[local]):.2f} s, {ray} {statistics.median(times[ray]):.2f} s; "
          f"ratio {ray} / local = {statistics.median(ratios):.3f} (per round: "
          + ", ".join(f"{r:.3f}" for r in ratios) + ")")
    print(f"  of which training, the median run's own timer: {local} {statistics.median(TRAINING[local]):.2f} s, "
          f"{ray} {statistics.median(TRAINING[ray]):.2f} s")


if __name__ == "__main__":
    main()
