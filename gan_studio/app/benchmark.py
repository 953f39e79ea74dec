"""Does the window slow training down, and does training make the window sluggish?

    python benchmarks/bench_window.py [--preset ring8] [--steps 400] [--rounds 7]
    python benchmarks/bench_window.py --idle 10     (what an open window costs while nothing trains)
    (or python -m gan_studio.app.benchmark with the same options)

(a) throughput: steps/s of the worker with the window open and every panel redrawing, divided by
    steps/s of a headless RunLoop on the same config in the same process; rounds alternate headless
    and window, and the figure is the median of the per-round ratios, printed with their min and max
    (one round on a shared machine can be off by half: the spread says how far to trust the median);
(b) UI latency: every 10 ms an event is posted to the GUI thread while the worker trains; the time
    until it is handled is the event loop's latency (p50, p99).
Targets (issue 5): ratio >= 0.9, p99 < 50 ms.

With ``--branches 2`` (issue 15) the window forks its run after the warm-up and trains both branches,
each in its own training process: (a) is then the total steps/s of both branches against two headless
runs trained at the same time in two processes (what the two branches are without the window).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import threading
import time

from gan_studio.core.io import atomic_write_text

#: the latency probe posts an event this often (ms)
PROBE_MS = 10
WARMUP_STEPS = 20


def headless_rate(cfg, steps: int, in_thread: bool = True) -> float:
    """Steps/s of a bare RunLoop. In a thread by default, as the window's worker runs it: on a busy
    machine torch's CPU kernels ran 6x slower from the main thread than from another thread
    (measured), which would flatter the window."""
    from gan_studio.core.training.run_loop import RunLoop
    from gan_studio.core.training.trainer import Trainer
    result = []

    def run():
        loop = RunLoop(Trainer(cfg.copy()), None)
        for _ in range(WARMUP_STEPS):
            loop.advance()
        t0 = time.perf_counter()
        for _ in range(steps):
            loop.advance()
        result.append(steps / (time.perf_counter() - t0))
    if in_thread:
        t = threading.Thread(target=run, name="headless-benchmark")
        t.start()
        t.join()
    else:
        run()
    return result[0]


def _headless_in_process(cfg, steps: int, threads: int, start, out) -> None:
    import torch
    torch.set_num_threads(threads)
    from gan_studio.core.training.run_loop import RunLoop
    from gan_studio.core.training.trainer import Trainer
    loop = RunLoop(Trainer(cfg.copy()), None)
    for _ in range(WARMUP_STEPS):
        loop.advance()
    start.wait()
    for _ in range(steps):
        loop.advance()
    out.put(time.perf_counter())


def headless_pair_rate(cfg, steps: int, threads: int, n: int = 2) -> float:
    """Total steps/s of ``n`` headless runs trained at once, each in a process of its own (spawned,
    as the window's training processes are), from a common start to the last one's end."""
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(n + 1), ctx.Queue()
    procs = [ctx.Process(target=_headless_in_process, args=(cfg, steps, threads, start, out)) for _ in range(n)]
    for p in procs:
        p.start()
    start.wait()
    t0 = time.perf_counter()
    ends = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return n * steps / (max(ends) - t0)


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) a process has used so far; None where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def open_window(cfg, runs_dir: str, hidden: bool = False):
    """A window on ``cfg`` (shown unless ``hidden``), once its session has started; and an event loop."""
    from PySide6.QtCore import QEventLoop

    from gan_studio.app.main_window import MainWindow
    win = MainWindow(cfg.copy(), runs_dir=runs_dir, restore_settings=False)
    if not hidden:
        win.show()
    loop = QEventLoop()
    win.session_started.connect(lambda _s: loop.quit())
    loop.exec()
    return win, loop


def idle_cost(cfg, seconds: float, runs_dir: str) -> dict:
    """The CPU an open window takes while nothing trains (a run that is paused, the window shown):
    its own process's and its training process's, as shares of one core over ``seconds``."""
    from PySide6.QtCore import QTimer
    win, loop = open_window(cfg, runs_dir)
    QTimer.singleShot(2000, loop.quit)   # the first paints and the engine's first reports
    loop.exec()
    proc = win.worker.process
    child0 = process_cpu_s(proc.pid) if proc is not None else None
    t0, cpu0 = time.perf_counter(), time.process_time()
    QTimer.singleShot(int(1000 * seconds), loop.quit)
    loop.exec()
    elapsed = time.perf_counter() - t0
    out = {"idle_s": round(elapsed, 2), "window_cpu_share": round((time.process_time() - cpu0) / elapsed, 4)}
    child1 = process_cpu_s(proc.pid) if proc is not None else None
    if child0 is not None and child1 is not None:
        out["training_process_cpu_share"] = round((child1 - child0) / elapsed, 4)
    win.close()
    dispose(win)
    return out


def dispose(win) -> None:
    from PySide6.QtCore import QCoreApplication, QEvent
    win.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


def window_rate(cfg, steps: int, runs_dir: str, hidden: bool = False,
                branches: int = 1) -> tuple[float, list[float], tuple[float, float]]:
    from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer

    probe_type = QEvent.Type(QEvent.registerEventType())
    delays: list[float] = []

    class Probe(QObject):
        def event(self, e):
            if e.type() == probe_type:
                delays.append(time.perf_counter() - e.posted_at)
                return True
            return super().event(e)

    class ProbeEvent(QEvent):
        def __init__(self):
            super().__init__(probe_type)
            self.posted_at = time.perf_counter()

    win, loop = open_window(cfg, runs_dir, hidden)
    win.worker.target_reached.connect(lambda _s: loop.quit())
    win.worker.run_steps(WARMUP_STEPS)
    loop.exec()
    while len(win.branches) < branches:   # fork now: the branches train side by side from here
        n = len(win.branches)
        win.fork()
        wait = QTimer()
        wait.timeout.connect(lambda: loop.quit() if len(win.branches) > n and
                             win.branches[-1].state.session is not None else None)
        wait.start(20)
        loop.exec()
        wait.stop()
        b = win.branches[-1]
        warm_at = b.state.session.step + WARMUP_STEPS
        b.worker.run_steps(WARMUP_STEPS)   # its process warms up too
        # not at the branch's own 0-step target (MainWindow._on_forked: worker.write_run)
        b.worker.target_reached.connect(lambda s, warm_at=warm_at: loop.quit() if s >= warm_at else None)
        loop.exec()
    win.select_branch(win.branches[0])
    pending = set()
    for b in win.branches:
        b.worker.target_reached.connect(lambda _s, b=b: (pending.discard(b), loop.quit() if not pending else None))
    probe = Probe()
    timer = QTimer()
    timer.timeout.connect(lambda: QCoreApplication.postEvent(probe, ProbeEvent()))
    timer.start(PROBE_MS)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    th0 = time.thread_time()
    redraws_before = win.plots.redraws
    pending.update(win.branches)
    for b in win.branches:
        b.worker.run_steps(steps)
    while pending:
        loop.exec()
    elapsed = time.perf_counter() - t0
    gui_cpu = time.process_time() - cpu0
    gui_thread = time.thread_time() - th0
    timer.stop()
    QCoreApplication.sendPostedEvents(probe)   # no Python-made event may outlive this function
    redraws = win.plots.redraws - redraws_before
    from gan_studio.app.main_window import every_core_trains, plots_interval
    # the interval the window meant to keep: PLOTS_MS, or longer while every core trained
    interval = plots_interval(win.plots_cost_s, every_core_trains(len(win.branches)))
    win.close()
    dispose(win)
    if not hidden and redraws < 0.5 * min(steps, elapsed / interval):   # one redraw per new report, at most 1/interval
        print(f"WARNING: the plots redrew only {redraws} times in {elapsed:.1f} s (the machine is too busy "
              "to draw at the intended rate): this round flatters the window", flush=True)
    elif not hidden and interval > plots_interval(0.0, False):
        print(f"  every core trained: the plots redrew every {interval:.2f} s ({redraws} times; one redraw "
              f"costs {1000 * win.plots_cost_s:.0f} ms of GUI time)", flush=True)
    # what the window itself took from training: its process's CPU (the GUI thread and the threads
    # that relay each branch's replies), in shares of one core over the measured time
    cpu_share = (gui_cpu / elapsed, gui_thread / elapsed)
    print(f"  the window's process used {100 * cpu_share[0]:.1f} % of a core "
          f"(its GUI thread {100 * cpu_share[1]:.1f} %)", flush=True)
    return len(win.branches) * steps / elapsed, delays, cpu_share


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gan_studio.app.benchmark", description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="ring8")
    p.add_argument("--steps", type=int, default=400, help="steps per measurement")
    p.add_argument("--rounds", type=int, default=7, help="headless/window pairs (default 7; the median is reported)")
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument("--hidden", action="store_true",
                   help="diagnosis: the window exists and its worker reports, but it is never shown or painted")
    p.add_argument("--branches", type=int, default=1, choices=(1, 2, 3),
                   help="fork the run after the warm-up and train this many branches, each in its own process; "
                        "the reference is as many headless runs in as many processes at once")
    p.add_argument("--device", help="train.device for both sides (default: the preset's, i.e. auto: "
                                      "the GPU when there is one)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a config override for both sides, e.g. --set data.image_size=64 (repeatable)")
    p.add_argument("--headless-main-thread", action="store_true",
                   help="run the headless reference in the main thread (as `gan-studio train` does)")
    p.add_argument("--idle", type=float, metavar="SECONDS",
                   help="instead: the CPU the open window and its training process take over SECONDS "
                        "while nothing trains")
    args = p.parse_args(argv)
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from gan_studio.core.presets import load_preset
    app = QApplication.instance() or QApplication([sys.argv[0]])  # noqa: F841 - keeps Qt alive
    cfg = load_preset(args.preset)
    from gan_studio.core.config import parse_override
    from gan_studio.core.errors import ConfigError
    try:
        for item in args.set + ([f"train.device={args.device}"] if args.device else []):
            cfg.set(*parse_override(item))
    except ConfigError as e:
        p.error(str(e))
    import torch

    from gan_studio.core.device import pick_device
    print(f"preset {args.preset} on {pick_device(cfg.train.device)}"
          f"{' (' + torch.cuda.get_device_name() + ')' if pick_device(cfg.train.device).type == 'cuda' else ''}",
          flush=True)

    if args.idle is not None:
        with tempfile.TemporaryDirectory(prefix="gan-studio-bench-") as runs_dir:
            out = {"preset": args.preset, **idle_cost(cfg, args.idle, runs_dir)}
        line = f"idle window: its process {100 * out['window_cpu_share']:.1f} % of a core"
        if "training_process_cpu_share" in out:
            line += f", its training process {100 * out['training_process_cpu_share']:.1f} %"
        print(line + f" over {out['idle_s']:.1f} s")
        if args.json:
            atomic_write_text(args.json, json.dumps(out, indent=2))   # a reader never sees half a file
        return 0
    from gan_studio.app.worker import worker_threads
    torch.set_num_threads(worker_threads())   # the worker's own choice: both sides compute alike
    heads, wins, delays, shares = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="gan-studio-bench-") as runs_dir:
        for r in range(args.rounds):
            if args.branches > 1:
                heads.append(headless_pair_rate(cfg, args.steps, torch.get_num_threads(), args.branches))
            else:
                heads.append(headless_rate(cfg, args.steps, in_thread=not args.headless_main_thread))
            rate, d, share = window_rate(cfg, args.steps, runs_dir, hidden=args.hidden, branches=args.branches)
            wins.append(rate)
            shares.append(share)
            delays += d
            print(f"round {r + 1}: headless {heads[-1]:.1f} steps/s, window {wins[-1]:.1f} steps/s, "
                  f"ratio {wins[-1] / heads[-1]:.3f}", flush=True)
    delays_ms = sorted(1000 * d for d in delays)
    p50 = statistics.median(delays_ms)
    p99 = delays_ms[min(len(delays_ms) - 1, int(0.99 * len(delays_ms)))]
    ratios = [w / h for w, h in zip(wins, heads)]   # per round: load hits both alike
    ratio = statistics.median(ratios)
    out = {"preset": args.preset, "overrides": args.set, "device": str(pick_device(cfg.train.device)), "branches": args.branches, "headless_in": (f"{args.branches} processes at once" if args.branches > 1 else
                                                          "main thread" if args.headless_main_thread else "a thread"),
           "steps": args.steps, "rounds": args.rounds,
           "headless_steps_per_s": round(statistics.mean(heads), 2),
           "window_steps_per_s": round(statistics.mean(wins), 2),
           "throughput_ratio": round(ratio, 3), "ratio_min": round(min(ratios), 3),
           "ratio_max": round(max(ratios), 3), "ratios": [round(r, 3) for r in ratios], "latency_p50_ms": round(p50, 2), "latency_p99_ms": round(p99, 2),
           "latency_samples": len(delays_ms), "cpu_threads": torch.get_num_threads(),
           "window_cpu_share": round(statistics.median(s for s, _ in shares), 3),
           "gui_thread_cpu_share": round(statistics.median(g for _, g in shares), 3)}
    print(f"throughput with the window open: median {ratio:.3f} of headless over {len(ratios)} rounds "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}; target >= 0.9)")
    print(f"the window's process used a median {100 * out['window_cpu_share']:.1f} % of a core while it trained "
          f"(its GUI thread {100 * out['gui_thread_cpu_share']:.1f} %)")
    print(f"UI event latency while training: p50 {p50:.1f} ms, p99 {p99:.1f} ms over {len(delays_ms)} "
          f"events (target p99 < 50 ms)")
    if args.json:
        atomic_write_text(args.json, json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
