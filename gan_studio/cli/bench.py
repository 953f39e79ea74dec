"""gan-studio bench modes --data ring8|grid25 --seeds 10 --steps N [--set ...] [--compare A B ...]
[--engine local|ray [--address ADDR] [--gpus-per-run F]] [--keep-runs]"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from gan_studio.core.errors import ConfigError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("bench", help="benchmarks: the mode-collapse table (bench modes)",
                       description="Benchmarks that compare configurations of the studio.")
    bsub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    m = bsub.add_parser(
        "modes", help="the PacGAN-style mode-collapse table over seeds",
        description="Train each configuration (a preset) on each seed, in parallel processes, and print "
                    "modes captured, strict modes, HQ % and reverse KL (mean ± standard error over "
                    "seeds) with seconds per run, as PacGAN's Table 1 does. Writes the table as CSV and "
                    "Markdown, and every run as CSV, into --out.")
    m.add_argument("--data", required=True, choices=("ring8", "grid25", "ring8-wide"),
                   help="the Gaussian mixture to train on")
    m.add_argument("--seeds", default="10",
                   help="the seeds of each configuration: a count N (seeds 0..N-1, default 10), a range "
                        "(100-109) or a list (0,3,7): tune a preset on some seeds, report it on others")
    m.add_argument("--steps", type=int, required=True, help="G steps per run")
    m.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value in every configuration (repeatable)")
    m.add_argument("--compare", nargs="+", metavar="PRESET",
                   help="configurations (preset names or .toml files) to compare; default: "
                        "vanilla unrolled5 unrolled10 minibatch-disc pac2 pac4 best")
    m.add_argument("--jobs", type=int, help="parallel processes (default: one per core); with --engine ray and "
                                            "no --address, the CPUs of the Ray started on this machine")
    m.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="where the runs train: local, a process pool on this machine (default); ray, one Ray "
                        "task per (configuration, seed) on a Ray started here or the cluster at --address, "
                        "with the same numbers for the same seeds (needs pip install \"gan-studio[cluster]\")")
    m.add_argument("--address", metavar="ADDR",
                   help="with --engine ray: a running Ray cluster (HOST:6379 as `ray start --head` prints, "
                        "or auto); default: start Ray on this machine for the table")
    m.add_argument("--gpus-per-run", type=float, metavar="F",
                   help="with --engine ray: train each run on a GPU, reserving the fraction F of one "
                        "(0.25: four runs share a GPU); default: CPU only")
    m.add_argument("--keep-runs", action="store_true",
                   help="also keep every run as a run folder, OUT/runs/CONFIG-seedN (config, final metrics, "
                        "checkpoint, snapshot), which the window opens; with --engine ray they come back here")
    m.add_argument("--threads", type=int, metavar="N",
                   help="torch CPU threads per run (default: the faster of 1 and the run's share of the "
                        "cores for its size, as the window picks: 1 for these 2-D MLPs)")
    m.add_argument("--out", default="bench-results", help="folder for the CSV and Markdown files")
    m.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def run(args) -> int:
    from gan_studio.core import bench

    seeds = bench.parse_seeds(args.seeds)
    if args.steps < 1:
        raise ConfigError(f"--steps = {args.steps}: must be >= 1")
    from gan_studio.core.runs import check_step_count
    check_step_count(args.steps, "--steps")
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs = {args.jobs}: must be >= 1")
    from gan_studio.cli.train import check_threads
    check_threads(args.threads)
    on_ray = args.engine == "ray"
    for option, value in (("--address", args.address), ("--gpus-per-run", args.gpus_per_run)):
        if value is not None and not on_ray:
            raise ConfigError(f"{option} needs --engine ray")
    if on_ray:
        from gan_studio.core import cluster
        cluster.import_ray()   # not installed: one line saying how, before anything else
        cluster.check_gpus(args.gpus_per_run)
        if args.address and args.jobs is not None:
            raise ConfigError("--jobs sizes the pool (or the Ray) started on this machine; a cluster at "
                              "--address runs as many runs at once as it has CPUs")
    configs = list(args.compare or bench.DEFAULT_COMPARE)
    total = len(configs) * len(seeds)
    jobs = bench.job_count(args.jobs, total)
    for name in configs:  # a bad name or override: one line before anything is built or printed
        try:
            bench.build_bench_config(name, args.data, 0)
        except ConfigError as e:   # the preset itself (a typo): say which one
            raise ConfigError(f"--compare {name}: {e}") from None
        _check_2d_preset(name)
        bench.build_bench_config(name, args.data, 0, args.overrides)
    out = Path(args.out)
    if args.keep_runs:
        bench.check_run_folders(out, configs, seeds)
    out.mkdir(parents=True, exist_ok=True)   # a file in the way: one line now, not after every run trained
    if on_ray:   # each Ray task reserves one CPU per torch thread: 1 for these MLPs unless --threads
        threads = {name: args.threads or 1 for name in configs}
        with cluster.RayCluster(args.address, num_cpus=args.jobs) as ray_cluster:
            where = ray_cluster.describe()
            device = f"GPU ({args.gpus_per_run:g} per run)" if args.gpus_per_run else \
                f"CPU ({_threads_text(threads)} per run)"
            print(f"bench modes: {len(configs)} configurations x {bench.describe_seeds(seeds)} on {args.data}, "
                  f"{where}, {device}", file=sys.stderr, flush=True)
            results = _run(args, bench, configs, seeds, total, jobs, threads,
                           engine=cluster.RayEngine(args.gpus_per_run),
                           device="cuda" if args.gpus_per_run else "cpu")
    else:
        threads = bench.plan_threads(configs, args.data, args.overrides, jobs, args.threads)
        print(f"bench modes: {len(configs)} configurations x {bench.describe_seeds(seeds)} on {args.data}, "
              f"{jobs} {'process' if jobs == 1 else 'processes'}, CPU ({_threads_text(threads)} per run)",
              file=sys.stderr, flush=True)
        results = _run(args, bench, configs, seeds, total, jobs, threads)
    rows = bench.summarise(results)
    command = "gan-studio bench modes " + " ".join(shlex.quote(a) for a in _argv_of(args))
    print(bench.format_text(rows, args.data))
    from gan_studio.core.io import atomic_write_text
    stem = out / f"modes-{args.data}"
    atomic_write_text(stem.with_suffix(".csv"), bench.format_csv(rows))
    atomic_write_text(stem.with_suffix(".md"), bench.format_markdown(rows, args.data, seeds, args.steps,
                                                                      command))
    atomic_write_text(out / f"modes-{args.data}-runs.csv", bench.runs_csv(results))
    kept = f" and {len(results)} run folders in {out / 'runs'}" if args.keep_runs else ""
    print(f"wrote {stem}.csv, {stem}.md and {out / f'modes-{args.data}-runs.csv'}{kept}", file=sys.stderr)
    return 0


def _check_2d_preset(name: str) -> None:
    """A preset of images (digits, cgan-digits, ...) has no place in the 2-D mode table: one line that
    says so, instead of 'model.arch = dcgan needs an image data set, not ring8' from deep inside."""
    from gan_studio.core.data.registry import dataset_kind
    from gan_studio.core.presets import load_preset
    cfg = load_preset(name)
    if dataset_kind(cfg.data.name) != "2d" or cfg.model.family != "gan":
        what = f"on {cfg.data.name}" if dataset_kind(cfg.data.name) != "2d" else f"a {cfg.model.family} model"
        raise ConfigError(f"--compare {name}: preset {name} trains {what}; the mode table compares GANs on 2-D "
                          f"data (presets such as vanilla, pac2, pac4, minibatch-disc, unrolled5, best)")


def _run(args, bench, configs, seeds, total, jobs, threads, engine=None, device="cpu"):
    """The table's runs on ``engine`` (default: the local pool), with a progress bar on a terminal
    and one line per finished run otherwise. Each finished run goes into OUT/modes-DATA-runs.csv at
    once: a table cut short (a worker killed, Ctrl-C, the command itself killed) keeps the runs it had."""
    from gan_studio.core.errors import RunError
    from gan_studio.core.io import atomic_write_text
    bar, lines, done = None, False, 0
    finished = []
    runs_file = Path(args.out) / f"modes-{args.data}-runs.csv"
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(total=total, unit="run", file=sys.stderr, dynamic_ncols=True)
    elif not args.quiet:
        lines = True                     # a log file gets one line per finished run, not a bar

    def progress(r):
        nonlocal done
        done += 1
        finished.append(r)
        atomic_write_text(runs_file, bench.runs_csv(finished))
        what = (f"{r.config} seed {r.seed}: {r.modes} modes ({r.modes_strict} strict), HQ {r.hq:.1f}%, "
                f"reverse KL {'n/a' if r.rkl is None else f'{r.rkl:.3f}'}, {r.seconds:.0f} s")
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(what)
        elif lines:
            print(f"[{done}/{total}] {what}", file=sys.stderr, flush=True)

    try:
        return bench.run_table(configs, args.data, seeds, args.steps, tuple(args.overrides), jobs=jobs,
                               progress=progress, threads=threads, engine=engine,
                               keep_runs=Path(args.out) if args.keep_runs else None, device=device)
    except RunError as e:   # a worker died: the table is incomplete, the finished runs are on disk
        raise RunError(f"{e}{_kept(finished, total, runs_file)}") from None
    except KeyboardInterrupt:   # main says 'interrupted' and exits 130
        if finished:
            print(f"gan-studio bench: {_kept(finished, total, runs_file)[2:]}", file=sys.stderr)
        raise
    finally:
        if bar is not None:
            bar.close()


def _kept(finished: list, total: int, runs_file: Path) -> str:
    """'; the 2 of 6 runs that finished are in OUT/modes-ring8-runs.csv', or nothing."""
    return f"; the {len(finished)} of {total} runs that finished are in {runs_file}" if finished else ""


def _threads_text(threads: dict[str, int]) -> str:
    """'1 thread' or '4 threads'; one count per configuration when they differ."""
    from gan_studio.core.device import threads_text
    counts = sorted(set(threads.values()))
    if len(counts) <= 1:
        return threads_text(counts[0] if counts else 1)
    return ", ".join(f"{name}: {threads_text(n)}" for name, n in threads.items())


def _argv_of(args) -> list[str]:
    """The options that define the table (for the Markdown file's caption)."""
    argv = ["--data", args.data, "--seeds", str(args.seeds), "--steps", str(args.steps)]
    for o in args.overrides:
        argv += ["--set", o]
    if args.compare:
        argv += ["--compare", *args.compare]
    return argv
