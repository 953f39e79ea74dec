"""gan-studio train PRESET --steps N ...  |  gan-studio train --resume DIR --steps N"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gan_studio.core.config import parse_override
from gan_studio.core.errors import ConfigError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train a preset (or resume a run) without the window",
                       description="Train a GAN from a preset, or continue a run folder with --resume. "
                                   "Metrics go to DIR/metrics.jsonl, checkpoints to DIR/checkpoint.pt.")
    p.add_argument("preset", nargs="?", help="preset name (see `gan-studio presets`) or a .toml/.json config")
    p.add_argument("--steps", type=int, required=True, help="G steps to train (each with its D steps)")
    p.add_argument("--seed", type=int, help="random seed (default: the preset's, 0)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.add_argument("--out", help="run folder (default: runs/PRESET-YYYYmmdd-HHMMSS)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value with a dotted key, e.g. --set loss=wgan-gp "
                        "--set train.lr_d=1e-4 (repeatable; with --resume, applied as live changes)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="torch CPU threads (default: OMP_NUM_THREADS if set, else the faster of 1 and "
                        "cores - 1 for the run's size, as the window picks: 1 for the 2-D MLPs, cores - 1 "
                        "for image nets)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--trust-code", action="store_true",
                   help="run the run's TorchScript generator (model.arch = torchscript): it is a program, so it runs "
                        "only if you trust it; trust is remembered for the file's sha256")
    return p


def build_config(args):
    from gan_studio.core.presets import load_preset
    cfg = load_preset(args.preset)
    for text in args.overrides:
        key, value = parse_override(text)
        cfg.set(key, value)
    if args.seed is not None:
        cfg.set("train.seed", args.seed)
    if args.device is not None:
        cfg.set("train.device", args.device)
    cfg.validate()
    return cfg


def check_threads(threads: int | None) -> None:
    if threads is not None and not 1 <= threads <= 1024:
        raise ConfigError(f"--threads = {threads}: must be between 1 and 1024")


def set_threads(threads: int | None, tr) -> int:
    """torch's CPU thread count for this run: --threads, else OMP_NUM_THREADS when set, else the
    faster of 1 and cores - 1 for the run's size (core/device.py, the window's rule)."""
    import torch
    from gan_studio.core.device import run_threads
    n = run_threads(tr, threads)
    torch.set_num_threads(n)
    return n


def run(args) -> int:
    from gan_studio.core.families.registry import make_trainer
    from gan_studio.core.runs import RunFolder, check_step_count, trainer_from_run
    from gan_studio.core.training.run_loop import RunLoop

    if args.steps < 0:
        raise ConfigError(f"--steps = {args.steps}: must be >= 0")
    check_step_count(args.steps, "--steps")
    check_threads(args.threads)
    if args.seed is not None and not 0 <= args.seed <= 2 ** 63 - 1:   # train.seed's range, said of --seed
        raise ConfigError(f"--seed = {args.seed}: must be between 0 and {2 ** 63 - 1}")
    if args.resume:
        if args.preset or args.seed is not None:
            raise ConfigError("--resume continues a run with its own preset and seed; drop PRESET/--seed")
        if args.out and Path(args.out).resolve() != Path(args.resume).resolve():   # it was ignored: DIR trained on
            raise ConfigError(f"--resume {args.resume} trains on in that folder, not in --out {args.out}; drop "
                              f"--out, or copy the run into a new folder first: gan-studio fork {args.resume} "
                              f"--out {args.out}")
        tr, run = trainer_from_run(args.resume, device=args.device, trust_code=args.trust_code,
                                   writable=True, command="gan-studio train --resume")  # the one writer
        check_step_count(args.steps, "--steps", tr.step_count)   # before anything is written
        loop = RunLoop(tr, run)
        for text in args.overrides:
            tr.apply_setting(*parse_override(text))
        set_threads(args.threads, tr)
        print(f"resuming {run.path} at step {tr.step_count} on {tr.device_name}", file=sys.stderr)
        if run.restored_config:
            print(f"gan-studio train: note: {run.path / 'config.json'} could not be read; it was written "
                  "again from the checkpoint's config", file=sys.stderr)
    else:
        if not args.preset:
            raise ConfigError("name a PRESET (see `gan-studio presets`) or give --resume DIR")
        cfg = build_config(args)
        out = Path(args.out or f"runs/{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        tr = make_trainer(cfg)
        run = RunFolder.create(out, cfg, lock=True, command="gan-studio train")  # the one writer
        loop = RunLoop(tr, run)
        set_threads(args.threads, tr)
        print(f"training {cfg.name} into {run.path} on {tr.device_name}", file=sys.stderr)

    target = tr.step_count + args.steps
    bar = None
    if not args.quiet:
        from tqdm import tqdm
        bar = tqdm(total=args.steps, unit="step", file=sys.stderr, dynamic_ncols=True)
    try:
        with StopSignals() as stop:
            return _train(args, tr, run, loop, target, bar, stop)
    finally:
        run.unlock()


def _train(args, tr, run, loop, target, bar, stop) -> int:
    from gan_studio.core.training.trainer import OutputFailedError, RolledBack
    first, t0 = tr.step_count, time.perf_counter()
    try:
        while tr.step_count < target and stop.signum is None:
            row = loop.advance()
            if bar is not None:
                bar.update(1)
                if row is not None:
                    bar.set_postfix(_progress_fields(row))
        if bar is not None:
            bar.close()
        trained, seconds = tr.step_count - first, time.perf_counter() - t0
        loop.finish()   # NaN/inf in the weights: DivergedError, after the last good state was saved
    except RolledBack as e:   # NaN/inf, or a step that raised (out of memory on the GPU): undone, saved
        if bar is not None:
            bar.close()
        try:
            if not isinstance(e, OutputFailedError):   # that step is saved, and its snapshot would fail again
                loop.finish()
        except Exception as again:  # noqa: BLE001 - e.g. the snapshot runs out of memory too; the checkpoint is written
            print(f"gan-studio train: note: the final snapshot was not written: {type(again).__name__}: {again}",
                  file=sys.stderr)
        print(f"gan-studio train: paused: {e} Saved to {run.path}; continue with "
              f"`gan-studio train --resume {run.path} --steps N --set KEY=VALUE`.", file=sys.stderr)
        return 3
    except KeyboardInterrupt:   # a second SIGINT/SIGTERM: the user will not wait for the save
        if bar is not None:
            bar.close()
        print(f"\ngan-studio train: stopped at once at step {tr.step_count}, not saved; the last checkpoint "
              f"is in {run.path}", file=sys.stderr)
        return 130
    if stop.signum is not None:   # SIGINT/SIGTERM: saved at the current step above, exit 128 + signal
        print(f"gan-studio train: stopped by {stop.name} at step {tr.step_count}; the run is saved in "
              f"{run.path} (continue with `gan-studio train --resume {run.path} --steps N`)", file=sys.stderr)
        return 128 + stop.signum
    from gan_studio.cli.metrics_cmd import print_table
    print_table(loop.last_row or {"step": tr.step_count})
    rate = f", {trained / seconds:.1f} steps/s" if trained and seconds > 0 else ""
    g = getattr(tr, "graphs", None)   # train.cuda_graphs: say whether the steps were replayed
    graphs = ("" if g is None or not (g.replays or g.failed) else
              f"; CUDA graph capture failed, eager steps: {g.failed}" if g.failed else
              f"; {g.replays} steps replayed from a CUDA graph")
    print(f"run saved in {run.path} ({trained} steps in {seconds:.1f} s{rate} on {tr.device_name}{graphs})",
          file=sys.stderr)
    return 0


class StopSignals:
    """SIGINT (Ctrl+C) and SIGTERM while training: the current step finishes, the run is saved at
    it, and ``gan-studio train`` exits 130 (SIGINT) or 143 (SIGTERM). A second signal while saving
    stops at once (KeyboardInterrupt). Handlers are only installed from the main thread."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    @property
    def name(self) -> str:
        import signal
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> "StopSignals":
        import signal
        import threading
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    self._previous[sig] = signal.signal(sig, self._handle)
                except (ValueError, OSError):
                    pass
        return self

    def __exit__(self, *exc) -> None:
        import signal
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}


def _progress_fields(row: dict) -> dict:
    """The few numbers worth watching on the progress bar: mode coverage or image-class coverage."""
    out = {"loss_d": f"{row['loss_d']:.3f}"}
    if "modes" in row:
        out.update(modes=row["modes"], hq=f"{row['hq']:.0f}%")
    if "classes_covered" in row:
        out["classes"] = row["classes_covered"]
    if "fd_classifier" in row and row["fd_classifier"] is not None:
        out["fd"] = f"{row['fd_classifier']:.1f}"
    return out
