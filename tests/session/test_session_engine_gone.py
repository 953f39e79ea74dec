"""A command that meets an engine that has gone is answered, never dropped: one taken off the queue
just as the training process died (its write to the pipe fails) gets a Failed reply naming it, or
its Future an error; a question asked after the client has stopped for good fails at once instead
of waiting forever."""
from __future__ import annotations

import operator
import os
import signal

import pytest

from gan_studio.session import protocol as P
from gan_studio.session.transport import ProcessTransport

STEP = operator.attrgetter("step_count")


def test_commands_sent_as_the_training_process_dies_are_answered(drive, pool, monkeypatch):
    d = drive(engine="process")
    d.wait_for(P.Opened)
    real_send, kill_at = ProcessTransport.send, {P.Call, P.Save}

    def send(self, command):
        if type(command) in kill_at and self.process.is_alive():   # once for each kind
            kill_at.discard(type(command))
            os.kill(self.process.pid, signal.SIGKILL)   # the process dies just before the write
            self.process.join(10)
        return real_send(self, command)
    monkeypatch.setattr(ProcessTransport, "send", send)
    question = d.client.ask(P.Call(STEP))
    with pytest.raises(RuntimeError, match=r"the training process has ended \(killed by SIGKILL\): Call was not done"):
        question.result(timeout=30)
    d.wait_for(P.EngineDied)
    d.wait_for(P.Opened)   # the run is reopened in a fresh process
    d.client.send(P.Save())
    d.wait_for(P.EngineDied)
    not_done = d.wait_for(P.Failed, lambda r: r.message.startswith("Save was not done"))
    assert not_done.message == "Save was not done: the training process has ended (killed by SIGKILL)"
    d.wait_for(P.Opened)
    assert d.ask(P.Call(STEP)) == 0   # and the fresh process answers


def test_a_question_asked_after_the_engine_stopped_fails_at_once(drive):
    d = drive(engine="thread")
    d.wait_for(P.Opened)
    d.stop()
    question = d.client.ask(P.Call(STEP))
    with pytest.raises(RuntimeError, match="the training engine has stopped: Call was not done"):
        question.result(timeout=5)
