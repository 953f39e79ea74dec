"""What the reply transport costs: a report from the training process to the window as
gan_studio/session/transport.py sends it (``packed``: one ``send_bytes`` of a small header with the
request id, then the reply pickled straight after it; read back with ``recv_bytes`` and unpickled
from a memoryview past the header) against the way 801c27b sent it (``tuple``: the reply pickled,
then sent inside a tuple ``(request_id, bytes)``, so ``conn.send`` pickled the whole report's bytes
once more and the window unpickled them once more). Either way the window reads the request id of
an answer it cannot unpickle, so that question fails at once (what 801c27b needed).

A child process (spawned, as the training process is) sends ``--reports`` reports; this process
receives and unpickles them, as the window does. Rounds alternate between the two ways so that load
from other processes hits them alike. Printed per report: the wall time from asking to the last
report unpickled here, and the CPU time each process spent (the window's receiving, the training
process's sending); medians of the rounds, and the median of the per-round ratios tuple / packed.

    python benchmarks/bench_transport.py [--size image64|image32|2d] [--reports 200] [--rounds 9]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import pickle
import statistics
import time

import numpy as np

from gan_studio.session import protocol as P
from gan_studio.session.payloads import ARROW_POINTS, HEAT_SIDE, METRIC_COLUMNS, VIEW_POINTS, Frame, Report
from gan_studio.session.transport import _read_reply, _replier, _StopFlag, _unpack


def report(size: str, step: int = 1000) -> P.Progress:
    """A report as the engine sends it at its bounded rate: the metrics of the steps since the last
    one and a frame. ``image64``: a 64 px RGB run's grid of 64 tiles (768 KiB), the biggest an image
    run sends; ``image32``: the default 32 px; ``2d``: a 2-D run's samples, heatmap and arrows."""
    rng = np.random.default_rng(0)
    metrics = np.column_stack([np.arange(step - 50, step, dtype=np.float64),
                               rng.standard_normal((50, len(METRIC_COLUMNS) - 1))])
    if size == "2d":
        frame = Frame(step, fake=rng.standard_normal((VIEW_POINTS, 2)).astype(np.float32),
                      heat=rng.integers(0, 256, (HEAT_SIDE, HEAT_SIDE), np.uint8),
                      arrows=rng.standard_normal((ARROW_POINTS, 4)).astype(np.float32))
    else:
        side = 64 if size == "image64" else 32
        frame = Frame(step, tiles=rng.integers(0, 256, (64, side, side, 3), np.uint8), nrow=8)
    evaluation = {"step": step, "fd_classifier": 64.7, "classes_covered": 9}
    return P.Progress(Report(step, True, 12.5, 80.0, metrics, [], frame, evaluation, [evaluation]))


def send_tuple(conn, reply) -> None:
    """801c27b's way: (request_id, pickled reply), pickled again by conn.send."""
    blob = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    conn.send((reply.request_id if isinstance(reply, P.Answer) else None, blob))


def receive_tuple(conn):
    request_id, blob = conn.recv()
    return _read_reply(request_id, blob)


def send_packed(conn, reply) -> None:
    """What the training process does (transport._replier)."""
    _replier(conn, _StopFlag())(reply)


def receive_packed(conn):
    """What the window does (ProcessTransport.receive)."""
    return _read_reply(*_unpack(conn.recv_bytes()))


WAYS = {"tuple": (send_tuple, receive_tuple), "packed": (send_packed, receive_packed)}


def sender(conn, size: str) -> None:
    """The child: for each (way, n) it is asked for, send n reports that way and its CPU time."""
    reply = report(size)
    while True:
        asked = conn.recv()
        if asked is None:
            return
        way, n = asked
        send = WAYS[way][0]
        cpu = time.process_time()
        for _ in range(n):
            send(conn, reply)
        conn.send(time.process_time() - cpu)   # what sending cost the training process


def one_round(conn, way: str, n: int) -> dict[str, float]:
    """Seconds per report: ``wall`` from asking until the last one is unpickled here, ``window`` the
    CPU time this process spent receiving, ``engine`` the child's spent sending."""
    receive = WAYS[way][1]
    t0, cpu = time.perf_counter(), time.process_time()
    conn.send((way, n))
    for _ in range(n):
        got = receive(conn)
    wall, window = time.perf_counter() - t0, time.process_time() - cpu
    engine = conn.recv()
    assert isinstance(got, P.Progress) and got.report.step == 1000
    return {"wall": wall / n, "window": window / n, "engine": engine / n}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("image64", "image32", "2d"), default="image64")
    ap.add_argument("--reports", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args(argv)
    blob = pickle.dumps(report(args.size), protocol=pickle.HIGHEST_PROTOCOL)
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    child = ctx.Process(target=sender, args=(there, args.size), daemon=True)
    child.start()
    there.close()
    try:
        for way in WAYS:   # warm up: imports, the pipe's buffers
            one_round(here, way, 10)
        rounds = []
        for r in range(args.rounds):
            order = list(WAYS) if r % 2 == 0 else list(WAYS)[::-1]
            rounds.append({way: one_round(here, way, args.reports) for way in order})
        here.send(None)
    finally:
        child.join(5.0)
        if child.is_alive():
            child.kill()
    print(f"report {args.size}: {len(blob) / 1024:.0f} KiB pickled; {args.reports} reports x {args.rounds} rounds; "
          "ms a report (median of rounds), tuple / packed (median of the per-round ratios, min-max)")
    for what, said in (("wall", "from sent to unpickled"), ("window", "CPU, the window's process"),
                       ("engine", "CPU, the training process")):
        tup = statistics.median(r["tuple"][what] for r in rounds)
        packed = statistics.median(r["packed"][what] for r in rounds)
        ratios = [r["tuple"][what] / r["packed"][what] for r in rounds]
        print(f"  {said:26s} tuple {tup * 1e3:7.3f}  packed {packed * 1e3:7.3f}  "
              f"tuple / packed {statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
