"""The one module that crosses threads (and processes): the worker that owns the Trainer.

The window calls the public methods of :class:`TrainingWorker` from the GUI thread; each only puts
a command on a queue. A :class:`TrainingEngine` takes commands between steps (never during one),
trains, and sends back plain payloads (see snapshot.py) at a bounded rate. No widget is touched
from here, and the Trainer is never touched from the GUI thread.

Where the engine runs (``engine=``):
- ``"process"`` (the studio's default): in a child process. The GIL is per process, so painting
  the window (pyqtgraph draws axes and curves in Python) cannot stall training and training cannot
  stall the event loop; measured on this 2-core machine, the window in the same process cut
  training to about a quarter of headless speed (benchmarks/bench_window.py). The worker QThread
  then only forwards commands down a pipe and turns the replies into Qt signals. Commands and
  replies are pickled, so ``call(fn)`` needs a picklable ``fn`` (a module-level function, or a
  functools.partial of one).
- ``"thread"``: in the worker QThread itself, sharing the GIL with the window. Tests use it: it
  starts instantly and lets them call the Trainer with any closure.
"""
from __future__ import annotations

import pickle
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

#: where the engine runs: see the module docstring
ENGINES = ("process", "thread")
PROCESS_NAME = "gan-studio-training"
#: how often the worker QThread looks at its command queue while waiting on the child (s)
RELAY_POLL_S = 0.01
#: after stop(), the child gets this long to save its run before it is ended (s)
PROCESS_STOP_S = 8.0
#: what the run folder's lock file says its writer is (core/io.py)
WRITER_COMMAND = "gan-studio gui (training)"



def worker_threads() -> int:
    """torch CPU threads for training beside a window: all cores but one, which the GUI thread needs.

    Measured on a busy 2-core machine: ring8 trained at 3.4 steps/s with 2 threads in a worker
    thread and at 33 steps/s with 1, because OpenMP's threads wait on each other while the GUI
    thread (or anything else) holds a core. Each run then trains with ``choose_threads`` (the faster
    of 1 and this for the run's size), the rule `gan-studio train` uses too (core/device.py)."""
    from gan_studio.core.device import spare_threads
    return spare_threads()


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
    process_died = Signal(str)         # the training process was killed or crashed (one line); a new one starts

    def __init__(self, cfg: Config | None = None, runs_dir: str | Path = "runs",
                 open_path: str | Path | None = None, device: str | None = None, parent=None,
                 engine: str = "thread"):
        super().__init__(parent)
        if engine not in ENGINES:
            raise ValueError(f"engine = {engine!r}: one of {', '.join(ENGINES)}")
        self.setObjectName("TrainingWorker")
        self.engine = engine
        self._initial = ("open", str(open_path)) if open_path else ("reset", cfg)
        self.runs_dir = Path(runs_dir)
        self.device = device
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stop_flag = threading.Event()
        self.process = None   # the child process of engine="process", once started
        self._child_session = None

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
            if self.engine == "process":
                self._relay_process()
            else:
                engine = TrainingEngine(self._initial, self.runs_dir, self.device, self._queue,
                                        self._emit, self._stop_flag)
                engine.serve()
        finally:
            LIVE_WORKERS.discard(self)

    def _emit(self, name: str, *args) -> None:
        getattr(self, name).emit(*args)

    def _relay_process(self) -> None:
        """Run the engine in a child process. A child that dies (killed, crashed) is reported
        (process_died) and replaced by a fresh one that reopens its run at the last checkpoint, so
        Start, Open and New keep working; a fresh child that dies before it holds a run is the last."""
        initial, strikes = self._initial, 0
        while True:
            self._child_session = None
            if self._relay_child(initial) != "died" or self._stop_flag.is_set():
                return
            s = self._child_session
            if s is not None:
                strikes = 0
                saved = (Path(s.run_path) / "checkpoint.pt").is_file()
                initial = ("open", s.run_path) if saved else ("reset", s.config)
            else:
                strikes += 1
                if strikes > 1:
                    return
                initial = ("idle", None)   # wait for New or Open

    def _relay_child(self, initial: tuple) -> str:
        """Start one child; forward commands to it and its messages to signals until it ends.
        Returns "stopped" (asked to) or "died" (reported through failed and process_died)."""
        import multiprocessing as mp
        from multiprocessing.connection import wait
        ctx = mp.get_context("spawn")   # never fork a process that runs Qt
        here, there = ctx.Pipe()
        proc = ctx.Process(target=serve_in_process, name=PROCESS_NAME, daemon=True,
                           args=(there, initial, str(self.runs_dir), self.device))
        proc.start()
        there.close()
        self.process = proc
        calls: dict[int, Future] = {}
        next_call = 0
        stop_asked_at = None
        closed = False
        try:
            while True:
                while True:   # forward every queued command, in order
                    try:
                        name, payload = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    fut = None
                    if name == "call":
                        (fn, fut), next_call = payload, next_call + 1
                        calls[next_call] = fut
                        payload = (next_call, fn)
                    try:
                        here.send((name, payload))
                    except (pickle.PicklingError, TypeError, AttributeError) as e:
                        if fut is not None:
                            calls.pop(next_call, None)
                            fut.set_exception(TypeError(f"the training process cannot take this command: {e}"))
                        else:
                            self.failed.emit(f"{name}: the training process cannot take it: {e}")
                    except OSError:
                        break   # the child has gone: reported below
                ready = wait([proc.sentinel] if closed else [here, proc.sentinel], timeout=RELAY_POLL_S)
                if here in ready:
                    try:
                        self._dispatch(here.recv(), calls)
                        continue
                    except (EOFError, OSError):
                        closed = True   # the child's end is closed: it has ended or is ending
                if not proc.is_alive() and (closed or not _readable(here)):
                    if self._stop_flag.is_set():
                        return "stopped"
                    code = proc.exitcode
                    how = (f"killed by {_signal_name(-code)}" if code is not None and code < 0
                           else f"exit code {code}")
                    message = (f"the training process ended unexpectedly ({how}); its run is reopened "
                               "at the last checkpoint: Start continues it, New and Open work as usual")
                    self.failed.emit(message)
                    self.process_died.emit(message)
                    return "died"
                if self._stop_flag.is_set():
                    now = time.perf_counter()
                    stop_asked_at = stop_asked_at or now
                    if now - stop_asked_at > PROCESS_STOP_S:   # saving hangs: do not hang the window too
                        proc.terminate()
                        self.failed.emit("the training process did not stop in time and was ended")
                        return "stopped"
        finally:
            for fut in calls.values():
                if not fut.done():
                    fut.set_exception(RuntimeError("the training process ended before answering"))
            proc.join(2.0)
            if proc.is_alive():
                proc.kill()
                proc.join(2.0)
            here.close()

    def _dispatch(self, message: tuple, calls: dict[int, Future]) -> None:
        name, args = message
        if name == "session":
            self._child_session = args[0]   # the run to reopen should this child die
        if name == "call_result":
            call_id, ok, value = args
            fut = calls.pop(call_id, None)
            if fut is not None and fut.set_running_or_notify_cancel():
                fut.set_result(value) if ok else fut.set_exception(value)
            return
        getattr(self, name).emit(*args)



class TrainingEngine:
    """The training service (no Qt): owns the Trainer and its RunLoop, takes commands from
    ``inbox`` between steps, reports through ``emit(signal_name, *args)``. It runs in the worker
    QThread or in a child process; the code is the same."""

    def __init__(self, initial: tuple, runs_dir: str | Path, device: str | None, inbox,
                 emit: Callable[..., None], stop_flag: threading.Event | None = None):
        self._initial = initial
        self.runs_dir = Path(runs_dir)
        self.device = device
        self._queue = inbox           # .get(timeout=) and .get_nowait(), raising queue.Empty
        self.emit = emit
        self._stop_flag = stop_flag or threading.Event()
        self.speed = 25  # steps between views (set_speed)
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
        self._evals: list[dict] = []     # evaluation rows since the last report
        self._force_view = False
        self._state_dirty = False
        self._unlogged: list[dict] = []   # setting changes while the run was only looked at
        self._opened_as = None            # the checkpoint's (size, mtime) when it was opened to look

    def serve(self) -> None:
        import torch
        if torch.get_num_threads() > worker_threads():
            torch.set_num_threads(worker_threads())
        self._thread_cap = torch.get_num_threads()   # a lower count set before (tests, the user) stays
        name, payload = self._initial
        if name == "open":
            self._open(payload)
        elif name == "reset":
            self._reset(payload)
        # "idle" (a training process started again after one died): wait for Reset or Open
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
                self.emit("running_changed", busy)
            now = time.perf_counter()
            want_view = self._force_view or (busy and step - steps_at_view >= self.speed and now >= next_view)
            news = self._steps or self._events or self._evals or self._state_dirty or want_view
            if news and (self._force_view or now - last_report >= 1.0 / MAX_REPORTS_PER_S):
                view = None
                if want_view:
                    view = self._build_view()
                    cost = time.perf_counter() - now
                    next_view = now + max(1.0 / MAX_VIEWS_PER_S, cost / VIEW_BUDGET)
                    steps_at_view, self._force_view = step, False
                self.emit("report", Report(
                    step=step, running=busy, steps_per_s=rate, elapsed_s=self._t_run,
                    metrics=stack_metrics(self._steps, self._values), events=self._events, view=view,
                    last_eval=self._evals[-1] if self._evals else None, evals=self._evals))
                self._steps, self._values, self._events, self._evals = [], [], [], []
                self._state_dirty = False
                last_report = now
            if reached is not None:
                self.emit("target_reached", reached)
        self._finish_run()

    def _build_view(self):
        try:
            view = self._views.build()
        except Exception as e:  # noqa: BLE001 - a picture that fails must not end training
            message = f"the 2-D view failed: {type(e).__name__}: {str(e).splitlines()[0][:160]}"
            if message != self._problem_shown:
                self._problem_shown = message
                self.emit("failed", message)
            return None
        if self._views.problem and self._views.problem != self._problem_shown:
            self._problem_shown = self._views.problem
            self.emit("failed", self._views.problem)
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
        from gan_studio.core.errors import user_errors
        if name == "stop":
            self._stop_flag.set()
            return
        if self._tr is None and name not in ("reset", "open"):
            return
        try:
            if name == "run":
                self._target = None
                if payload and not self._become_writer():
                    return
                self._set_running(bool(payload))
                self._force_view = True
            elif name == "steps":
                if not self._become_writer():
                    return
                self._running = False
                self._target = self._tr.step_count + payload
                self._force_view = True
            elif name == "set":
                key, value = payload
                try:
                    self._tr.apply_setting(key, value)
                except user_errors() as e:
                    self.emit("setting_refused", key, str(e))
            elif name == "speed":
                self.speed = payload
            elif name == "reset":
                self._reset(payload)
            elif name == "open":
                self._open(payload)
            elif name == "save":
                if not self._become_writer():
                    return
                self._loop.finish()
                self.emit("saved", str(self._run.path))
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
            self.emit("failed", str(e))
        except Exception as e:  # noqa: BLE001 - a command that fails must not end the worker
            self.emit("failed", f"{name} failed: {type(e).__name__}: {str(e).splitlines()[0][:160]}")

    def _advance(self) -> None:
        from gan_studio.core.training.trainer import DivergedError
        tr = self._tr
        try:
            self._loop.advance()
        except DivergedError as e:
            self._steps, self._values = [], []
            self._target = None
            self._set_running(False)
            self._force_view = True
            self.emit("diverged", str(e), e.restored_step)
            return
        except Exception as e:  # noqa: BLE001 - a trick or loss that fails: pause, keep the window
            self._target = None
            self._set_running(False)
            self.emit("failed", f"training stopped at step {tr.step_count}: {type(e).__name__}: {e}")
            return
        m = tr._last_metrics
        self._steps.append(m.step)
        self._values.append(m.values)
        ev = self._new_eval()            # every evaluation reaches the window, not only the last
        if ev is not None:
            self._evals.append(ev)

    def _set_running(self, running: bool) -> None:
        self._running = running

    def _on_event(self, event: dict) -> None:  # called by the Trainer in this thread
        self._events.append(dict(event))
        if self._run is not None and self._run.read_only:
            self._unlogged.append(dict(event))   # written to events.jsonl once this run is trained
        if event.get("event") == "diverged":
            # rows past the roll-back will be trained again: drop them from the pending batch
            self._steps, self._values = [], []

    def _attach(self, tr, run) -> None:
        from gan_studio.core.training.run_loop import RunLoop
        self._finish_run()
        import torch
        from gan_studio.core.device import choose_threads
        # the faster of 1 and cores - 1 for this run, never above what serve() started with
        torch.set_num_threads(min(choose_threads(tr), getattr(self, "_thread_cap", worker_threads())))
        self._tr, self._run = tr, run
        self._unlogged = []
        # a run opened to look at stays read-only (no lock, nothing written) until it is trained
        self._loop = RunLoop(tr, None if run.read_only else run)
        self._opened_as = None
        tr.on_event.append(self._on_event)
        self._views = ViewBuilder(tr)
        self._sent_eval = None
        self._problem_shown = ""
        self._t_run = 0.0
        self._steps, self._values, self._events, self._evals = [], [], [], []
        self._target = None
        self._set_running(False)
        self._force_view = True
        self.emit("session", make_session(tr, str(run.path), run))

    def _reset(self, cfg: Config) -> None:
        from gan_studio.core.errors import user_errors
        from gan_studio.core.families.registry import make_trainer
        from gan_studio.core.runs import RunFolder
        try:
            tr = make_trainer(cfg.copy(), device=self.device)
            run = RunFolder.create(new_run_dir(self.runs_dir, cfg.name), tr.cfg, lock=True,
                                   command=WRITER_COMMAND)
        except user_errors() as e:
            self.emit("failed", str(e))
            return
        self._attach(tr, run)

    def _open(self, path) -> None:
        from gan_studio.core.errors import user_errors
        from gan_studio.core.runs import trainer_from_run
        opened_as = _checkpoint_signature(path)
        try:
            tr, run = trainer_from_run(path, device=self.device)   # read-only: looking changes nothing
        except user_errors() as e:
            self.emit("failed", str(e))
            return
        self._attach(tr, run)
        self._opened_as = opened_as

    def _become_writer(self) -> bool:
        """Training (or saving) a run that was opened to look at: take its one-writer lock, drop
        the log rows past its checkpoint (they will be trained again) and log from now on. False,
        with one line, when another process trains it or it moved on since it was opened."""
        from gan_studio.core.errors import RunError, user_errors
        from gan_studio.core.training.run_loop import RunLoop
        run = self._run
        if run is None or not run.read_only:
            return True
        try:
            run.lock(WRITER_COMMAND)
            if _checkpoint_signature(run.path) != self._opened_as:
                raise RunError(f"{run.path} was saved by another process since it was opened here; "
                               "Open it again to continue from its newest checkpoint")
            run.truncate_after(self._tr.step_count)
            for event in self._unlogged:
                run.append_event(event)
        except (OSError, *user_errors()) as e:
            run.unlock()
            run.read_only = True
            self.emit("failed", str(e) if isinstance(e, user_errors()) else f"could not write to {run.path}: {e}")
            return False
        self._unlogged = []
        self._loop = RunLoop(self._tr, run)   # a fresh loop that logs into the run (nothing trained yet)
        self._sent_eval = None
        return True

    def _finish_run(self) -> None:
        """Save the current run (checkpoint, snapshot, last metrics) before it is dropped; a run
        that was only looked at is left as it was. Its one-writer lock is released."""
        if self._loop is None:
            return
        loop, run, tr = self._loop, self._run, self._tr
        self._loop = None
        if run.read_only:
            return
        try:
            if tr.is_image:
                self._save_without_evaluation(loop, run, tr)
            else:
                loop.finish()
        except OSError as e:
            self.emit("failed", f"could not save the run in {run.path}: {e}")
            return
        finally:
            run.unlock()
        self.emit("saved", str(run.path))

    @staticmethod
    def _save_without_evaluation(loop, run, tr) -> None:
        """RunLoop.finish() without its evaluation: on images that may first train the metric
        classifier (minutes), and closing the window must take a second or two."""
        row = tr.step_metrics_now()
        if row is not None and (loop.last_row is None or loop.last_row.get("step") != tr.step_count):
            run.append_metrics(row)
        run.save_checkpoint(tr)
        run.save_snapshot(tr)


# -- the child process -------------------------------------------------------------------------------
class _PipeInbox:
    """The engine's command queue in the child: the pipe from the worker QThread. A closed pipe
    (the window died) reads as "stop", so the run is saved before the child ends."""

    def __init__(self, conn):
        self.conn = conn

    def get(self, timeout: float | None = None):
        if not self.conn.poll(timeout):
            raise queue.Empty
        return self._read()

    def get_nowait(self):
        return self.get(0)

    def _read(self):
        try:
            name, payload = self.conn.recv()
        except (EOFError, OSError):
            return ("stop", None)
        if name == "call":
            call_id, fn = payload
            payload = (fn, _RemoteFuture(self.conn, call_id))
        return (name, payload)


class _RemoteFuture:
    """The engine answers a call() through this as if it were a Future in the same process."""

    def __init__(self, conn, call_id: int):
        self.conn, self.call_id = conn, call_id

    def set_running_or_notify_cancel(self) -> bool:
        return True

    def set_result(self, value) -> None:
        try:
            self.conn.send(("call_result", (self.call_id, True, value)))
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            self.set_exception(TypeError(f"the answer cannot leave the training process: {e}"))

    def set_exception(self, error: BaseException) -> None:
        try:
            pickle.dumps(error)
        except Exception:  # noqa: BLE001 - an exception that does not pickle travels as text
            error = RuntimeError(f"{type(error).__name__}: {error}")
        self.conn.send(("call_result", (self.call_id, False, error)))


def serve_in_process(conn, initial: tuple, runs_dir: str, device: str | None) -> None:
    """The child process of engine="process": the engine, with the pipe for inbox and signals.

    Ctrl+C in the terminal reaches the whole process group: the child ignores SIGINT and lets the
    window ask it to save. SIGTERM (sent to the child alone, or to the group) ends the serve loop
    after the current step, so the run is saved at that step before the process exits."""
    import signal
    stop = _Flag()
    if hasattr(signal, "SIGINT"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    import torch
    torch.set_num_threads(worker_threads())

    def emit(name: str, *args) -> None:
        try:
            conn.send((name, args))
        except (BrokenPipeError, EOFError, OSError):
            stop.set()   # the window is gone: save and end

    try:
        TrainingEngine(initial, runs_dir, device, _PipeInbox(conn), emit, stop).serve()
    finally:
        conn.close()


class _Flag:
    """threading.Event's is_set()/set() without its lock, so a signal handler may set it."""

    def __init__(self):
        self._set = False

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True


def _checkpoint_signature(path) -> tuple | None:
    """(size, mtime) of a run's checkpoint: whether another process saved it since."""
    try:
        st = (Path(path) / "checkpoint.pt").stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _signal_name(signum: int) -> str:
    import signal
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _readable(conn) -> bool:
    try:
        return conn.poll(0)
    except (EOFError, OSError):
        return False


def live_processes() -> list:
    """Training child processes still running (tests check that none is left behind)."""
    import multiprocessing as mp
    return [p for p in mp.active_children() if p.name == PROCESS_NAME]
