"""How commands reach a TrainingEngine and replies come back: in a training process (the studio's
default) or in a thread (fast tests). Both carry protocol.py's dataclasses; the client (client.py)
drives either through the same five calls: start, send/shutdown, receive, ended, close.

- :class:`ProcessTransport`: the engine in a child process, over a pipe. The GIL is per process, so
  painting the window (pyqtgraph draws in Python) cannot stall training and training cannot stall
  the event loop; measured on this 2-core machine, the window in the same process cut training to
  about a quarter of headless speed (benchmarks/bench_window.py). Everything crossing the pipe is
  pickled, so a Call's function must be a module-level function (or a functools.partial of one);
  each message is its request id, then the message pickled (:func:`_pack`).
- :class:`ThreadTransport`: the engine in a thread of this process, sharing the GIL; nothing is
  pickled, so a Call may carry any closure. Fast unit tests use it.

A training process that finished its session may wait for the next one in :data:`PROCESS_POOL`
(``keep`` processes, 0 by default: the studio keeps its one process for its lifetime; the test
suite keeps one, so the window tests do not each import torch again). It is reused only by a
client of the same environment, working directory and sys.path it was started with.
"""
from __future__ import annotations

import atexit
import io
import os
import pickle
import queue
import struct
import sys
import threading
from dataclasses import dataclass

from gan_studio.session.engine import TrainingEngine, worker_threads
from gan_studio.session.protocol import Answer, Failed, ProtocolError, Reply, Shutdown

#: the name of the training process (and of the in-thread engine's thread): tests look for leftovers
PROCESS_NAME = "gan-studio-training"
#: most replies read in one receive(): queued commands are forwarded between batches
MAX_BATCH = 64
#: how much a training process lowers its scheduling priority (POSIX ``nice``), so that the window
#: (and the rest of the desktop) gets a core the moment it wants one. Training keeps every cycle
#: nothing else asks for; what it yields is the window's painting, which is short. Measured with two
#: branches on 2 cores (3 busy processes): the UI's p99 event latency 62 -> 30 ms. $GAN_STUDIO_NICE
#: sets another increment (0: none)
TRAINING_NICE = 5


def lower_priority() -> int | None:
    """Lower this process's priority by $GAN_STUDIO_NICE (default :data:`TRAINING_NICE`); the new
    niceness, or None where the OS has no ``nice`` (Windows) or refuses."""
    if not hasattr(os, "nice"):
        return None
    try:
        inc = int(os.environ.get("GAN_STUDIO_NICE", TRAINING_NICE))
    except ValueError:
        inc = TRAINING_NICE
    try:
        return os.nice(max(0, inc))
    except OSError:
        return None


class CannotSend(Exception):
    """A command that cannot travel to the engine (a closure through the process transport)."""


# -- control messages of the process transport (never seen by the engine) ------------------------
@dataclass(frozen=True)
class _Attach:
    """Start an engine for this client (the first message a training process reads)."""
    runs_dir: str
    device: str | None


@dataclass(frozen=True)
class _Detach:
    """Sent right after Shutdown: park (wait for the next _Attach) or end once the run is saved."""
    park: bool


@dataclass(frozen=True)
class _Parked(Reply):
    """The training process saved its run and waits for the next client."""


# -- in a thread -----------------------------------------------------------------------------------
class ThreadTransport:
    what = "training thread"
    process = None
    #: receive() cannot also wait on a wake-up: the client polls its command queue instead
    wakes = False

    def __init__(self, runs_dir: str, device: str | None):
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, args=(runs_dir, device), name=PROCESS_NAME,
                                        daemon=True)

    def _serve(self, runs_dir: str, device: str | None) -> None:
        try:
            TrainingEngine(runs_dir, device, self._inbox, self._outbox.put).serve()
        except BaseException as e:  # noqa: BLE001 - reported by ended(), as a dead process would be
            self._error = e

    def start(self) -> None:
        self._thread.start()

    def send(self, command) -> None:
        self._inbox.put(command)

    def shutdown(self) -> None:
        self._inbox.put(Shutdown())

    def receive(self, timeout: float, wake=None) -> list:
        """The replies waiting (up to MAX_BATCH), after waiting up to ``timeout`` for one (``wake`` is
        not waited on: see ``wakes``)."""
        try:
            replies = [self._outbox.get(timeout=timeout)]
        except queue.Empty:
            return []
        while len(replies) < MAX_BATCH:
            try:
                replies.append(self._outbox.get_nowait())
            except queue.Empty:
                break
        return replies

    def ended(self) -> str | None:
        """None while the engine serves (or has replies unread); else how it ended."""
        if self._thread.is_alive() or not self._outbox.empty():
            return None
        e = self._error
        return "it stopped" if e is None else f"{type(e).__name__}: {e}"

    def kill(self) -> None:
        """A thread cannot be ended from outside: it was asked to stop; it ends when it can."""

    def close(self) -> None:
        self._thread.join(timeout=2.0)


# -- in a child process ------------------------------------------------------------------------------
#: environment variables that change while nothing the engine reads does (pytest names each test)
_VOLATILE_ENV = {"PYTEST_CURRENT_TEST"}


def environment_key() -> tuple:
    """What a training process inherits when it starts: a parked one serves only a client whose
    key is the same (a test that changes $GAN_STUDIO_CONFIG_DIR gets a fresh process)."""
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k not in _VOLATILE_ENV))
    return env, os.getcwd(), tuple(sys.path)


class ProcessPool:
    """Training processes that saved their run and wait for the next client (see the module docstring)."""

    def __init__(self, keep: int = 0):
        self.keep = keep
        self._idle: list[tuple[tuple, object, object]] = []   # (environment key, process, connection)
        self._lock = threading.Lock()

    def take(self, key: tuple):
        """(process, connection) of an idle process started with ``key``, or None."""
        with self._lock:
            for i, (k, proc, conn) in enumerate(self._idle):
                if k == key and proc.is_alive():
                    del self._idle[i]
                    return proc, conn
        return None

    def give(self, key: tuple, proc, conn) -> bool:
        """Keep an idle process for the next client; False when the pool is full or off."""
        if self.keep <= 0 or not proc.is_alive():
            return False
        with self._lock:
            self._idle.append((key, proc, conn))
            extra, self._idle = self._idle[:-self.keep], self._idle[-self.keep:]
        for _, proc, conn in extra:
            _end(proc, conn)
        return True

    def idle_pids(self) -> set[int]:
        with self._lock:
            return {proc.pid for _, proc, _ in self._idle}

    def clear(self) -> None:
        """End every idle process (the test session's end, the interpreter's exit)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for _, proc, conn in idle:
            _end(proc, conn)


#: see the module docstring; tests/app/conftest.py sets keep = 1
PROCESS_POOL = ProcessPool()
atexit.register(PROCESS_POOL.clear)


def _end(proc, conn) -> None:
    conn.close()   # an idle training process reads the closed pipe and ends
    proc.join(2.0)
    if proc.is_alive():
        proc.kill()
        proc.join(2.0)


class ProcessTransport:
    what = "training process"
    #: receive() also returns when ``wake`` is readable (a command was queued): no polling
    wakes = True

    def __init__(self, runs_dir: str, device: str | None, pool: ProcessPool | None = None):
        self.runs_dir, self.device = runs_dir, device
        self.pool = pool if pool is not None else PROCESS_POOL
        self.process = None
        self._conn = None
        self._key: tuple = ()
        self._closed = False    # the child's end of the pipe is closed: it has ended or is ending
        self._parked = False

    def start(self) -> None:
        import multiprocessing as mp
        self._key = environment_key()
        taken = self.pool.take(self._key)
        if taken is not None:
            self.process, self._conn = taken
            try:
                self._write(_Attach(self.runs_dir, self.device))
                return
            except OSError:   # it died while it waited: start a fresh one
                self._conn.close()
        ctx = mp.get_context("spawn")   # never fork a process that runs Qt
        here, there = ctx.Pipe()
        proc = ctx.Process(target=serve_in_process, name=PROCESS_NAME, daemon=True, args=(there,))
        proc.start()
        there.close()
        self.process, self._conn = proc, here
        try:
            self._write(_Attach(self.runs_dir, self.device))
        except OSError:
            _end(proc, here)
            raise

    def _write(self, message) -> None:
        """One message down the pipe (:func:`_pack`): the child can answer a request whose message
        it cannot unpickle (a function from a module it cannot import). Replies come back the same
        way (_replier, _read_reply)."""
        try:
            packed = _pack(message)
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            raise CannotSend(str(e)) from e
        self._conn.send_bytes(packed)

    def send(self, command) -> None:
        self._write(command)

    def shutdown(self) -> None:
        self._write(Shutdown())
        self._write(_Detach(park=self.pool.keep > 0))

    def receive(self, timeout: float, wake=None) -> list:
        """The replies waiting (up to MAX_BATCH), after waiting up to ``timeout`` for one, for the
        process's end, or for ``wake`` (a socket or anything with fileno()) to become readable."""
        from multiprocessing.connection import wait
        conn = self._conn
        extra = [wake] if wake is not None else []
        if self._closed:
            wait([self.process.sentinel, *extra], timeout=timeout)
            return []
        replies: list = []
        if conn not in wait([conn, self.process.sentinel, *extra], timeout=timeout):
            return replies
        while len(replies) < MAX_BATCH:
            try:
                if not conn.poll(0):
                    break
                data = conn.recv_bytes()
            except (EOFError, OSError):
                self._closed = True
                break
            message = _read_reply(*_unpack(data))
            if isinstance(message, _Parked):
                self._parked = True
            else:
                replies.append(message)
        return replies

    def ended(self) -> str | None:
        if self._parked:
            return "parked"
        if self.process.is_alive() or (not self._closed and _readable(self._conn)):
            return None
        code = self.process.exitcode
        return f"killed by {_signal_name(-code)}" if code is not None and code < 0 else f"exit code {code}"

    def kill(self) -> None:
        self.process.terminate()

    def close(self) -> None:
        if self._parked and self.pool.give(self._key, self.process, self._conn):
            return
        _end(self.process, self._conn)


def live_processes() -> list:
    """Training processes serving a client now (idle ones in the pool are not counted; tests check
    that none is left behind)."""
    import multiprocessing as mp
    idle = PROCESS_POOL.idle_pids()
    return [p for p in mp.active_children() if p.name == PROCESS_NAME and p.pid not in idle]


# -- the child process's main loop -------------------------------------------------------------------
class _StopFlag:
    """threading.Event's is_set()/set() without its lock, so a signal handler may set it."""

    def __init__(self):
        self.asked = False       # Shutdown (or the window's end of the pipe closed)
        self.signalled = False   # SIGTERM: save the run and end the process

    def is_set(self) -> bool:
        return self.asked or self.signalled

    def set(self) -> None:
        self.asked = True


class _PipeInbox:
    """The engine's inbox in the child: the pipe from the client. A closed pipe (the window died)
    reads as Shutdown, so the run is saved before the child ends."""

    def __init__(self, conn, reply):
        self.conn, self.reply = conn, reply

    def get(self, timeout: float | None = None):
        if not self.conn.poll(timeout):
            raise queue.Empty
        try:
            request_id, blob = _unpack(self.conn.recv_bytes())
        except (EOFError, OSError):
            return Shutdown()
        try:
            return pickle.loads(blob)
        except Exception as e:  # noqa: BLE001 - answered, not fatal
            error = ProtocolError(f"the training process cannot read this command: {type(e).__name__}: {e}")
            self.reply(Failed(str(error)) if request_id is None else Answer(request_id, error=error))
            raise queue.Empty from None

    def get_nowait(self):
        return self.get(0)


#: what precedes each pickled message on the pipe: whether it has a request id, and the id
_HEADER = struct.Struct("<?q")


def _pack(message) -> memoryview:
    """``message`` as one message of the pipe: a header with its request id (a Request's, an
    Answer's; None for any other), then the message pickled. The id is read without unpickling, so a
    command the training process cannot unpickle is answered, and an answer the window cannot
    unpickle fails its own question (_read_reply). Pickled straight after the header: a report's
    bytes are not copied again, as they were inside a pickled (request_id, bytes) tuple; measured
    on a 64 px image run's report (771 KiB), that tuple cost the training process 3x the CPU time
    to send it and the window 1.1-1.6x to read it (benchmarks/bench_transport.py)."""
    request_id = getattr(message, "request_id", None)
    request_id = request_id if isinstance(request_id, int) else None
    buf = io.BytesIO()
    buf.write(_HEADER.pack(request_id is not None, request_id or 0))
    pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(message)
    return buf.getbuffer()


def _unpack(data: bytes) -> tuple[int | None, memoryview]:
    """(request id or None, the pickled message) of a message :func:`_pack` made; nothing is copied."""
    has_id, request_id = _HEADER.unpack_from(data)
    return (request_id if has_id else None), memoryview(data)[_HEADER.size:]


def _read_reply(request_id: int | None, blob):
    """A reply from the pipe (:func:`_unpack`: its request id, the reply pickled). One that cannot be unpickled here (a
    class this process cannot import, an object whose unpickling raises) fails its own question at
    once, when it answers one, instead of leaving that question waiting until the engine ends."""
    try:
        return pickle.loads(blob)
    except Exception as e:  # noqa: BLE001 - one reply, not the session
        why = f"{type(e).__name__}: {str(e).strip()[:200]}"
        if request_id is None:
            return Failed(f"a reply from the training process could not be read: {why}")
        return Answer(request_id, error=ProtocolError(f"the answer from the training process cannot be read in "
                                                      f"the window's process: {why}"))


def _portable(error: BaseException) -> BaseException:
    """The error itself when it survives pickling both ways, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(error).__name__}: {error}")


def _replier(conn, stop: _StopFlag):
    def reply(message) -> None:
        if isinstance(message, Answer) and message.error is not None:
            message = Answer(message.request_id, error=_portable(message.error))
        # its request id, then the reply pickled, as commands travel: the window can fail the one
        # question whose answer it cannot unpickle (see _read_reply)
        try:
            packed = _pack(message)
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            fallback = (Answer(message.request_id, error=TypeError(f"the answer cannot leave the training process: {e}"))
                        if isinstance(message, Answer) else
                        Failed(f"a {type(message).__name__} could not leave the training process: {e}"))
            reply(fallback)
            return
        try:
            conn.send_bytes(packed)
        except (BrokenPipeError, EOFError, OSError):
            stop.set()   # the window is gone: save and end
    return reply


def _next_control(conn, stop: _StopFlag):
    """The next control message (_Attach, _Detach), or None once the pipe is closed or SIGTERM came."""
    while not stop.signalled:
        try:
            if not conn.poll(0.5):
                continue
            _, blob = _unpack(conn.recv_bytes())
        except (EOFError, OSError):
            return None
        return pickle.loads(blob)
    return None


def serve_in_process(conn) -> None:
    """The training process: an engine for each client that attaches, replies down the pipe.

    Ctrl+C in the terminal reaches the whole process group: the child ignores SIGINT and lets the
    window ask it to save. SIGTERM (sent to the child alone, or to the group) ends the serve loop
    after the current step, so the run is saved at that step before the process exits."""
    import signal
    stop = _StopFlag()
    if hasattr(signal, "SIGINT"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, lambda signum, frame: setattr(stop, "signalled", True))
    lower_priority()
    import torch
    torch.set_num_threads(worker_threads())
    reply = _replier(conn, stop)
    try:
        while not stop.signalled:
            message = _next_control(conn, stop)
            if isinstance(message, _Attach):
                stop.asked = False
                TrainingEngine(message.runs_dir, message.device, _PipeInbox(conn, reply), reply, stop).serve()
            elif isinstance(message, _Detach) and message.park:
                reply(_Parked())
            else:
                return
    finally:
        conn.close()


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
