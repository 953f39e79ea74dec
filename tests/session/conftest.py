"""A Qt-free driver for the session tests: one EngineClient served by a plain thread, its replies
logged, stopped (and its engine's run saved) at the end of every test."""
from __future__ import annotations

import queue
import threading
import time

import pytest

from gan_studio.core.presets import load_preset
from gan_studio.session import protocol as P
from gan_studio.session.client import EngineClient
from gan_studio.session.transport import PROCESS_POOL

#: an engine answers within this many seconds even on a loaded 2-core machine (a fresh training
#: process imports torch first)
WAIT_S = 60.0


def tiny_config(preset: str = "ring8", **overrides):
    cfg = load_preset(preset)
    for key, value in {"model.g_width": 16, "model.d_width": 16, "model.g_depth": 2, "model.d_depth": 2,
                       "train.batch_size": 32, "train.log_every": 5, "train.eval_every": 10_000,
                       "train.snapshot_every": 10_000, "train.checkpoint_every": 10_000,
                       "train.device": "cpu", **overrides}.items():
        cfg.set(key, value)
    return cfg


@pytest.fixture
def pool(monkeypatch):
    """The pool of warm training processes, keeping none: each test's process is its own and ends with it."""
    monkeypatch.setattr(PROCESS_POOL, "keep", 0)
    yield PROCESS_POOL
    PROCESS_POOL.clear()


class Driver:
    """An EngineClient with its replies in order; ``wait_for`` returns the first unseen one of a kind."""

    def __init__(self, first, runs_dir, engine: str):
        self.replies: list = []
        self._arrived: queue.SimpleQueue = queue.SimpleQueue()
        self.client = EngineClient(first, runs_dir, "cpu", engine=engine, on_reply=self._arrived.put)
        self.thread = threading.Thread(target=self.client.serve, name="test-session-client")
        self.thread.start()

    def wait_for(self, kind, where=lambda r: True, timeout: float = WAIT_S):
        deadline = time.monotonic() + timeout
        while True:
            for r in self.replies:
                if isinstance(r, kind) and where(r) and not getattr(r, "_seen", False):
                    object.__setattr__(r, "_seen", True)   # frozen dataclass: a test-only mark
                    return r
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind.__name__} within {timeout} s; got "
                                     f"{[r if isinstance(r, P.Failed) else type(r).__name__ for r in self.replies]}")
            try:
                self.replies.append(self._arrived.get(timeout=min(left, 0.2)))
            except queue.Empty:
                pass

    def ask(self, request, timeout: float = WAIT_S):
        return self.client.ask(request).result(timeout=timeout)

    def stop(self, timeout: float = WAIT_S) -> None:
        self.client.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the client did not stop"
        while True:
            try:
                self.replies.append(self._arrived.get_nowait())
            except queue.Empty:
                return


@pytest.fixture
def drive(tmp_path):
    drivers: list[Driver] = []

    def make(first=None, engine: str = "thread", runs_dir=None):
        d = Driver(first if first is not None else P.New(tiny_config()), runs_dir or tmp_path / "runs", engine)
        drivers.append(d)
        return d

    yield make
    for d in drivers:
        if d.thread.is_alive():
            d.stop()
