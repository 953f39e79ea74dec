"""The one module that crosses threads: a QThread that owns the Trainer and its RunLoop.

The window calls the public methods here from the GUI thread; each only puts a command on a queue.
The worker thread takes commands between steps (never during one), trains, and sends back plain
payloads (see snapshot.py) through signals at a bounded rate. No widget is touched from here, and
the Trainer is never touched from the GUI thread.
"""
from __future__ import annotations

import os
import queue
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QThread, Signal

from gan_studio.app.snapshot import Report, ViewBuilder, make_session, stack_metrics
from gan_studio.core.config import Config

#: at most this many reports a second: each costs the GUI thread a redraw (and the GIL)
MAX_REPORTS_PER_S = 10
#: at most this many heavy views (samples, heatmap, arrows, grid) a second
MAX_VIEWS_PER_S = 10
#: share of the worker's time that views may take; a slow view (big model) is sent less often
VIEW_BUDGET = 0.04
#: how long an idle (paused) worker sleeps before looking at its queue again
IDLE_WAIT_S = 0.1



def worker_threads() -> int:
    """torch CPU threads for training beside a window: all cores but one, which the GUI thread needs.

    Measured on a busy 2-core machine: ring8 trained at 3.4 steps/s with 2 threads in a worker
    thread and at 33 steps/s with 1, because OpenMP's threads wait on each other while the GUI
    thread (or anything else) holds a core."""
    return max(1, (os.cpu_count() or 2) - 1)


#: workers whose thread is running, held strongly: a forgotten worker stays findable (tests fail on
#: it) instead of being collected mid-run, which Qt answers by aborting the process
LIVE_WORKERS: "set[TrainingWorker]" = set()


def new_run_dir(runs_dir: str | Path, name: str) -> Path:
    """runs/NAME-YYYYmmdd-HHMMSS, with -2, -3... when that exists (two resets in one second)."""
    base = Path(runs_dir) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


class TrainingWorker(QThread):
    session = Signal(object)           # Session: a Trainer is ready (first start, Reset, Open)
    report = Signal(object)            # Report
    running_changed = Signal(bool)
    diverged = Signal(str, int)        # message, the step the run was rolled back to
    failed = Signal(str)               # one line for the user (a bad setting, a run that won't open)
    setting_refused = Signal(str, str)  # key, why
    saved = Signal(str)                # run folder
    target_reached = Signal(int)       # run_steps() is done at this step

    def __init__(self, cfg: Config | None = None, runs_dir: str | Path = "runs",
                 open_path: str | Path | None = None, device: str | None = None, parent=None):
        super().__init__(parent)
        self.setObjectName("TrainingWorker")
        self._initial = ("open", open_path) if open_path else ("reset", cfg)
        self.runs_dir = Path(runs_dir)
        self.device = device
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stop_flag = threading.Event()
        self.speed = 25  # steps between views (set_speed)
        # worker-thread state
        self._tr = self._loop = self._run = self._views = None
        self._running = False
        self._was_busy = False
        self._problem_shown = ""
        self._t_run = 0.0
        self._sent_eval = None
        self._target: int | None = None
        self._steps: list[int] = []
        self._values: list = []
        self._events: list[dict] = []
        self._force_view = False
        self._state_dirty = False

    # -- GUI thread: commands ------------------------------------------------------------------
    def start_training(self) -> None:
        self._put("run", True)

    def pause(self) -> None:
        self._put("run", False)

    def step_once(self) -> None:
        self._put("steps", 1)

    def run_steps(self, n: int) -> None:
        """Train n more steps, then pause and emit target_reached."""
        self._put("steps", int(n))

    def set_setting(self, key: str, value: Any) -> None:
        self._put("set", (key, value))

    def set_speed(self, steps_between_views: int) -> None:
        self._put("speed", max(1, int(steps_between_views)))

    def reset(self, cfg: Config) -> None:
        """A new Trainer and run folder for ``cfg`` (the old run is saved first)."""
        self._put("reset", cfg.copy())

    def open_run(self, path: str | Path) -> None:
        self._put("open", str(path))

    def save(self) -> None:
        self._put("save", None)

    def request_view(self) -> None:
        self._put("view", None)

    def call(self, fn: Callable[[Any], Any]) -> Future:
        """Run fn(trainer) in the worker between steps; the Future gets the result."""
        fut: Future = Future()
        self._put("call", (fn, fut))
        return fut

    def stop(self) -> None:
        """Ask the worker to save the run and end; wait() for it."""
        self._stop_flag.set()
        self._put("stop", None)

    def _put(self, name: str, payload: Any) -> None:
        self._queue.put((name, payload))

    def start(self, *args) -> None:
        LIVE_WORKERS.add(self)
        super().start(*args)

    # -- worker thread ---------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._serve()
        finally:
            LIVE_WORKERS.discard(self)

    def _serve(self) -> None:
        import torch
        if torch.get_num_threads() > worker_threads():
            torch.set_num_threads(worker_threads())
        name, payload = self._initial
        (self._open if name == "open" else self._reset)(payload)
        last_report = next_view = 0.0
        steps_at_view = -1
        # steps/s over the wall clock while busy, views and reports included: what the user gets
        window_start, window_step, rate = time.perf_counter(), 0, 0.0
        while not self._stop_flag.is_set():
            self._drain(block=not self._busy())
            if self._stop_flag.is_set():
                break
            if self._tr is None:  # the first Trainer failed to build: wait for a Reset or Open
                continue
            if self._busy():
                t0 = time.perf_counter()
                if not self._was_busy:
                    window_start, window_step = t0, self._tr.step_count
                self._advance()
                self._t_run += time.perf_counter() - t0   # seconds in steps: the status bar's time
                if t0 - window_start >= 0.5:
                    rate = (self._tr.step_count - window_step) / (t0 - window_start)
                    window_start, window_step = t0, self._tr.step_count
            step = self._tr.step_count
            reached = None
            if self._target is not None and step >= self._target:
                reached, self._target = step, None
                self._force_view = True
            busy = self._busy()
            if busy != self._was_busy:
                self._was_busy = busy
                self._state_dirty = True
                self.running_changed.emit(busy)
            now = time.perf_counter()
            want_view = self._force_view or (busy and step - steps_at_view >= self.speed and now >= next_view)
            news = self._steps or self._events or self._state_dirty or want_view
            if news and (self._force_view or now - last_report >= 1.0 / MAX_REPORTS_PER_S):
                view = None
                if want_view:
                    view = self._build_view()
                    cost = time.perf_counter() - now
                    next_view = now + max(1.0 / MAX_VIEWS_PER_S, cost / VIEW_BUDGET)
                    steps_at_view, self._force_view = step, False
                self.report.emit(Report(
                    step=step, running=busy, steps_per_s=rate, elapsed_s=self._t_run,
                    metrics=stack_metrics(self._steps, self._values), events=self._events, view=view,
                    last_eval=self._new_eval()))
                self._steps, self._values, self._events = [], [], []
                self._state_dirty = False
                last_report = now
            if reached is not None:
                self.target_reached.emit(reached)
        self._finish_run()

    def _build_view(self):
        try:
            view = self._views.build()
        except Exception as e:  # noqa: BLE001 - a picture that fails must not end training
            message = f"the 2-D view failed: {type(e).__name__}: {str(e).splitlines()[0][:160]}"
            if message != self._problem_shown:
                self._problem_shown = message
                self.failed.emit(message)
            return None
        if self._views.problem and self._views.problem != self._problem_shown:
            self._problem_shown = self._views.problem
            self.failed.emit(self._views.problem)
        return view

    def _new_eval(self) -> dict | None:
        """The RunLoop's latest evaluation, once: with the step it was made at."""
        ev = self._loop.last_eval
        if not ev or ev is self._sent_eval:
            return None
        self._sent_eval = ev
        row = self._loop.last_row or {}
        return {**ev, "step": row.get("step", self._tr.step_count)}

    def _busy(self) -> bool:
        return self._running or (self._target is not None and self._tr is not None
                                 and self._tr.step_count < self._target)

    def _drain(self, block: bool) -> None:
        try:
            item = self._queue.get(timeout=IDLE_WAIT_S) if block else self._queue.get_nowait()
        except queue.Empty:
            return
        while True:
            self._handle(*item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return

    def _handle(self, name: str, payload: Any) -> None:
        from gan_studio.cli import user_errors
        if name == "stop":
            return
        if self._tr is None and name not in ("reset", "open"):
            return
        try:
            if name == "run":
                self._target = None
                self._set_running(bool(payload))
                self._force_view = True
            elif name == "steps":
                self._running = False
                self._target = self._tr.step_count + payload
                self._force_view = True
            elif name == "set":
                key, value = payload
                try:
                    self._tr.apply_setting(key, value)
                except user_errors() as e:
                    self.setting_refused.emit(key, str(e))
            elif name == "speed":
                self.speed = payload
            elif name == "reset":
                self._reset(payload)
            elif name == "open":
                self._open(payload)
            elif name == "save":
                self._loop.finish()
                self.saved.emit(str(self._run.path))
            elif name == "view":
                self._force_view = True
            elif name == "call":
                fn, fut = payload
                if fut.set_running_or_notify_cancel():
                    try:
                        fut.set_result(fn(self._tr))
                    except BaseException as e:  # noqa: BLE001 - handed to the caller
                        fut.set_exception(e)
        except user_errors() as e:
            self.failed.emit(str(e))
        except Exception as e:  # noqa: BLE001 - a command that fails must not end the worker
            self.failed.emit(f"{name} failed: {type(e).__name__}: {str(e).splitlines()[0][:160]}")

    def _advance(self) -> None:
        from gan_studio.core.trainer import DivergedError
        tr = self._tr
        try:
            self._loop.advance()
        except DivergedError as e:
            self._steps, self._values = [], []
            self._target = None
            self._set_running(False)
            self._force_view = True
            self.diverged.emit(str(e), e.restored_step)
            return
        except Exception as e:  # noqa: BLE001 - a trick or loss that fails: pause, keep the window
            self._target = None
            self._set_running(False)
            self.failed.emit(f"training stopped at step {tr.step_count}: {type(e).__name__}: {e}")
            return
        m = tr._last_metrics
        self._steps.append(m.step)
        self._values.append(m.values)

    def _set_running(self, running: bool) -> None:
        self._running = running

    def _on_event(self, event: dict) -> None:  # called by the Trainer in this thread
        self._events.append(dict(event))
        if event.get("event") == "diverged":
            # rows past the roll-back will be trained again: drop them from the pending batch
            self._steps, self._values = [], []

    def _attach(self, tr, run) -> None:
        from gan_studio.core.trainer import RunLoop
        self._finish_run()
        self._tr, self._run = tr, run
        self._loop = RunLoop(tr, run)
        tr.on_event.append(self._on_event)
        self._views = ViewBuilder(tr)
        self._sent_eval = None
        self._problem_shown = ""
        self._t_run = 0.0
        self._steps, self._values, self._events = [], [], []
        self._target = None
        self._set_running(False)
        self._force_view = True
        self.session.emit(make_session(tr, str(run.path), run))

    def _reset(self, cfg: Config) -> None:
        from gan_studio.cli import user_errors
        from gan_studio.core.runs import RunFolder
        from gan_studio.core.families import make_trainer
        try:
            tr = make_trainer(cfg.copy(), device=self.device)
            run = RunFolder.create(new_run_dir(self.runs_dir, cfg.name), tr.cfg)
        except user_errors() as e:
            self.failed.emit(str(e))
            return
        self._attach(tr, run)

    def _open(self, path) -> None:
        from gan_studio.cli import user_errors
        from gan_studio.core.runs import trainer_from_run
        try:
            tr, run = trainer_from_run(path, device=self.device)
        except user_errors() as e:
            self.failed.emit(str(e))
            return
        self._attach(tr, run)

    def _finish_run(self) -> None:
        """Save the current run (checkpoint, snapshot, last metrics) before it is dropped."""
        if self._loop is None:
            return
        loop, run, tr = self._loop, self._run, self._tr
        self._loop = None
        try:
            if tr.is_image:
                self._save_without_evaluation(loop, run, tr)
            else:
                loop.finish()
        except OSError as e:
            self.failed.emit(f"could not save the run in {run.path}: {e}")
            return
        self.saved.emit(str(run.path))

    @staticmethod
    def _save_without_evaluation(loop, run, tr) -> None:
        """RunLoop.finish() without its evaluation: on images that may first train the metric
        classifier (minutes), and closing the window must take a second or two."""
        row = tr.step_metrics_now()
        if row is not None and (loop.last_row is None or loop.last_row.get("step") != tr.step_count):
            run.append_metrics(row)
        run.save_checkpoint(tr)
        run.save_snapshot(tr)
