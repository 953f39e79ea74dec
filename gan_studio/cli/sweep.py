"""gan-studio sweep PRESET --param KEY=SPEC ... --metric rkl [--mode min] --samples N
[--scheduler asha|pbt|fifo] [--seeds 0-2] [--steps N] --out DIR  (Ray Tune: core/sweep.py)"""
from __future__ import annotations

import argparse
import shlex
import sys
from contextlib import contextmanager
from pathlib import Path

from gan_studio.core.errors import ConfigError, RunError

EPILOG = """\
SPEC, the values one --param may take:
  1,2,4            a list (also true,false or names: --param loss=hinge,non-saturating)
  0.3..0.9         a range, drawn uniformly (whole numbers for an integer key: 1..5)
  log:1e-4..1e-2   a log-uniform range (learning rates, penalty weights)

examples:
  gan-studio sweep ring8 --param train.lr_d=log:1e-4..1e-2 --param train.d_steps=1,2 \\
      --metric rkl --samples 16 --steps 3000 --seeds 0-2 --out sweeps/ring8-lr
  gan-studio sweep ring8 --param train.lr_g=log:1e-4..3e-3 --scheduler pbt --samples 8 --out sweeps/pbt
  gan-studio sweep vanilla --param tricks.packing.m=2,3,4 --set tricks.packing.enabled=true \\
      --address HOST:6379 --out sweeps/pac   # on a running cluster (ray start --head)
"""


def add_parser(sub) -> argparse.ArgumentParser:
    from gan_studio.core.sweep import METRICS, SCHEDULERS
    import textwrap
    p = sub.add_parser(
        "sweep", help="search a preset's settings on Ray Tune (ASHA, PBT) over seeds",
        description=textwrap.fill("Train a preset with settings drawn from --param ranges, each trial on every seed of "
                    "--seeds, on Ray Tune (pip install \"gan-studio[cluster]\"). Trials report the mean of "
                    "--metric over the seeds at each evaluation step (train.eval_every); ASHA stops poor "
                    "settings early, PBT copies good runs over poor ones (the studio's exact checkpoints) "
                    "and perturbs their settings. Writes sweep.csv and sweep.md (settings, metric, steps) and "
                    "the best trials' run folders (best1-seed0, ...) into --out; the window opens them.", 100),
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("preset", help="preset name (see `gan-studio presets`) or a .toml/.json config")
    p.add_argument("--param", dest="params", action="append", default=[], metavar="KEY=SPEC",
                   help="a config key to sweep and its values (repeatable); SPEC below")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="fix a config value in every trial (repeatable)")
    p.add_argument("--metric", default="rkl", choices=tuple(METRICS),
                   help="what to optimise, the mean over seeds: rkl (reverse KL), hq (%% high-quality), modes, "
                        "strict-modes (2-D mixtures); fd, classes (labelled images). Default: rkl")
    p.add_argument("--mode", choices=("min", "max"),
                   help="minimise or maximise --metric (default: the better direction of the metric)")
    p.add_argument("--samples", type=int, default=8, metavar="N", help="trials, each a draw of the --param values (default 8)")
    p.add_argument("--scheduler", default="asha", choices=SCHEDULERS,
                   help="asha (default): stop poor trials early; pbt: replace poor trials by perturbed copies "
                        "of good ones (settings that change live only); fifo: every trial to the end")
    p.add_argument("--seeds", default="1",
                   help="the seeds each trial trains on: a count N (seeds 0..N-1, default 1), a range (0-2) "
                        "or a list (0,3,7)")
    p.add_argument("--steps", type=int, default=2000, metavar="N", help="G steps per trial (default 2000)")
    p.add_argument("--out", required=True, help="a new or empty folder for the table and the best run folders")
    p.add_argument("--keep", type=int, default=1, metavar="K",
                   help="copy the run folders of the K best trials (default 1)")
    p.add_argument("--address", metavar="ADDR",
                   help="a running Ray cluster (HOST:6379, or auto); default: start Ray on this machine")
    p.add_argument("--storage", metavar="DIR|URI",
                   help="where Tune keeps results and checkpoints (default: OUT/tune); a cluster of several "
                        "machines needs one they all reach (a shared folder, s3://...)")
    p.add_argument("--gpus-per-run", type=float, metavar="F",
                   help="train each trial on a GPU, reserving the fraction F of one (0.25: four share a GPU)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="torch CPU threads per trial, and the CPUs it reserves (default 1)")
    p.add_argument("--sample-seed", type=int, default=0, metavar="S",
                   help="seed of the draws of settings: the same S draws the same trials (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def run(args) -> int:
    from gan_studio.core import bench, cluster
    from gan_studio.core.sweep import make_plan

    cluster.import_ray("gan-studio sweep")   # not installed: one line saying how, before anything else
    if args.samples < 1:
        raise ConfigError(f"--samples = {args.samples}: must be >= 1")
    if args.keep < 0:
        raise ConfigError(f"--keep = {args.keep}: must be >= 0")
    if not 0 <= args.sample_seed <= 2 ** 63 - 1:   # Ray's generator refuses -1 with a traceback, after Ray started
        raise ConfigError(f"--sample-seed = {args.sample_seed}: must be between 0 and {2 ** 63 - 1}")
    from gan_studio.cli.train import check_threads
    check_threads(args.threads)
    cluster.check_gpus(args.gpus_per_run)
    seeds = bench.parse_seeds(args.seeds)
    plan = make_plan(args.preset, args.overrides, args.params, seeds, args.steps, args.metric, args.mode,
                     args.scheduler, threads=args.threads, device="cuda" if args.gpus_per_run else "cpu")
    out = Path(args.out)
    _check_out(out)
    with cluster.RayCluster(args.address, what="gan-studio sweep") as ray_cluster, _claim_out(out), \
            _sigterm_as_ctrl_c() as terminated:
        print(f"sweep {args.preset}: {args.samples} trials ({args.scheduler}) x {bench.describe_seeds(seeds)}, "
              f"{args.steps} steps, {plan.metric} ({plan.mode}), on {ray_cluster.describe()}",
              file=sys.stderr, flush=True)
        rows = _sweep(args, plan, out)
    from gan_studio.core import sweep
    from gan_studio.core.io import atomic_write_text
    command = "gan-studio sweep " + " ".join(shlex.quote(a) for a in _argv_of(args))
    print(sweep.format_text(rows, plan))
    atomic_write_text(out / "sweep.csv", sweep.format_csv(rows, plan))
    atomic_write_text(out / "sweep.md", sweep.format_markdown(rows, plan, args.preset, args.scheduler, command))
    kept = [name for r in rows for name in r.runs]
    print(f"wrote {out / 'sweep.csv'} and {out / 'sweep.md'}"
          + (f"; best run folders: {', '.join(str(out / k) for k in kept)}" if kept else ""), file=sys.stderr)
    lost = next((r.keep_error for r in rows if r.keep_error), None)
    if lost:   # the table is written; what was not kept, and where Tune still has it
        print(f"gan-studio sweep: error: {lost}", file=sys.stderr)
        return 1
    cut = sum(r.status == sweep.INTERRUPTED for r in rows)
    if cut:   # Ctrl-C or SIGTERM: Tune stopped the trials; the table holds each one's last report
        print(f"gan-studio sweep: {'terminated (SIGTERM)' if terminated else 'interrupted'}; {cut} of {len(rows)} "
              f"trials had not finished (status {sweep.INTERRUPTED} in the table, their last report; they keep "
              "no run folders)", file=sys.stderr)
        return 143 if terminated else 130
    return 0


@contextmanager
def _sigterm_as_ctrl_c():
    """SIGTERM (`kill`, a batch scheduler ending the job) ends the sweep as Ctrl-C does, and Tune
    stops the trials, so the table of their last reports is written; Ray's own handler printed a C++
    stack and exited 1 with no table. Yields a list that holds the signal once one came."""
    import os
    import signal
    came: list[int] = []

    def on_term(signum, frame):
        came.append(signum)
        os.kill(os.getpid(), signal.SIGINT)   # Tune's handler during the sweep; KeyboardInterrupt after it
    try:
        before = signal.signal(signal.SIGTERM, on_term)
    except ValueError:   # not the main thread: signals are not ours to take
        yield came
        return
    try:
        yield came
    finally:
        signal.signal(signal.SIGTERM, before)


def _check_out(out: Path) -> None:
    """The sweep's folder is new or empty: a table and run folders never overwrite another sweep's."""
    from gan_studio.core.io import LOCK_NAME
    if out.exists() and (not out.is_dir() or any(p.name != LOCK_NAME for p in out.iterdir())):
        raise RunError(f"--out {out} is not a new or empty folder; choose another")


def _claim_out(out: Path):
    """The sweep's lock on --out for its length (core.io.RunLock, as a run folder has): a second sweep
    given the same folder at the same time is refused in one line, instead of both writing tune/sweep
    and the last to finish replacing the other's table."""
    from gan_studio.core.io import RunLock, RunLockedError, read_holder
    out.mkdir(parents=True, exist_ok=True)
    lock = RunLock(out, "gan-studio sweep")
    try:
        lock.acquire()
    except RunLockedError:
        holder = read_holder(out) or {}
        raise RunError(f"--out {out} is being written by another sweep (pid {holder.get('pid', '?')} on host "
                       f"{holder.get('host') or '?'}); choose another folder") from None
    try:
        _check_out(out)   # another sweep came and went while this one started Ray
    except RunError:
        lock.release()
        raise
    return lock


def _sweep(args, plan, out: Path):
    from gan_studio.core.sweep import run_sweep
    bar = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(total=args.samples, unit="trial", file=sys.stderr, dynamic_ncols=True)
    best: list = []

    def done(row, ended):
        value = row.metrics.get(plan.metric)
        what = (f"trial {row.trial} (" + ", ".join(f"{k}={_short(v)}" for k, v in row.settings.items())
                + f"): {plan.metric} {_short(value)} at step {row.steps}, {row.status}")
        if value is not None and row.status == "done" and (not best or _better(value, best[0], plan.mode)):
            best[:] = [value]
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"best {plan.metric} {_short(best[0])}" if best else "")
        elif not args.quiet:
            print(f"[{ended}/{args.samples}] {what}", file=sys.stderr, flush=True)

    try:
        return run_sweep(plan, args.samples, args.scheduler, out, storage=args.storage,
                         gpus_per_run=args.gpus_per_run, sample_seed=args.sample_seed, keep=args.keep,
                         on_trial_done=done)
    finally:
        if bar is not None:
            bar.close()


def _better(a, b, mode) -> bool:
    return a < b if mode == "min" else a > b


def _short(v) -> str:
    from gan_studio.core.sweep import show_value
    return show_value(v) or "n/a"


def _argv_of(args) -> list[str]:
    """The options that define the sweep (for the Markdown file's caption)."""
    argv = [args.preset]
    for p in args.params:
        argv += ["--param", p]
    for o in args.overrides:
        argv += ["--set", o]
    argv += ["--metric", args.metric, "--samples", str(args.samples), "--scheduler", args.scheduler,
             "--seeds", str(args.seeds), "--steps", str(args.steps)]
    if args.mode:
        argv += ["--mode", args.mode]
    return argv
