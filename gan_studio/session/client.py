"""One training engine, driven from other threads (no Qt): the window's side of the session.

Any thread calls :meth:`EngineClient.send`, :meth:`~EngineClient.ask` (a Future for a Request's
answer) and :meth:`~EngineClient.stop`; they only queue. One serving thread (the Qt adapter's
plain thread) runs :meth:`~EngineClient.serve`: it starts the engine through a
transport, forwards the queued commands in order, matches answers to their Futures and hands every
other reply to ``on_reply``. A training process that dies (killed, crashed) is reported (Failed,
then EngineDied) and replaced by a fresh one that reopens its run at the last checkpoint, so
Start, Open and New keep working; a fresh one that dies before it holds a run is the last.

Each client owns one engine: two runs side by side are two clients.
"""
from __future__ import annotations

import itertools
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Callable

from gan_studio.session.protocol import (Answer, Command, EngineDied, Failed, ForkPointsChanged, New, Open, Opened,
                                         Reply, Request, Shutdown)
from gan_studio.session.transport import CannotSend, ProcessTransport, ThreadTransport
from gan_studio.session.wakeup import Wakeup

#: where the engine runs: see transport.py
ENGINES = ("process", "thread")
#: how often the serving thread looks at its command queue while waiting for replies (s), when its
#: transport cannot be woken by a new command (the thread engine: tests, debugging)
RELAY_POLL_S = 0.01
#: the longest a serving thread that a command wakes (the process engine) sleeps between looks at
#: whether it was asked to stop: replies, a command or the process's end wake it at once. Measured
#: (bench_window, two branches on 2 cores): polling every 10 ms took about 5 % of a core from
#: training, for nothing, and as much while the window sat idle
RELAY_IDLE_S = 0.25
#: after stop(), the engine gets this long to save its run before it is ended (s)
STOP_S = 8.0


class EngineClient:
    def __init__(self, first: Command | None, runs_dir: str | Path = "runs", device: str | None = None,
                 engine: str = "process", on_reply: Callable[[Reply], None] | None = None):
        """``first``: the command the engine starts with (New or Open), or None to wait for one."""
        if engine not in ENGINES:
            raise ValueError(f"engine = {engine!r}: one of {', '.join(ENGINES)}")
        self.engine = engine
        self.runs_dir = Path(runs_dir)
        self.device = device
        self.on_reply = on_reply or (lambda reply: None)
        self._first = first
        self._queue: queue.SimpleQueue = queue.SimpleQueue()   # (command, Future or None)
        self._wake = Wakeup()   # each queued command wakes the serving thread's wait
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._lock = threading.Lock()   # a command is queued only while serve() will still read it
        self._closed = False            # serve() has returned: nothing queued now would be read
        self.transport = None
        self._shut_down = False   # Shutdown was sent to the current engine
        self.run_info = None   # the RunInfo of the run the engine holds: reopened should it die
        #: the evaluation steps the engine keeps to fork from (besides the current step), oldest first
        self.fork_steps: tuple[int, ...] = ()

    @property
    def process(self):
        """The training process serving now (None for the thread engine, or before it starts)."""
        t = self.transport
        return t.process if t is not None else None

    # -- any thread ---------------------------------------------------------------------------------
    def send(self, command: Command) -> None:
        self._put(command, None)

    def ask(self, request: Request) -> Future:
        """Send a Request; the Future gets its answer's value (or its error)."""
        fut: Future = Future()
        self._put(replace(request, request_id=next(self._ids)), fut)
        return fut

    def stop(self) -> None:
        """Ask the engine to save its run and end; serve() returns once it has."""
        self._stopping.set()
        self._put(Shutdown(), None)

    def _put(self, command: Command, fut: Future | None) -> None:
        with self._lock:
            if not self._closed:
                self._queue.put((command, fut))
                self._wake.wake()
                return
        # the engine ended for good: a question asked now would wait forever
        if fut is not None and fut.set_running_or_notify_cancel():
            fut.set_exception(RuntimeError(f"the training engine has stopped: {type(command).__name__} was not done"))

    # -- the serving thread -------------------------------------------------------------------------
    def serve(self) -> None:
        first, strikes = self._first, 0
        try:
            while True:
                self.run_info = None
                if self._serve_one(first) != "died" or self._stopping.is_set():
                    return
                info = self.run_info
                if info is not None:
                    strikes = 0
                    saved = (Path(info.run_path) / "checkpoint.pt").is_file()
                    first = Open(info.run_path) if saved else New(info.config)
                else:
                    strikes += 1
                    if strikes > 1:
                        return
                    first = None   # wait for New or Open
        finally:
            with self._lock:   # from now on _put answers a question itself
                self._closed = True
            while True:   # questions nobody will answer now
                try:
                    command, fut = self._queue.get_nowait()
                except queue.Empty:
                    break
                if fut is not None and fut.set_running_or_notify_cancel():
                    fut.set_exception(RuntimeError(f"the training engine has stopped: "
                                                   f"{type(command).__name__} was not done"))
            self._wake.close()

    def _transport(self):
        kind = ProcessTransport if self.engine == "process" else ThreadTransport
        return kind(str(self.runs_dir), self.device)

    def _serve_one(self, first: Command | None) -> str:
        """One engine, from its start to its end: "stopped" (asked to) or "died" (reported)."""
        t = self._transport()
        try:
            t.start()
        except Exception as e:  # noqa: BLE001 - one line for the user, not a dead serving thread
            self.on_reply(Failed(f"the {t.what} could not start: {type(e).__name__}: {str(e).strip()[:160]}"))
            return "stopped"
        self.transport = t
        self._shut_down = False
        pending: dict[int, Future] = {}
        unsent: list[tuple[Command, Future | None]] = []   # met an engine that had gone
        stop_asked_at = None
        how = None
        try:
            if first is not None:
                self._send_first(t, first)
            wait_s = RELAY_IDLE_S if t.wakes else RELAY_POLL_S
            while True:
                self._wake.clear()   # before the queue is drained: a command queued after wakes again
                self._forward(t, pending, unsent)
                for reply in t.receive(wait_s, wake=self._wake):
                    self._deliver(reply, pending)
                how = t.ended()
                if how is not None:
                    if self._stopping.is_set():
                        return "stopped"
                    message = (f"the {t.what} ended unexpectedly ({how}); its run is reopened at the last "
                               "checkpoint: Start continues it, New and Open work as usual")
                    self.on_reply(Failed(message))
                    self.on_reply(EngineDied(message))
                    return "died"
                if self._stopping.is_set():
                    now = time.perf_counter()
                    stop_asked_at = stop_asked_at or now
                    if now - stop_asked_at > STOP_S:   # saving hangs: do not hang the window too
                        t.kill()
                        self.on_reply(Failed(f"the {t.what} did not stop in time and was ended"))
                        return "stopped"
        finally:
            ended = f"the {t.what} has ended ({how or 'it was stopped'})"
            for command, fut in unsent:   # taken off the queue as the engine died: answered, not dropped
                if fut is None:
                    self.on_reply(Failed(f"{type(command).__name__} was not done: {ended}"))
                elif fut.set_running_or_notify_cancel():
                    fut.set_exception(RuntimeError(f"{ended}: {type(command).__name__} was not done"))
            for fut in pending.values():
                if fut.set_running_or_notify_cancel():
                    fut.set_exception(RuntimeError(f"{ended} before answering"))
            t.close()

    def _send_first(self, t, first: Command) -> None:
        """The start command goes before everything queued (it is not queued: nothing slips ahead)."""
        try:
            t.send(first)
        except (CannotSend, OSError) as e:
            self.on_reply(Failed(f"the {t.what} cannot start the run: {e}"))

    def _forward(self, t, pending: dict[int, Future], unsent: list) -> None:
        """Send every queued command, in order. One that cannot be written (the engine has gone) goes
        to ``unsent``: _serve_one answers it once it knows how the engine ended."""
        while True:
            try:
                command, fut = self._queue.get_nowait()
            except queue.Empty:
                return
            if self._shut_down:   # the engine reads nothing after Shutdown
                if fut is not None and fut.set_running_or_notify_cancel():
                    fut.set_exception(RuntimeError("the training engine has stopped"))
                continue
            if fut is not None:
                pending[command.request_id] = fut
            try:
                if isinstance(command, Shutdown):
                    self._shut_down = True
                    t.shutdown()
                else:
                    t.send(command)
            except CannotSend as e:
                if fut is not None:
                    pending.pop(command.request_id, None)
                    if fut.set_running_or_notify_cancel():
                        fut.set_exception(TypeError(f"the {t.what} cannot take this command: {e}"))
                else:
                    self.on_reply(Failed(f"{type(command).__name__}: the {t.what} cannot take it: {e}"))
            except OSError:
                if fut is not None:
                    pending.pop(command.request_id, None)
                if not isinstance(command, Shutdown):   # an engine that has gone is as stopped as asked
                    unsent.append((command, fut))
                return   # the engine has gone: ended() reports it

    def _deliver(self, reply: Reply, pending: dict[int, Future]) -> None:
        if isinstance(reply, Answer):
            fut = pending.pop(reply.request_id, None)
            if fut is not None and fut.set_running_or_notify_cancel():
                if reply.error is not None:
                    fut.set_exception(reply.error)
                else:
                    fut.set_result(reply.value)
            return
        if isinstance(reply, Opened):
            self.run_info = reply.info
        elif isinstance(reply, ForkPointsChanged):
            self.fork_steps = reply.steps
        self.on_reply(reply)
