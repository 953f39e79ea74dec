"""The Qt adapter of the training session: a thread that sends the window's commands to the engine
and turns the engine's replies into Qt signals. The engine, its transports and the protocol are in
gan_studio/session (no Qt); this is the one module of the window that crosses threads.

The window calls the public methods of :class:`TrainingWorker` from the GUI thread; each only
queues a typed command (session/protocol.py). The worker's thread (a plain Python thread) runs the
session's client (session/client.py): it forwards the commands, and each reply is posted to the GUI
thread (app/inbox.py), which emits the signal of the same meaning. The worker's thread never calls
Qt (an emit from it could deadlock against the GUI thread, see inbox.py), no widget is touched
from it, and the Trainer is never touched from the GUI thread.

Where the engine runs (``engine=``): ``"process"`` (the studio's default and the window tests'):
in a training process, so the window's painting and training do not share a GIL; or ``"thread"``:
in a thread of this process, for a few fast tests (a Call may then carry a closure).
"""
from __future__ import annotations

import itertools
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from gan_studio.app.inbox import hold_collector, inbox, post, release_collector

from gan_studio.core.config import Config
from gan_studio.session import protocol as P
from gan_studio.session.client import ENGINES, EngineClient
from gan_studio.session.engine import worker_threads  # noqa: F401 - the window's benchmark uses it
from gan_studio.session.transport import live_processes  # noqa: F401 - tests/conftest.py

#: workers whose thread is running, held strongly: a forgotten worker stays findable (tests fail on
#: it) instead of being collected mid-run, which Qt answers by aborting the process
LIVE_WORKERS: "set[TrainingWorker]" = set()

#: a key per started thread for the GUI thread's garbage collection (inbox.hold_collector)
_GC_KEYS = itertools.count(1)

#: each reply type and the signal that carries it to the GUI thread (with the reply's fields as arguments)
SIGNALS: dict[type, str] = {
    P.Opened: "session",
    P.Progress: "report",
    P.RunningChanged: "running_changed",
    P.Diverged: "diverged",
    P.Failed: "failed",
    P.SettingRefused: "setting_refused",
    P.Saved: "saved",
    P.TargetReached: "target_reached",
    P.EngineDied: "process_died",
}


class TrainingWorker(QObject):
    session = Signal(object)           # RunInfo: a Trainer is ready (first start, New, Open, a restart)
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
                 engine: str = "process"):
        super().__init__(parent)
        if engine not in ENGINES:
            raise ValueError(f"engine = {engine!r}: one of {', '.join(ENGINES)}")
        self.setObjectName("TrainingWorker")
        first = P.Open(str(open_path)) if open_path else P.New(cfg.copy())
        self.client = EngineClient(first, runs_dir, device, engine=engine, on_reply=self._on_reply)
        self.engine = engine
        self.runs_dir = Path(runs_dir)
        self.device = device
        self._thread: threading.Thread | None = None
        inbox()   # made here, in the GUI thread, before the serving thread may post to it

    @property
    def process(self):
        """The training process serving now (engine="process"), once started; a new one after a death."""
        return self.client.process

    # -- GUI thread: commands ------------------------------------------------------------------
    def start_training(self) -> None:
        self.client.send(P.Start())

    def pause(self) -> None:
        self.client.send(P.Pause())

    def step_once(self) -> None:
        self.client.send(P.RunSteps(1))

    def run_steps(self, n: int) -> None:
        """Train n more steps, then pause and emit target_reached."""
        self.client.send(P.RunSteps(int(n)))

    def write_run(self) -> None:
        """Become the writer of the run opened (its lock taken, its live changes logged from now on,
        saved when it ends) without training a step: a run opened to look at is otherwise written
        only once it trains. A fork's branch is the window's own run: a trick changed while it is
        paused must reach its folder as a running branch's does. (Training 0 steps: the engine
        takes a run for writing before it trains; target_reached follows at once.)"""
        self.client.send(P.RunSteps(0))

    def set_setting(self, key: str, value: Any) -> None:
        self.client.send(P.SetSetting(key, value))

    def set_speed(self, steps_between_frames: int) -> None:
        self.client.send(P.SetSpeed(max(1, int(steps_between_frames))))

    def set_frame_budget(self, share: float) -> None:
        """The share of its time the engine may spend on Frames (session/engine.py FRAME_BUDGET)."""
        self.client.send(P.SetFrameBudget(float(share)))

    def reset(self, cfg: Config) -> None:
        """A new Trainer and run folder for ``cfg`` (the old run is saved first)."""
        self.client.send(P.New(cfg.copy()))

    def open_run(self, path: str | Path) -> None:
        self.client.send(P.Open(str(path)))

    def save(self) -> None:
        self.client.send(P.Save())

    def request_view(self) -> None:
        self.client.send(P.RequestFrame())

    def call(self, fn: Callable[[Any], Any]) -> Future:
        """Run fn(trainer) in the engine between steps; the Future gets the result. Through the
        training process ``fn`` must pickle (a module-level function or a functools.partial of one)."""
        return self.client.ask(P.Call(fn))

    def render_latents(self, z: np.ndarray, label: int | None = None) -> Future:
        """(step, G(z) as uint8 tiles), drawn between steps (the latent lab)."""
        return self.client.ask(P.RenderLatents(np.asarray(z, np.float32), label))

    def render_caption(self, text: str, n: int = 8) -> Future:
        """(step, stage-I tiles, stage-II tiles) of a StackGAN caption (the text-to-image panel)."""
        return self.client.ask(P.RenderCaption(text, n))

    def fork(self, step: int | None, out_dir: str, changes: dict | None = None) -> Future:
        """Write a fork of the run at ``step`` (None: now; else a kept evaluation step) into
        ``out_dir``; the Future gets the new run folder (core/fork.py). Training goes on."""
        return self.client.ask(P.Fork(step, out_dir, dict(changes or {})))

    @property
    def fork_steps(self) -> tuple[int, ...]:
        """The evaluation steps the engine keeps to fork from (the current step can always be)."""
        return self.client.fork_steps

    def render_translation(self, domain: str, index: int) -> Future:
        """(step, tiles of input, translation, reconstruction) of a real image of domain "a" or "b"."""
        return self.client.ask(P.RenderTranslation(domain, int(index)))

    def stop(self) -> None:
        """Ask the engine to save the run and end; wait() for this thread."""
        self.client.stop()

    # -- the thread, as QThread's API had it ---------------------------------------------------------
    def start(self) -> None:
        if self.isRunning():
            return
        LIVE_WORKERS.add(self)
        self._gc_key = next(_GC_KEYS)
        hold_collector(self._gc_key)   # no garbage collection in this thread, nor in a training thread it starts
        self._thread = threading.Thread(target=self.run, name=self.objectName() or "TrainingWorker",
                                        daemon=True)
        self._thread.start()

    def isRunning(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, ms: int | None = None) -> bool:
        """Wait for the thread to end (at most ``ms`` milliseconds); True when it has (or never ran)."""
        if self._thread is None:
            return True
        self._thread.join(None if ms is None else ms / 1000.0)
        if self._thread.is_alive():
            return False
        release_collector(self._gc_key)
        return True

    # -- the worker thread ---------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self.client.serve()
        finally:
            LIVE_WORKERS.discard(self)
            post(release_collector, self._gc_key)   # also when nobody wait()s for this thread

    def _on_reply(self, reply: P.Reply) -> None:
        name = SIGNALS.get(type(reply))
        if name is not None:   # the client answers Futures itself; nothing else is left out
            post(self._emit, name, P.reply_args(reply))

    def _emit(self, name: str, args: tuple) -> None:   # the GUI thread
        getattr(self, name).emit(*args)
