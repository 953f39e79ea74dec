"""The mode-collapse table: train named configurations on a 2-D mixture over several seeds and
report what PacGAN's Table 1 reports (modes captured, HQ %, reverse KL; mean ± standard error).

Each (configuration, seed) pair is one independent run (a :class:`BenchJob`) in a worker process
(torch limited to its share of the cores there, one thread for the small 2-D MLPs, so N workers use N
cores without fighting); the same seed gives the same run. The job carries its whole config, so it
runs the same wherever it runs: in this process, in a local pool (:class:`LocalPool`) or as a Ray
task on a cluster (``core/cluster.py``, the same :func:`run_job`).
"""
from __future__ import annotations

import csv
import io
import math
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

from gan_studio.core.config import parse_override
from gan_studio.core.errors import ConfigError, RunError

#: rows the table shows when no --compare is given
DEFAULT_COMPARE = ("vanilla", "unrolled5", "unrolled10", "minibatch-disc", "pac2", "pac4", "best")

#: PacGAN Table 1 (the published anchors in METHODS.md): modes, HQ %, reverse KL
PUBLISHED = {
    "ring8": [("GAN (PacGAN Table 1)", 6.3, 98.2, 0.45), ("PacGAN2", 7.9, 95.6, 0.07),
              ("PacGAN4", 7.8, 95.9, 0.07)],
    "grid25": [("GAN (PacGAN Table 1)", 17.3, 94.8, 0.70), ("PacGAN2", 23.8, 91.3, 0.13),
               ("PacGAN4", 24.8, 93.6, 0.04)],
}
METRICS = ("modes", "modes_strict", "hq", "rkl")


@dataclass
class RunResult:
    config: str
    seed: int
    modes: int
    modes_strict: int
    hq: float
    rkl: float | None
    seconds: float
    steps: int
    #: the run's folder as {relative path: bytes} when it was kept (``--keep-runs``); the caller
    #: writes it under OUT/runs (:func:`write_run_files`) on its own machine, then drops it
    files: dict[str, bytes] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class BenchJob:
    """One table cell: everything a worker needs, the config included (a preset file on this machine
    need not exist where the job runs)."""
    config: str          # the name the table shows (a preset name or a .toml path)
    seed: int
    steps: int
    config_json: str     # the cell's whole config (build_bench_config), seed and data included
    threads: int = 1     # torch CPU threads (a Ray task reserves as many CPUs)
    device: str = "cpu"
    keep_run: bool = False


def build_bench_config(preset: str, data: str, seed: int, overrides: Iterable[str] = ()):
    """The config of one table cell: the preset, on the chosen data, with the shared overrides."""
    from gan_studio.core.presets import load_preset
    cfg = load_preset(preset)
    cfg.set("data.name", data)
    for text in overrides:
        cfg.set(*parse_override(text))
    cfg.set("train.seed", seed)
    cfg.set("train.device", "cpu")
    cfg.validate()
    return cfg


def job_count(jobs: int | None, tasks: int) -> int:
    """Worker processes for ``tasks`` runs: ``jobs``, default one per core, never more than the runs."""
    return max(1, min(jobs or os.cpu_count() or 1, tasks))


def plan_threads(configs: list[str], data: str, overrides: Iterable[str] = (), jobs: int = 1,
                 threads: int | None = None) -> dict[str, int]:
    """torch threads of each configuration's runs: ``threads``, else the window's rule (the faster
    of 1 and the run's share of the cores for its size; core/device.py)."""
    if threads is not None:
        return {name: threads for name in configs}
    from gan_studio.core.device import choose_threads
    from gan_studio.core.families.registry import make_trainer
    out = {}
    for name in configs:
        tr = make_trainer(build_bench_config(name, data, 0, overrides), device="cpu")
        out[name] = choose_threads(tr, jobs=jobs)
    return out


def run_one(preset: str, data: str, seed: int, steps: int, overrides: tuple[str, ...] = (),
            threads: int = 1, keep_run: bool = False) -> RunResult:
    """Train one configuration for ``steps`` G steps and measure its final generator (2,500 samples)."""
    return run_job(make_job(preset, data, seed, steps, overrides, threads, keep_run=keep_run))


def make_job(preset: str, data: str, seed: int, steps: int, overrides: Iterable[str] = (), threads: int = 1,
             device: str = "cpu", keep_run: bool = False) -> BenchJob:
    cfg = build_bench_config(preset, data, seed, overrides)
    cfg.set("train.device", device)
    return BenchJob(preset, seed, steps, cfg.dumps("json"), threads, device, keep_run)


def run_job(job: BenchJob) -> RunResult:
    """Run one job where this is called (this process, a pool worker, a Ray worker)."""
    import json

    import torch

    import gan_studio.core.data  # noqa: F401  (the names data.name may take, for the config's check)
    from gan_studio.core.config import Config
    from gan_studio.core.families.registry import make_trainer
    torch.set_num_threads(job.threads)
    cfg = Config.from_dict(json.loads(job.config_json))
    t0 = time.perf_counter()
    tr = make_trainer(cfg, device=job.device)
    for _ in range(job.steps):
        tr.step()
    seconds = time.perf_counter() - t0
    m = tr.evaluate()
    if "modes" not in m:
        raise ConfigError(f"data {cfg.data.name!r} has no modes to count; the table needs a Gaussian mixture "
                          "such as ring8 or grid25")
    files = _run_folder_files(tr, cfg) if job.keep_run else None
    return RunResult(job.config, job.seed, m["modes"], m["modes_strict"], m["hq"], m["rkl"], seconds, job.steps,
                     files)


def _run_folder_files(tr, cfg) -> dict[str, bytes]:
    """The finished run as a normal run folder (config, the final metrics row, checkpoint, snapshot:
    the window opens it, ``train --resume`` continues it), read back as bytes so that it travels to
    the machine that writes the table."""
    import tempfile

    from gan_studio.core.runs import RunFolder
    from gan_studio.core.training.run_loop import RunLoop
    from gan_studio.core.training.trainer import DivergedError
    with tempfile.TemporaryDirectory(prefix="gan-studio-bench-") as tmp:
        folder = Path(tmp) / "run"
        run = RunFolder.create(folder, cfg)
        try:
            RunLoop(tr, run).finish()
        except DivergedError:
            pass   # kept as it is: the config and the divergence event, no checkpoint of NaN weights
        return {p.relative_to(folder).as_posix(): p.read_bytes()
                for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def run_folder_name(config: str, seed: int) -> str:
    """The folder of a kept run under OUT/runs: ``vanilla-seed0``; a config file by its stem."""
    stem = Path(config).stem if config.endswith((".toml", ".json")) else config
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', stem)}-seed{seed}"


def check_run_folders(out: Path, configs: list[str], seeds: list[int]) -> None:
    """Before training: each kept run gets a folder of its own under OUT/runs that is not there yet."""
    seen: dict[str, str] = {}
    for name in configs:
        for s in seeds:
            folder = run_folder_name(name, s)
            if seen.setdefault(folder, name) != name:
                raise ConfigError(f"--keep-runs: {seen[folder]!r} and {name!r} would both keep their runs in "
                                  f"{out / 'runs' / folder}; rename one of the files")
            if (out / "runs" / folder).exists():
                raise RunError(f"--keep-runs: {out / 'runs' / folder} already exists; choose another --out "
                               "(kept runs are never overwritten)")


def write_run_files(folder: Path, files: dict[str, bytes]) -> Path:
    """Write a kept run (:attr:`RunResult.files`) as the folder ``folder``, each file atomically."""
    from gan_studio.core.io import atomic_write_bytes
    for rel in files:
        parts = Path(rel).parts
        if Path(rel).is_absolute() or ".." in parts or not parts:
            raise RunError(f"a kept run holds a file outside its folder ({rel!r}); nothing of it was written")
    for rel, data in files.items():
        atomic_write_bytes(folder / rel, data)
    return folder


class Engine(Protocol):
    """Where the jobs of a table run: yields each job's result as it finishes, in any order."""

    def map_unordered(self, fn: Callable[[BenchJob], RunResult], jobs: list[BenchJob]) -> Iterator[RunResult]: ...


class LocalPool:
    """``jobs`` processes on this machine (spawned: no state leaks into a run); 1: in this process."""

    def __init__(self, jobs: int):
        self.jobs = jobs

    def map_unordered(self, fn, jobs):
        if self.jobs == 1:
            for job in jobs:
                yield fn(job)
            return
        import multiprocessing as mp
        from concurrent.futures.process import BrokenProcessPool
        with ProcessPoolExecutor(self.jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(fn, job): job for job in jobs}
            try:
                for fut in as_completed(futures):
                    try:
                        result = fut.result()
                    except BrokenProcessPool:   # a worker killed (SIGKILL, out of memory): the pool is gone
                        raise RunError(worker_died(futures[fut], "a process of the pool")) from None
                    yield result
            finally:   # an error or an interrupt: the runs not started yet are dropped
                for fut in futures:
                    fut.cancel()


def worker_died(job: BenchJob, what: str) -> str:
    """One line for a worker that ended without an answer while ``job`` was queued or training."""
    return (f"{what} ended abruptly (killed, or out of memory) while {job.config} seed {job.seed} was queued "
            "or training; the table is incomplete")


def run_table(configs: list[str], data: str, seeds: int | list[int], steps: int, overrides: tuple[str, ...] = (),
              jobs: int | None = None, progress: Callable[[RunResult], None] | None = None,
              first_seed: int = 0, threads: int | dict[str, int] | None = None, engine: Engine | None = None,
              keep_runs: Path | None = None, device: str = "cpu") -> list[RunResult]:
    """Every configuration on every seed (a count from ``first_seed``, or a list of seeds), in
    ``jobs`` processes (default: one per core) or on ``engine`` (a Ray cluster: core/cluster.py),
    each run with ``threads`` torch threads (one count, or one per configuration; default:
    plan_threads). ``keep_runs``: the folder in which each run is kept as a run folder
    (``runs/vanilla-seed0``), written here whichever machine trained it."""
    seed_list = list(seeds) if not isinstance(seeds, int) else list(range(first_seed, first_seed + seeds))
    for name in configs:  # fail on a bad name or override before starting any worker
        build_bench_config(name, data, seed_list[0], overrides)
    if keep_runs is not None:
        check_run_folders(keep_runs, configs, seed_list)
    jobs = job_count(jobs, len(configs) * len(seed_list))
    if not isinstance(threads, dict):
        threads = plan_threads(configs, data, overrides, jobs, threads)
    tasks = [make_job(name, data, s, steps, overrides, threads[name], device, keep_runs is not None)
             for name in configs for s in seed_list]
    results: list[RunResult] = []
    for r in (engine or LocalPool(jobs)).map_unordered(run_job, tasks):
        if r.files is not None:
            write_run_files(keep_runs / "runs" / run_folder_name(r.config, r.seed), r.files)
            r.files = None
        results.append(r)
        if progress:
            progress(r)
    order = {name: i for i, name in enumerate(configs)}
    results.sort(key=lambda r: (order[r.config], r.seed))
    return results


#: most seeds of one --seeds, and the largest seed (train.seed's range)
MAX_SEEDS = 10_000
MAX_SEED = 2 ** 63 - 1


def parse_seeds(text: str) -> list[int]:
    """``--seeds``: a count (``10`` = seeds 0..9), a range (``100-109``), a list (``0,3,7``), or a
    list of ranges (``0-4,100-104``). Presets are tuned on some seeds and reported on others."""
    text = str(text).strip()

    def whole(part: str) -> bool:   # ASCII digits only: '²'.isdigit() is True, int('²') fails
        return part.isascii() and part.isdigit()

    def seed(part: str) -> int:
        if len(part.lstrip("0")) > len(str(MAX_SEED)) or int(part) > MAX_SEED:
            raise ConfigError(f"--seeds = {text!r}: a seed is a whole number from 0 to {MAX_SEED}")
        return int(part)

    if whole(text):
        n = int(text) if len(text.lstrip("0")) <= 6 else MAX_SEEDS + 1   # 10**80 seeds: no range() of it
        if n < 1:
            raise ConfigError(f"--seeds = {text}: must be >= 1 (a count, a range A-B or a list A,B,C)")
        if n > MAX_SEEDS:
            raise ConfigError(f"--seeds = {text}: at most {MAX_SEEDS:,} seeds")
        return list(range(n))
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        lo, dash, hi = part.partition("-")
        if not whole(lo) or (dash and not whole(hi)):
            raise ConfigError(f"--seeds = {text!r}: use a count (10), a range (100-109) or a list (0,3,7)")
        lo_i, hi_i = seed(lo), seed(hi) if dash else seed(lo)
        if hi_i < lo_i:
            raise ConfigError(f"--seeds = {text!r}: the range {part} runs backwards")
        if hi_i - lo_i >= MAX_SEEDS:
            raise ConfigError(f"--seeds = {text!r}: at most {MAX_SEEDS:,} seeds")
        seeds += [s for s in range(lo_i, hi_i + 1) if s not in seeds]
        if len(seeds) > MAX_SEEDS:
            raise ConfigError(f"--seeds = {text!r}: at most {MAX_SEEDS:,} seeds")
    return seeds


def describe_seeds(seeds: list[int]) -> str:
    """'seeds 0-9', 'seeds 100-109' or 'seeds 0, 3, 7'."""
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}"
    return "seeds " + ", ".join(str(s) for s in seeds)


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error (sample std / sqrt(n)); s.e. is 0 for a single value."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mu = sum(values) / n
    if n == 1:
        return mu, 0.0
    var = sum((v - mu) ** 2 for v in values) / (n - 1)
    return mu, math.sqrt(var / n)


def summarise(results: list[RunResult]) -> list[dict]:
    """One row per configuration: mean and s.e. of each metric, seconds per run."""
    rows = []
    for name in dict.fromkeys(r.config for r in results):
        rs = [r for r in results if r.config == name]
        row = {"config": name, "runs": len(rs), "steps": rs[0].steps}
        for key in METRICS:
            vals = [getattr(r, key) for r in rs]
            # reverse KL is undefined for a run without HQ samples: it is left out and counted
            finite = [float(v) for v in vals if v is not None]
            row[key], row[key + "_se"] = mean_se(finite)
            if len(finite) < len(vals):
                row[key + "_missing"] = len(vals) - len(finite)
        row["seconds"], row["seconds_se"] = mean_se([r.seconds for r in rs])
        rows.append(row)
    return rows


def _pm(mu: float, se: float, digits: int) -> str:
    if math.isnan(mu):
        return "n/a"
    return f"{mu:.{digits}f} ± {se:.{digits}f}"


def _cell(r: dict, key: str, digits: int) -> str:
    """mean ± s.e., and how many runs had no value (reverse KL of a run without HQ samples): the mean
    is over the others, which the cell says, not a mean over every seed."""
    text = _pm(r[key], r[key + "_se"], digits)
    missing = r.get(key + "_missing")
    if missing and text != "n/a":
        text += f" ({missing} n/a)"
    return text


def format_markdown(rows: list[dict], data: str, seeds: int | list[int], steps: int, command: str = "") -> str:
    k = {"ring8": 8, "grid25": 25}.get(data)
    head = f"modes (of {k})" if k else "modes"
    out = io.StringIO()
    if command:
        out.write(f"`{command}`\n\n")
    out.write(f"| configuration | {head} | strict modes | HQ % | reverse KL | s / run |\n")
    out.write("| --- | --- | --- | --- | --- | --- |\n")
    for r in rows:
        out.write(f"| {r['config']} | {_pm(r['modes'], r['modes_se'], 2)} | "
                  f"{_pm(r['modes_strict'], r['modes_strict_se'], 2)} | {_pm(r['hq'], r['hq_se'], 1)} | "
                  f"{_cell(r, 'rkl', 3)} | {r['seconds']:.0f} |\n")
    for name, modes, hq, rkl in PUBLISHED.get(data, []):
        out.write(f"| *{name}, published* | {modes} | – | {hq} | {rkl} | – |\n")
    which = f"{seeds} seeds" if isinstance(seeds, int) else f"{len(seeds)} {describe_seeds(seeds)}"
    out.write(f"\n{data}, {which} per row, {steps} G steps per run, 2,500 samples per evaluation; "
              "mean ± standard error over seeds.\n")
    return out.getvalue()


def format_text(rows: list[dict], data: str) -> str:
    k = {"ring8": 8, "grid25": 25}.get(data)
    w = max([15] + [len(_cell(r, "rkl", 3)) for r in rows])
    lines = [f"{'configuration':<18} {'modes' + (f'/{k}' if k else ''):>14} {'strict':>14} {'HQ %':>13} "
             f"{'reverse KL':>{w}} {'s/run':>6}"]
    for r in rows:
        lines.append(f"{r['config']:<18} {_pm(r['modes'], r['modes_se'], 2):>14} "
                     f"{_pm(r['modes_strict'], r['modes_strict_se'], 2):>14} {_pm(r['hq'], r['hq_se'], 1):>13} "
                     f"{_cell(r, 'rkl', 3):>{w}} {r['seconds']:>6.0f}")
    return "\n".join(lines)


def format_csv(rows: list[dict]) -> str:
    cols = ["config", "runs", "steps"] + [c for m in METRICS for c in (m, m + "_se")] + ["seconds", "seconds_se"]
    out = io.StringIO()
    w = csv.DictWriter(out, cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: (round(r[c], 6) if isinstance(r[c], float) else r[c]) for c in cols})
    return out.getvalue()


def runs_csv(results: list[RunResult]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["config", "seed", "modes", "modes_strict", "hq", "rkl", "seconds", "steps"])
    for r in results:
        w.writerow([r.config, r.seed, r.modes, r.modes_strict, round(r.hq, 4),
                    "" if r.rkl is None else round(r.rkl, 6), round(r.seconds, 3), r.steps])
    return out.getvalue()
