"""The protocol: every command has a handler, every message survives the pipe, and a message the
engine does not know comes back as an error reply, not a crash."""
from __future__ import annotations

import dataclasses
import inspect
import operator
import pickle

import numpy as np
import pytest

from gan_studio.session import protocol as P
from gan_studio.session.engine import TrainingEngine
from gan_studio.session.payloads import Frame, Report, RunInfo
from gan_studio.session.transport import _pack, _unpack
from session_samples import SAMPLES


def concrete(base: type) -> list[type]:
    """Every dataclass in protocol.py that is a ``base`` and not an abstract base itself."""
    abstract = {P.Command, P.Request, P.Reply}
    return [c for _, c in inspect.getmembers(P, inspect.isclass)
            if issubclass(c, base) and c not in abstract and c.__module__ == P.__name__]


COMMANDS = concrete(P.Command)
REPLIES = concrete(P.Reply)


def example(cls):
    """An instance of a message with a sample value for each field (a new field needs a sample)."""
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in SAMPLES]
    assert not missing, f"session_samples.SAMPLES needs a value for {cls.__name__}.{missing}"
    return cls(**{f.name: SAMPLES[f.name] for f in dataclasses.fields(cls) if f.init})


def same(a, b) -> bool:
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(same(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, BaseException):
        return type(a) is type(b) and a.args == b.args
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if callable(a) and not isinstance(a, type):
        return pickle.dumps(a) == pickle.dumps(b)
    return a == b


def test_every_command_has_a_handler_on_the_engine():
    assert len(COMMANDS) >= 13
    assert set(COMMANDS) == set(P.HANDLERS), "a command without a handler, or a handler without a command"
    for cls, name in P.HANDLERS.items():
        method = getattr(TrainingEngine, name, None)
        assert callable(method), f"{cls.__name__}: TrainingEngine.{name} is missing"
        assert list(inspect.signature(method).parameters) == ["self", "command"], name


@pytest.mark.parametrize("cls", COMMANDS + REPLIES, ids=lambda c: c.__name__)
def test_messages_round_trip_through_pickle(cls):
    message = example(cls)
    back = pickle.loads(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
    assert same(message, back)
    # as the process transport sends it: the request id is read without unpickling (0 is an id)
    request_id, blob = _unpack(bytes(_pack(message)))
    assert same(message, pickle.loads(blob))
    assert request_id == (message.request_id if isinstance(message, (P.Request, P.Answer)) else None)


def test_payloads_round_trip_with_their_arrays():
    report = SAMPLES["report"]
    back = pickle.loads(pickle.dumps(report))
    assert same(report, back) and back.frame.heat.dtype == np.uint8 and back.metrics.shape == (3, 7)


def test_requests_get_an_id_without_changing_their_fields():
    r = P.RenderLatents(np.ones((2, 3), np.float32), 4)
    assert r.request_id == 0
    r7 = dataclasses.replace(r, request_id=7)
    assert r7.request_id == 7 and r7.label == 4 and r7.z.shape == (2, 3)


class NoRun:
    has_run = False


class Run:
    has_run = True

    def start(self, command):
        raise RuntimeError("boom\nsecond line")

    def call(self, command):
        return command.fn(self)

    def set_setting(self, command):
        from gan_studio.core.errors import ConfigError
        raise ConfigError("train.lr_d = 7: out of range")


def run(engine, command) -> list:
    replies: list = []
    P.dispatch(engine, command, replies.append)
    return replies


def test_unknown_commands_are_answered_with_an_error():
    (reply,) = run(Run(), ("run", True))   # the old string commands are not commands now
    assert isinstance(reply, P.Failed) and "unknown command tuple" in reply.message

    @dataclasses.dataclass(frozen=True)
    class Teleport(P.Request):
        where: str

    (answer,) = run(Run(), Teleport("moon", request_id=3))
    assert isinstance(answer, P.Answer) and answer.request_id == 3
    assert isinstance(answer.error, P.ProtocolError) and "Teleport" in str(answer.error)


def test_a_failing_handler_is_a_reply_not_a_crash():
    (reply,) = run(Run(), P.Start())
    assert reply == P.Failed("Start failed: RuntimeError: boom")
    (reply,) = run(Run(), P.SetSetting("train.lr_d", 7))   # a user error: its own one line
    assert reply == P.Failed("train.lr_d = 7: out of range")
    (answer,) = run(Run(), P.Call(operator.methodcaller("missing"), request_id=5))
    assert answer.request_id == 5 and isinstance(answer.error, AttributeError)
    (answer,) = run(Run(), P.Call(operator.attrgetter("has_run"), request_id=6))
    assert answer == P.Answer(6, value=True)


def test_a_handler_that_meets_a_file_in_the_way_or_a_full_disk_says_so_in_words(tmp_path):
    """The window showed 'New failed: NotADirectoryError: [Errno 20] Not a directory: ...' where the
    CLI says '... is a file, where a folder is needed' (`gui --runs-dir notes.txt`)."""
    import errno
    blocker = tmp_path / "notes.txt"
    blocker.write_text("x")

    class Machine(Run):
        def start(self, command):
            (blocker / "run").mkdir()

        def set_setting(self, command):
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "metrics.jsonl"))

    (reply,) = run(Machine(), P.Start())
    assert reply == P.Failed(f"{blocker} is a file, where a folder is needed")
    (reply,) = run(Machine(), P.SetSetting("train.lr_d", 1e-3))
    assert reply == P.Failed(f"disk full while writing {tmp_path / 'metrics.jsonl'}")


def test_without_a_run_commands_wait_and_requests_are_refused():
    assert run(NoRun(), P.Start()) == []
    (answer,) = run(NoRun(), P.Call(operator.attrgetter("step_count"), request_id=9))
    assert answer.request_id == 9 and isinstance(answer.error, P.NoRunError)


def test_reply_args_are_the_fields_in_order():
    assert P.reply_args(P.Diverged("NaN", 40)) == ("NaN", 40)
    info = SAMPLES["info"]
    assert P.reply_args(P.Opened(info)) == (info,)
    assert isinstance(SAMPLES["report"].frame, Frame) and isinstance(info, RunInfo)
    assert isinstance(SAMPLES["report"], Report)
