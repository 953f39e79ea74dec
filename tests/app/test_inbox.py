"""No Qt call off the GUI thread: replies and answers reach the window through app/inbox.py.

A signal emitted from the serving thread once hung a CI run: the emit held a Qt lock while it
waited for the GIL, and the GUI thread, holding the GIL, waited for that lock to delete a menu."""
from __future__ import annotations

import threading

from studio_helpers import WAIT_MS, tiny_config

from gan_studio.app import inbox as inbox_module
from gan_studio.app.worker import TrainingWorker


def test_a_call_posted_from_another_thread_runs_in_the_gui_thread_in_order(qtbot):
    inbox_module.inbox()
    seen = []

    def poster():
        for i in range(50):
            inbox_module.post(lambda i=i: seen.append((i, threading.current_thread())))
    t = threading.Thread(target=poster)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: len(seen) == 50, timeout=WAIT_MS)
    assert [i for i, _ in seen] == list(range(50))
    assert {th for _, th in seen} == {threading.main_thread()}


def test_a_call_to_a_deleted_receiver_is_dropped_not_raised(qtbot):
    from PySide6.QtCore import QObject, Signal

    class Box(QObject):
        ping = Signal()
    box = Box()
    emit = box.ping.emit
    import shiboken6
    shiboken6.delete(box)
    inbox_module.post(emit)
    after = []
    inbox_module.post(lambda: after.append(1))
    qtbot.waitUntil(lambda: after == [1], timeout=WAIT_MS)   # the next call still ran


def test_the_worker_thread_never_emits_a_signal(qtbot, tmp_path, monkeypatch):
    """Every signal of the worker is emitted in the GUI thread, and the serving thread makes no
    Qt call: QObject emits made off the GUI thread are counted."""
    from PySide6.QtCore import Qt
    worker = TrainingWorker(tiny_config(), runs_dir=tmp_path, engine="thread")
    threads = []
    for name in ("session", "report", "running_changed", "target_reached", "saved"):
        getattr(worker, name).connect(lambda *a: threads.append(threading.current_thread()),
                                      Qt.ConnectionType.DirectConnection)
    with qtbot.waitSignal(worker.session, timeout=WAIT_MS):
        worker.start()
    with qtbot.waitSignal(worker.target_reached, timeout=WAIT_MS):
        worker.run_steps(12)
    fut = worker.call(lambda tr: threading.current_thread().name)
    assert fut.result(timeout=WAIT_MS / 1000) != threading.main_thread().name
    worker.stop()
    assert worker.wait(WAIT_MS)
    assert not worker.isRunning()
    qtbot.waitUntil(lambda: len(threads) >= 3, timeout=WAIT_MS)
    assert set(threads) == {threading.main_thread()}


def _make_cycles(trainer) -> int:
    """Garbage in reference cycles, made in the engine's thread: enough to start Python's collector
    several times over, were it on."""
    for _ in range(20_000):
        a: list = []
        a.append(a)
    return 1


def test_garbage_is_collected_only_in_the_gui_thread_while_a_worker_runs(qtbot, tmp_path):
    """Python's collector, run by a training thread, once deleted a closed window's widgets there and
    deadlocked against the GUI thread (a CI hang). While a worker runs, only the GUI thread collects."""
    import gc
    assert gc.isenabled()
    threads = []

    def on_collect(phase, info):
        if phase == "start":
            threads.append(threading.current_thread())
    worker = TrainingWorker(tiny_config(), runs_dir=tmp_path, engine="thread")
    gc.callbacks.append(on_collect)
    try:
        with qtbot.waitSignal(worker.session, timeout=WAIT_MS):
            worker.start()
        assert not gc.isenabled() and inbox_module.collecting_in_gui_thread()
        assert worker.call(_make_cycles).result(timeout=WAIT_MS / 1000) == 1
        with qtbot.waitSignal(worker.target_reached, timeout=WAIT_MS):
            worker.run_steps(20)
        qtbot.waitUntil(lambda: threading.main_thread() in threads, timeout=WAIT_MS)   # the timer collects
        worker.stop()
        assert worker.wait(WAIT_MS)
    finally:
        gc.callbacks.remove(on_collect)
    assert set(threads) == {threading.main_thread()}
    assert gc.isenabled() and not inbox_module.collecting_in_gui_thread()   # as it was, once the thread ended


def test_an_inbox_made_before_the_application_is_made_again_with_its_calls_and_holds(qtbot):
    """A worker made without an application (a script, a test without qtbot) leaves an inbox whose
    notifier no event loop watches; the next GUI-thread use makes a new one and carries what was
    posted, in order, and the collector's holds."""
    first = inbox_module.inbox()
    ran = []
    first.post(ran.append, 1)
    first.post(ran.append, 2)
    inbox_module.hold_collector(-1)
    try:
        first.app = None                   # as if made before any application existed
        second = inbox_module.inbox()
        assert second is not first and second.app is not None
        assert inbox_module.collecting_in_gui_thread()
        inbox_module.post(ran.append, 3)
        qtbot.waitUntil(lambda: ran == [1, 2, 3], timeout=WAIT_MS)
    finally:
        inbox_module.release_collector(-1)
    import gc
    assert gc.isenabled() and not inbox_module.collecting_in_gui_thread()


def test_no_wake_up_is_lost_while_the_gui_thread_drains_and_threads_post(qtbot):
    """Posts racing with drains: every call runs. (A "wake-up on its way" flag once lost one: a drain
    read the byte of a post made during it and left the flag set, and no later post woke it.)"""
    inbox_module.inbox()
    done = []

    def poster(n):
        for i in range(n):
            inbox_module.post(done.append, i)
            if i % 7 == 0:
                threading.Event().wait(0.0002)   # let the GUI thread drain in between
    for _round in range(20):
        done.clear()
        ts = [threading.Thread(target=poster, args=(300,)) for _ in range(2)]
        for t in ts:
            t.start()
        qtbot.waitUntil(lambda: len(done) == 600, timeout=WAIT_MS)
        for t in ts:
            t.join()
