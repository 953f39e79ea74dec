"""Sweeps of a preset's settings on Ray Tune: which learning rates, tricks and sizes work, on several
seeds, with poor settings stopped early (ASHA) or replaced by copies of good ones (PBT).

A trial trains the preset with one choice of settings on each of ``seeds`` (one run folder per seed,
kept by the studio's own RunLoop) and, at every evaluation step of the run (``train.eval_every``),
reports the mean over seeds of the metrics the run logs, with a Tune checkpoint that wraps the run
folders (their ``checkpoint.pt`` continues a run exactly). ASHA compares trials at those steps; PBT
copies a good trial's folders into a poor one and changes its settings live, as the window does (the
change is an event in the run's log). The best trials' folders are copied out as normal run folders.

Ray is imported only inside functions (core/cluster.py says why).
"""
from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from gan_studio.core.errors import ConfigError, RunError

#: --metric -> (the name the run logs in metrics.jsonl, the better direction)
METRICS = {
    "rkl": ("rkl", "min"),                  # reverse KL of the mode histogram (2-D mixtures)
    "hq": ("hq", "max"),                    # % of samples within 3 sigma of a mode
    "modes": ("modes", "max"),              # modes holding at least one HQ sample... (core/metrics/modes.py)
    "strict-modes": ("modes_strict", "max"),
    "fd": ("fd_classifier", "min"),         # image runs: Frechet distance in the classifier's features
    "classes": ("classes_covered", "max"),  # image runs: classes the classifier finds among the samples
}
SCHEDULERS = ("asha", "pbt", "fifo")
#: the status of a trial that was still training (or waiting) when the sweep was interrupted
INTERRUPTED = "interrupted"
#: what a failed setting reports (no HQ sample for reverse KL, a diverged run), with the sign of the
#: worse direction: finite, so that ASHA's and PBT's quantiles stay numbers (inf - inf is NaN, and a
#: NaN cut-off stops nothing), and worse than any real value; the table shows it as n/a
FAILED = 1e30
#: the spec syntax, for --help and for the error messages
SPEC_HELP = ("a list 1,2,4 (or true,false, or names); a range LO..HI, uniform (whole numbers for an integer "
             "key); log:LO..HI, log-uniform (learning rates: log:1e-4..1e-2)")


@dataclass(frozen=True)
class ParamSpec:
    """One ``--param KEY=SPEC``: the values a trial may take for ``key``."""
    key: str
    kind: str                     # "choice", "uniform" or "log"
    values: tuple = ()            # choice: the typed values
    lo: float = 0.0               # uniform, log: the interval
    hi: float = 0.0
    integer: bool = False

    def describe(self) -> str:
        if self.kind == "choice":
            return ", ".join(show_value(v) for v in self.values)
        return f"{'log-uniform' if self.kind == 'log' else 'uniform'} {show_value(self.lo)}..{show_value(self.hi)}"

    def clip(self, value):
        """A value PBT perturbed (x 0.8 or x 1.2), brought back inside the interval."""
        if self.kind == "choice":
            return value
        value = min(max(value, self.lo), self.hi)
        return int(round(value)) if self.integer else float(value)


def parse_param(text: str, cfg) -> ParamSpec:
    """``KEY=SPEC`` against the base config ``cfg``: the key must exist and every value (each item of a
    list, both ends of an interval) must be one the key takes; ConfigError in one line otherwise."""
    key, eq, spec = text.partition("=")
    key, spec = key.strip(), spec.strip()
    where = f"--param {text}"
    if not eq or not key or not spec:
        raise ConfigError(f"{where}: expected KEY=SPEC, where SPEC is {SPEC_HELP}")
    if key == "train.seed":
        raise ConfigError(f"{where}: the seeds are not a setting to tune; give them with --seeds")
    try:
        current = cfg.get(key)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    if isinstance(current, (list, dict)) or current is None:
        raise ConfigError(f"{where}: {key} is not a single value that a sweep can vary")

    def typed(value) -> Any:   # the value as the key takes it, checked as --set checks it
        c = copy.deepcopy(cfg)
        try:
            c.set(key, value)
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
        return c.get(key)

    log = spec.startswith("log:")
    body = spec[4:] if log else spec
    if ".." not in body:
        if log:
            raise ConfigError(f"{where}: log: takes an interval LO..HI, e.g. log:1e-4..1e-2")
        items = [v.strip() for v in body.split(",")]
        if any(not v for v in items):
            raise ConfigError(f"{where}: an empty item in the list; SPEC is {SPEC_HELP}")
        values = tuple(dict.fromkeys(typed(v) for v in items))
        return ParamSpec(key, "choice", values=values)
    if isinstance(current, bool) or not isinstance(current, (int, float)):
        raise ConfigError(f"{where}: {key} is not a number, so it takes a list (a,b,c), not an interval")
    lo_text, _, hi_text = body.partition("..")
    try:
        lo, hi = float(lo_text), float(hi_text)
    except ValueError:
        raise ConfigError(f"{where}: an interval is two numbers, LO..HI (got {body!r})") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
        raise ConfigError(f"{where}: the interval must run from a lower to a higher finite number")
    if log and lo <= 0:
        raise ConfigError(f"{where}: a log-uniform interval needs LO > 0")
    integer = isinstance(current, int)
    if integer and not (lo.is_integer() and hi.is_integer()):
        raise ConfigError(f"{where}: {key} is a whole number; give whole ends, e.g. 1..5")
    lo, hi = typed(int(lo) if integer else lo), typed(int(hi) if integer else hi)
    return ParamSpec(key, "log" if log else "uniform", lo=lo, hi=hi, integer=integer)


@dataclass(frozen=True)
class SweepPlan:
    """What every trial needs, sent to the workers (the config travels whole: a preset file on this
    machine need not exist on the others)."""
    config_json: str              # the preset with the --set overrides
    params: tuple[ParamSpec, ...]
    seeds: tuple[int, ...]
    steps: int
    metric: str                   # a key of METRICS
    mode: str                     # "min" or "max"
    threads: int = 1
    device: str = "cpu"
    #: steps between Tune checkpoints: PBT's interval (it copies checkpoints); else only the last step
    checkpoint_every: int = 0

    def base_config(self):
        import gan_studio.core.data  # noqa: F401  (the names data.name may take)
        import gan_studio.core.families  # noqa: F401  (and model.family)
        from gan_studio.core.config import Config
        return Config.from_dict(json.loads(self.config_json))


def make_plan(preset: str, overrides: list[str], params: list[str], seeds: list[int], steps: int, metric: str,
              mode: str | None, scheduler: str, threads: int = 1, device: str = "cpu") -> SweepPlan:
    """Check everything a user typed and build the plan; one-line ConfigError on the first mistake."""
    from gan_studio.core.config import parse_override
    from gan_studio.core.family_spec import needs_reset
    from gan_studio.core.presets import load_preset
    if metric not in METRICS:
        raise ConfigError(f"--metric {metric!r}: use one of {', '.join(METRICS)}")
    if mode is not None and mode not in ("min", "max"):
        raise ConfigError(f"--mode {mode!r}: use min or max")
    if scheduler not in SCHEDULERS:
        raise ConfigError(f"--scheduler {scheduler!r}: use one of {', '.join(SCHEDULERS)}")
    if steps < 1:
        raise ConfigError(f"--steps = {steps}: must be >= 1")
    from gan_studio.core.runs import check_step_count
    check_step_count(steps, "--steps")
    if not params:
        raise ConfigError(f"name at least one --param KEY=SPEC to sweep; SPEC is {SPEC_HELP}")
    cfg = load_preset(preset)
    fixed = set()
    for text in overrides:
        key, value = parse_override(text)
        cfg.set(key, value)
        fixed.add(key)
    cfg.set("train.device", device)
    cfg.validate()
    specs: list[ParamSpec] = []
    for text in params:
        spec = parse_param(text, cfg)
        if spec.key in fixed:
            raise ConfigError(f"--param {text}: {spec.key} is also fixed with --set; keep one")
        if spec.key in {s.key for s in specs}:
            raise ConfigError(f"--param {text}: {spec.key} is swept twice")
        if scheduler == "pbt" and needs_reset(spec.key, cfg.model.family):
            raise ConfigError(f"--param {text}: PBT changes settings during a run, and {spec.key} needs a new "
                              "run; sweep it with --scheduler asha or fifo")
        specs.append(spec)
    logged, better = METRICS[metric]
    have = _logged_metrics(cfg)
    if logged not in have:
        fits = [m for m, (name, _) in METRICS.items() if name in have]
        raise ConfigError(f"--metric {metric}: runs of {preset} on {cfg.data.name} do not log it; "
                          f"use {', '.join(fits) if fits else 'a preset on a Gaussian mixture or a labelled image set'}")
    every = cfg.train.eval_every
    checkpoint_every = max(every, round(steps / 4 / every) * every) if scheduler == "pbt" else steps
    return SweepPlan(cfg.dumps("json"), tuple(specs), tuple(seeds), steps, metric, mode or better, threads, device,
                     checkpoint_every)


def _logged_metrics(cfg) -> tuple[str, ...]:
    """The quality metrics a run of ``cfg`` logs at its evaluations (core/metrics)."""
    from gan_studio.core.data.registry import build_dataset, dataset_kind
    if dataset_kind(cfg.data.name) == "2d":
        return ("modes", "modes_strict", "hq", "rkl") if build_dataset(cfg.data).modes is not None else ()
    return ("fd_classifier", "classes_covered")


# -- one trial, in a Ray worker ---------------------------------------------------------------------
class _SeedRun:
    """One seed of a trial: its Trainer, RunLoop and folder, and torch's global RNG state, which
    each run keeps apart (the runs of a trial take turns in one process; a run's checkpoint holds
    its own global RNG state, so it continues exactly)."""

    def __init__(self, trainer, run, loop):
        import torch
        self.trainer, self.run, self.loop = trainer, run, loop
        self.torch_rng = torch.get_rng_state()

    @classmethod
    def start(cls, folder: Path, plan: SweepPlan, seed: int, settings: dict) -> "_SeedRun":
        from gan_studio.core.families.registry import make_trainer
        from gan_studio.core.runs import RunFolder
        from gan_studio.core.training.run_loop import RunLoop
        cfg = plan.base_config()
        for key, value in settings.items():
            cfg.set(key, value)
        cfg.set("train.seed", seed)
        cfg.validate()
        tr = make_trainer(cfg, device=plan.device)
        run = RunFolder.create(folder, cfg)
        return cls(tr, run, RunLoop(tr, run))

    @classmethod
    def resume(cls, folder: Path, plan: SweepPlan, settings: dict) -> "_SeedRun":
        """Continue the run in ``folder`` (a copy of a checkpoint: this trial's, or a better trial's
        that PBT copied here) with ``settings`` applied as live changes."""
        from gan_studio.core.runs import trainer_from_run
        from gan_studio.core.training.run_loop import RunLoop
        tr, run = trainer_from_run(folder, device=plan.device, writable=True, command="gan-studio sweep")
        loop = RunLoop(tr, run)   # first: the changes below go into the run's events
        for key, value in settings.items():
            if tr.cfg.get(key) != value:
                tr.apply_setting(key, value)
        return cls(tr, run, loop)

    @contextmanager
    def turn(self):
        """This run's turn in the process: its global RNG state in, and back out after."""
        import torch
        torch.set_rng_state(self.torch_rng)
        try:
            yield self
        finally:
            self.torch_rng = torch.get_rng_state()

    def train_to(self, step: int, save: bool) -> dict:
        """Train to ``step`` and return the evaluation there; ``save``: write the folder's checkpoint
        and snapshot too (for a Tune checkpoint), as at the end of a run."""
        while self.trainer.step_count < step:
            self.loop.advance()
        every = self.trainer.cfg.train.eval_every
        ev = self.loop.last_eval if step % every == 0 and self.loop.last_eval is not None else \
            self.trainer.evaluate()
        if save:
            self.loop.finish()
        return ev


def _seed_folder(seed: int) -> str:
    return f"seed{seed}"


def _mean(values: list, better: str) -> float:
    """The mean over seeds; a seed without the value (reverse KL with no HQ sample) counts as the
    worst value, so a setting is never ranked on its lucky seeds only."""
    if any(v is None or not math.isfinite(float(v)) for v in values):
        return _failed(better)
    return sum(float(v) for v in values) / len(values)


def _failed(better: str) -> float:
    return FAILED if better == "min" else -FAILED


def train_trial(config: dict, plan: SweepPlan) -> None:
    """The Tune trainable: trains ``plan.seeds`` runs with the trial's settings, reporting at every
    evaluation step (and the last step) the mean metrics and a checkpoint of the run folders."""
    import torch
    from ray import tune

    from gan_studio.core.training.trainer import DivergedError
    torch.set_num_threads(plan.threads)
    settings = {p.key: p.clip(config[p.key]) for p in plan.params}
    work = Path(tempfile.mkdtemp(prefix="gan-studio-trial-"))
    runs: list[_SeedRun] = []
    try:
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:   # a restart, or PBT's copy of a better trial
            checkpoint.to_directory(str(work))
            for s in plan.seeds:
                runs.append(_SeedRun.resume(work / _seed_folder(s), plan, settings))
        else:
            for s in plan.seeds:
                runs.append(_SeedRun.start(work / _seed_folder(s), plan, s, settings))
        step = runs[0].trainer.step_count
        while step < plan.steps:
            every = runs[0].trainer.cfg.train.eval_every
            step = min(plan.steps, (step // every + 1) * every)
            save = step >= plan.steps or step % plan.checkpoint_every == 0
            evals, diverged = [], False
            for r in runs:
                with r.turn():
                    try:
                        evals.append(r.train_to(step, save))
                    except DivergedError:   # rolled back and saved by its RunLoop: the setting failed
                        diverged = save = True
                        break
            metrics: dict[str, Any] = {"step": step, "diverged": diverged}
            for name, (logged, better) in METRICS.items():
                if all(logged in ev for ev in evals) and evals:
                    metrics[name] = _mean([ev[logged] for ev in evals], better) if not diverged else \
                        _failed(better)
            if diverged or plan.metric not in metrics:   # a failed setting ranks last
                metrics[plan.metric] = _failed(plan.mode)
            if save:   # after a divergence: the folders as they stand (the diverged run rolled back)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(work)))
            else:
                tune.report(metrics)
            if diverged:
                return
    finally:
        for r in runs:
            r.run.unlock()
        shutil.rmtree(work, ignore_errors=True)


# -- the sweep, on the driver --------------------------------------------------------------------------
def search_space(plan: SweepPlan) -> dict:
    from ray import tune
    space = {}
    for p in plan.params:
        if p.kind == "choice":
            space[p.key] = tune.choice(list(p.values))
        elif p.kind == "log":
            space[p.key] = tune.lograndint(p.lo, p.hi + 1) if p.integer else tune.loguniform(p.lo, p.hi)
        else:
            space[p.key] = tune.randint(p.lo, p.hi + 1) if p.integer else tune.uniform(p.lo, p.hi)
    return space


def make_scheduler(plan: SweepPlan, kind: str, every: int):
    """ASHA: a trial is compared with the others at eval steps every, 3 x every, 9 x every, ... and
    stopped unless it is in the best third there. PBT: every plan.checkpoint_every steps (~steps/4, a
    multiple of every), a trial in the worst quarter takes a copy of one in the best quarter and
    perturbs its settings (a list: the next value, an interval: x 0.8 or x 1.2, kept inside the
    interval; or a fresh draw)."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining
    if kind == "fifo":
        return FIFOScheduler()
    if kind == "asha":
        return ASHAScheduler(time_attr="step", max_t=plan.steps, grace_period=min(every, plan.steps),
                             reduction_factor=3)
    space = search_space(plan)
    mutations = {p.key: list(p.values) if p.kind == "choice" else space[p.key] for p in plan.params}
    return PopulationBasedTraining(time_attr="step", perturbation_interval=plan.checkpoint_every,
                                   hyperparam_mutations=mutations, custom_explore_fn=_Clip(plan.params))


class _Clip:
    """PBT's explore step, then each setting back inside its interval (a picklable callable)."""

    def __init__(self, params: tuple[ParamSpec, ...]):
        self.params = params

    def __call__(self, config: dict) -> dict:
        for p in self.params:
            config[p.key] = p.clip(config[p.key])
        return config


@dataclass
class TrialRow:
    """One line of the sweep's table."""
    trial: str
    settings: dict
    metrics: dict                 # the last report: METRICS names -> mean over seeds
    steps: int
    status: str                   # done, stopped early, diverged, interrupted, error: ...
    seconds: float = 0.0
    runs: list[str] = field(default_factory=list)   # the folders copied out (the best trials)
    checkpoint: Any = field(default=None, repr=False)
    keep_error: str | None = None  # why its run folders could not be copied out (a full disk)


def run_sweep(plan: SweepPlan, samples: int, scheduler: str, out: Path, storage: str | None = None,
              gpus_per_run: float | None = None, sample_seed: int = 0, keep: int = 1,
              on_trial_done: Callable[[TrialRow, int], None] | None = None) -> list[TrialRow]:
    """Run the sweep on the Ray this process is connected to (core/cluster.RayCluster) and copy the
    ``keep`` best trials' run folders to ``out/best1-seed0`` ...; the rows come back ranked, best first."""
    from ray import tune
    from ray.tune.search import BasicVariantGenerator
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
    every = plan.base_config().train.eval_every
    trainable = tune.with_resources(tune.with_parameters(train_trial, plan=plan),
                                    {"cpu": plan.threads, "gpu": gpus_per_run or 0})
    # Tune's CSV and JSON logs, not its TensorBoard one: a failed setting's FAILED would flatten its
    # plots (`gan-studio export tensorboard` draws the run folders themselves)
    progress = _progress_class()(plan, samples, on_trial_done)   # also tells which trials ended
    callbacks = [CSVLoggerCallback(), JsonLoggerCallback(), progress]
    tuner = tune.Tuner(
        trainable, param_space=search_space(plan),
        tune_config=tune.TuneConfig(
            metric=plan.metric, mode=plan.mode, num_samples=samples,
            scheduler=make_scheduler(plan, scheduler, every),
            # the same --sample-seed draws the same settings
            search_alg=BasicVariantGenerator(random_state=sample_seed),
            reuse_actors=True,   # a trial's worker keeps torch imported for the next one
            trial_dirname_creator=lambda trial: trial.trial_id),
        run_config=tune.RunConfig(
            name="sweep", storage_path=storage_path(storage, out), verbose=0,
            # a trial at its last step ends there: PBT never exploits it (a copy would train no more)
            stop={"step": plan.steps}, callbacks=callbacks))
    with _quiet_tune():
        grid = tuner.fit()
    rows = [_row(plan, r) for r in grid]
    for row in rows:   # Ctrl-C (or SIGUSR1): Tune ends the sweep early, and fit() returns as if it were done
        if row.trial not in progress.ended_ids and not row.status.startswith("error"):
            row.status = INTERRUPTED
    rows = rank(rows, plan)
    if not any(r.checkpoint is not None or r.status == INTERRUPTED for r in rows):
        first = next((r.status for r in rows if r.status.startswith("error")), "no trial reported")
        raise RunError(f"every trial failed; the first: {first}")
    keep_best(rows, out, keep, plan.seeds)
    return rows


def keep_best(rows: list[TrialRow], out: Path, keep: int, seeds: tuple[int, ...]) -> None:
    """Copy the ``keep`` best trials' run folders out of their Tune checkpoints (``out/best1-seed0``
    ...). A copy that fails (a full disk) is said in the row's ``keep_error`` and ends the copying;
    the table is still written, and the folders kept so far are whole."""
    from gan_studio.core.errors import describe_os_error
    for rank_no, row in enumerate((r for r in rows if r.checkpoint is not None), start=1):
        if rank_no > keep:
            break
        try:
            copy_runs(row.checkpoint, out, f"best{rank_no}", seeds, row.runs)
        except OSError as e:
            where = getattr(row.checkpoint, "path", None)
            row.keep_error = (f"the run folders of best{rank_no} (trial {row.trial}) were not kept: "
                              f"{describe_os_error(e)}" + (f"; Tune's checkpoint of them is {where}" if where else ""))
            return


def storage_path(storage: str | None, out: Path) -> str:
    """Where Tune keeps the sweep: ``--storage`` (a URI such as ``s3://bucket/x`` as it is, a folder made
    absolute: Tune reads a bare ``results`` as a URI without a scheme and fails with pyarrow's
    traceback), by default OUT/tune."""
    if storage and "://" in storage:
        return storage
    return str(Path(storage).expanduser().resolve() if storage else (out / "tune").resolve())


@contextmanager
def _quiet_tune():
    """Tune's settings for the length of the sweep: the studio prints the progress and the table, so
    Tune's own console output (its legacy reporter at verbose 0 prints nothing) and its default
    loggers (added explicitly above) are off, as is the warning its loggers give when PBT restarts
    a trial whose log was not written yet, and what Tune says on Ctrl-C (advice to resume with
    Tuner.restore, which is not the studio's; the CLI says what was kept) and a failed trial's
    traceback (its row says the error in one line)."""
    import logging
    import os
    quiet = {"RAY_AIR_NEW_OUTPUT": "0", "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"}
    before = {k: os.environ.get(k) for k in quiet}
    os.environ.update(quiet)
    logs = {logging.getLogger("ray.tune.logger.logger"): logging.ERROR,
            logging.getLogger("ray.tune.tune"): logging.CRITICAL,
            # a trial that fails: its traceback on the terminal; the table says the error in one line
            logging.getLogger("ray.tune.execution.tune_controller"): logging.CRITICAL}
    levels = {log: log.level for log in logs}
    for log, level in logs.items():
        log.setLevel(level)
    try:
        yield
    finally:
        for log, level in levels.items():
            log.setLevel(level)
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _row(plan: SweepPlan, result) -> TrialRow:
    m = result.metrics or {}
    trial = str(m.get("trial_id") or Path(str(result.path)).name)
    settings = {p.key: (result.config or {}).get(p.key) for p in plan.params}
    step = int(m.get("step", 0))
    if result.error is not None:
        status = "error: " + _error_line(result.error)[:160]
    elif m.get("diverged"):
        status = "diverged"
    elif step < plan.steps:
        status = "stopped early"
    else:
        status = "done"
    return TrialRow(trial, settings, reported_metrics(m), step, status, float(m.get("time_total_s", 0.0)),
                    checkpoint=result.checkpoint)


def _error_line(error: BaseException) -> str:
    """A trial's error in one line: the user's mistake in its own words (a combination of settings
    the model refuses: 'model.arch = 'dcgan' needs an image data set, ...'), else the last line of
    what the worker raised (the whole traceback is in the trial's error.txt under tune/)."""
    from gan_studio.core.errors import user_errors
    cause = getattr(error, "cause", None)
    if isinstance(cause, user_errors()):
        error = cause
        lines = [ln for ln in str(cause).splitlines() if ln.strip()][:1]
    else:
        lines = [ln for ln in str(error).splitlines() if ln.strip()][-1:]
    return lines[0] if lines else type(error).__name__


def reported_metrics(result: dict) -> dict:
    """The METRICS of a Tune result; a failed value (FAILED) as None."""
    return {k: (None if abs(result[k]) >= FAILED else result[k]) for k in METRICS if k in result}


def rank(rows: list[TrialRow], plan: SweepPlan) -> list[TrialRow]:
    """Trials that reached the last step first, ordered by the metric; then the ones stopped early
    (their metric is from fewer steps), then those that failed."""
    sign = 1 if plan.mode == "min" else -1

    def key(r: TrialRow):
        value = r.metrics.get(plan.metric)
        return (r.status.startswith("error"), r.steps < plan.steps, value is None,
                sign * value if value is not None else 0.0, r.trial)
    return sorted(rows, key=key)


def copy_runs(checkpoint, out: Path, name: str, seeds: tuple[int, ...], names: list[str] | None = None) -> list[str]:
    """A trial's Tune checkpoint (its run folders) as ``out/NAME-seedS``, normal run folders, each
    copied beside it and renamed into place whole; ``names`` gets each folder's name once it is there."""
    names = [] if names is None else names
    with tempfile.TemporaryDirectory(prefix="gan-studio-sweep-") as tmp:
        checkpoint.to_directory(tmp)
        for s in seeds:
            dest = out / f"{name}-seed{s}"
            part = out / f".{dest.name}.partial"
            try:
                _copy_folder(Path(tmp) / _seed_folder(s), part)
                os.rename(part, dest)   # a run folder appears whole or not at all
            finally:
                shutil.rmtree(part, ignore_errors=True)
            names.append(dest.name)
    return names


def _copy_folder(src: Path, dest: Path) -> None:
    """``src`` as ``dest``, without its hidden files (the run's lock); the first error is raised as it
    is (shutil.copytree gathers them into one shutil.Error, no errno, its message a list of tuples)."""
    dest.mkdir()
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_dir():
            (dest / rel).mkdir()
        else:
            shutil.copy2(path, dest / rel)


def _progress_class():
    from ray import tune

    class Progress(tune.Callback):
        """Tells the caller each time a trial ends (done, stopped early, failed)."""

        def __init__(self, plan, samples, on_trial_done):
            self.plan, self.samples, self.on_trial_done = plan, samples, on_trial_done
            self.ended = 0
            self.ended_ids: set[str] = set()
            self.last: dict[str, dict] = {}

        def __getstate__(self):   # Tune saves its callbacks with the experiment; the caller's hook stays here
            return {**self.__dict__, "on_trial_done": None}

        def on_trial_result(self, iteration, trials, trial, result, **info):
            self.last[trial.trial_id] = result

        def _ended(self, trial, status):
            self.ended += 1
            self.ended_ids.add(trial.trial_id)
            m = self.last.get(trial.trial_id, {})
            step = int(m.get("step", 0))
            if status is None:
                status = "diverged" if m.get("diverged") else ("done" if step >= self.plan.steps else "stopped early")
            row = TrialRow(trial.trial_id, {p.key: trial.config.get(p.key) for p in self.plan.params},
                           reported_metrics(m), step, status)
            if self.on_trial_done is not None:
                self.on_trial_done(row, self.ended)

        def on_trial_complete(self, iteration, trials, trial, **info):
            self._ended(trial, None)

        def on_trial_error(self, iteration, trials, trial, **info):
            self._ended(trial, "error")

    return Progress


# -- the table ------------------------------------------------------------------------------------------
def show_value(v) -> str:
    """A setting or a metric in a table: 4 significant digits, n/a for a metric that failed."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.4g}"
    return "n/a" if v is None else str(v)


def _columns(rows: list[TrialRow], plan: SweepPlan) -> list[str]:
    """The metrics to show: the swept one first, then the others the runs logged."""
    seen = [plan.metric] + [m for m in METRICS if m != plan.metric and any(m in r.metrics for r in rows)]
    return seen


def table_rows(rows: list[TrialRow], plan: SweepPlan) -> list[dict]:
    out = []
    for i, r in enumerate(rows, start=1):
        row = {"rank": i, "trial": r.trial}
        row.update({p.key: r.settings.get(p.key) for p in plan.params})
        row.update({m: r.metrics.get(m) for m in _columns(rows, plan)})
        row.update(steps=r.steps, status=r.status, seconds=round(r.seconds, 1), runs=" ".join(r.runs))
        out.append(row)
    return out


def format_csv(rows: list[TrialRow], plan: SweepPlan) -> str:
    data = table_rows(rows, plan)
    buf = io.StringIO()
    cols = list(data[0]) if data else ["rank", "trial"]
    w = csv.DictWriter(buf, cols, lineterminator="\n")
    w.writeheader()
    for d in data:
        w.writerow({k: "" if v is None else v for k, v in d.items()})   # floats in full (repr)
    return buf.getvalue()


def format_markdown(rows: list[TrialRow], plan: SweepPlan, preset: str, scheduler: str, command: str = "") -> str:
    data = table_rows(rows, plan)
    buf = io.StringIO()
    if command:
        buf.write(f"`{command}`\n\n")
    cols = list(data[0]) if data else []
    buf.write("| " + " | ".join(cols) + " |\n")
    buf.write("|" + " --- |" * len(cols) + "\n")
    for d in data:
        buf.write("| " + " | ".join(show_value(v) for v in d.values()) + " |\n")
    seeds = ", ".join(str(s) for s in plan.seeds)
    buf.write(f"\n{preset}, {len(rows)} trials ({scheduler}), {plan.steps} G steps, seeds {seeds}; {plan.metric} "
              f"({plan.mode}) is the mean over the seeds at the trial's last evaluation; "
              + "; ".join(f"{p.key}: {p.describe()}" for p in plan.params) + ".\n")
    return buf.getvalue()


def format_text(rows: list[TrialRow], plan: SweepPlan) -> str:
    data = table_rows(rows, plan)
    if not data:
        return "(no trials)"
    cols = [c for c in data[0] if c not in ("seconds",)]
    cells = [[show_value(d[c]) for c in cols] for d in data]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)
