"""The process transport: the engine in a training process trains, answers, refuses what cannot
travel, saves and ends cleanly; a pooled process serves the next client."""
from __future__ import annotations

import operator
import os
from pathlib import Path

import pytest

from gan_studio.core.runs import load_checkpoint_file
from gan_studio.session import protocol as P
from gan_studio.session.transport import TRAINING_NICE, live_processes, lower_priority

STEP = operator.attrgetter("step_count")


def test_the_process_transport_trains_and_shuts_down_cleanly(drive, pool):
    d = drive(engine="process")
    info = d.wait_for(P.Opened).info
    proc = d.client.process
    assert proc.is_alive() and live_processes() == [proc]
    d.client.send(P.RunSteps(5))
    assert d.wait_for(P.TargetReached).step == 5
    assert d.ask(P.Call(STEP)) == 5
    with pytest.raises(TypeError, match="training process cannot take this command"):
        d.ask(P.Call(lambda tr: tr.step_count))   # a closure does not pickle: refused here
    d.client.send(P.SetSetting("tricks.packing.enabled", True))
    assert d.ask(P.Call(operator.attrgetter("cfg.tricks.packing.enabled"))) is True
    d.stop()
    proc.join(10)
    assert proc.exitcode == 0 and live_processes() == []
    assert P.Saved(info.run_path) in d.replies
    assert load_checkpoint_file(Path(info.run_path) / "checkpoint.pt")["step"] == 5


def test_a_parked_process_serves_the_next_client(drive, pool, tmp_path):
    pool.keep = 1
    first = drive(engine="process", runs_dir=tmp_path / "a")
    first.wait_for(P.Opened)
    pid = first.client.process.pid
    first.stop()
    assert pool.idle_pids() == {pid} and live_processes() == []   # waiting, not serving
    second = drive(engine="process", runs_dir=tmp_path / "b")
    info = second.wait_for(P.Opened).info
    assert second.client.process.pid == pid and Path(info.run_path).parent == tmp_path / "b"
    second.client.send(P.RunSteps(3))
    assert second.wait_for(P.TargetReached).step == 3
    second.stop()
    pool.clear()
    assert pool.idle_pids() == set() and live_processes() == []


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="POSIX scheduling priorities")
def test_the_training_process_yields_the_cpu_to_the_window(drive, pool):
    """The window's training process runs at a lower priority than the window (TRAINING_NICE), so
    painting and input get a core at once even when every core trains (two branches on 2 cores)."""
    d = drive(engine="process")
    d.wait_for(P.Opened)
    proc = d.client.process
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, proc.pid) == min(19, mine + TRAINING_NICE)
    d.stop()
    proc.join(10)


def test_lower_priority_takes_the_increment_from_the_environment(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "nice", lambda inc: calls.append(inc) or inc, raising=False)
    monkeypatch.setenv("GAN_STUDIO_NICE", "0")
    assert lower_priority() == 0
    monkeypatch.setenv("GAN_STUDIO_NICE", "not a number")
    assert lower_priority() == TRAINING_NICE
    monkeypatch.delenv("GAN_STUDIO_NICE")
    assert lower_priority() == TRAINING_NICE

    def refused(inc):
        raise PermissionError("not allowed")
    monkeypatch.setattr(os, "nice", refused)
    assert lower_priority() is None                 # refused: training goes on at the same priority
    assert calls == [0, TRAINING_NICE, TRAINING_NICE]


def test_the_serving_thread_sleeps_until_a_reply_or_a_command_wakes_it(drive, pool, monkeypatch):
    """The process engine's serving thread waits on the pipe, the process and a wake-up socket, not
    on a 10 ms poll (RELAY_POLL_S): an idle window's client wakes a few times a second at most,
    and a command queued while it sleeps is still sent at once."""
    import time

    from gan_studio.session import client as C
    from gan_studio.session.transport import ProcessTransport
    waits = []
    real = ProcessTransport.receive

    def counted(self, timeout, wake=None):
        waits.append((timeout, wake is not None))
        return real(self, timeout, wake=wake)
    monkeypatch.setattr(ProcessTransport, "receive", counted)
    d = drive(engine="process")
    d.wait_for(P.Opened)
    assert d.ask(P.Call(STEP)) == 0
    time.sleep(0.3)   # let the engine's last replies arrive: from here on the run is idle
    before = len(waits)
    time.sleep(1.0)
    idle_waits = len(waits) - before
    assert all(w == (C.RELAY_IDLE_S, True) for w in waits)
    assert idle_waits <= 2 / C.RELAY_IDLE_S + 2, idle_waits   # a 10 ms poll would be ~100
    # a command sent now is forwarded without waiting for the sleep to end
    t0 = time.perf_counter()
    for _ in range(5):
        assert d.ask(P.Call(STEP)) == 0
    assert (time.perf_counter() - t0) / 5 < C.RELAY_IDLE_S, "each answer waited for the idle timeout"
    d.stop()


def test_an_answer_that_cannot_be_read_here_fails_its_own_question_at_once(drive, pool):
    """The old transport sent replies as objects: one whose unpickling raised in the window's process
    became a general Failed, and the question it answered waited until the engine ended."""
    import time
    from unreadable_answer import unreadable_answer
    d = drive(engine="process")
    d.wait_for(P.Opened)
    start = time.perf_counter()
    with pytest.raises(P.ProtocolError, match="the answer from the training process cannot be read in the "
                                              "window's process: ValueError: this object cannot be rebuilt"):
        d.ask(P.Call(unreadable_answer), timeout=30)
    assert time.perf_counter() - start < 30
    assert d.ask(P.Call(STEP)) == 0   # the session goes on
    d.stop()
