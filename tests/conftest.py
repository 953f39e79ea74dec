import os

# Qt runs headless in tests; set before anything imports Qt
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GAN_STUDIO_TEST", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

# tests train tiny networks: one thread is faster than two fighting a loaded 2-core machine
torch.set_num_threads(1)


@pytest.fixture
def tmp_run(tmp_path):
    return tmp_path / "run"


# -- Qt: no test may leave a training thread running (napari's _dangling_qthreads idea) -------------
@pytest.fixture(autouse=True)
def _no_dangling_threads(request):
    """Fail a test that leaves a QThread or a Python thread it started still running."""
    import sys
    import threading
    before = set(threading.enumerate())
    yield
    # a QThread that ran Python code shows up as a _DummyThread that never dies: QThreads are
    # checked through the worker registry instead
    worker_module = sys.modules.get("gan_studio.app.worker")  # never import Qt for core tests
    workers = [w for w in list(worker_module.LIVE_WORKERS) if w.isRunning()] if worker_module else []
    theirs = {w._thread for w in workers}   # named once, as the worker
    leftovers = [t for t in threading.enumerate() if t not in before and t.is_alive()
                 and not isinstance(t, threading._DummyThread) and t not in theirs]
    children = worker_module.live_processes() if worker_module else []   # the process engine's
    if workers or leftovers or children:
        for w in workers:  # stop them so one failure does not cascade into the next tests
            w.stop()
            w.wait(5000)
        for p in children:
            p.kill()
            p.join(5)
        names = ([w.objectName() or type(w).__name__ for w in workers] + [t.name for t in leftovers]
                 + [p.name for p in children])
        pytest.fail(f"{request.node.name} left threads running: {', '.join(names)}", pytrace=False)


# -- the fast paths (core/fast) on and off -------------------------------------------------------------
@pytest.fixture(params=[True, False], ids=["fast", "plain"])
def fast_paths(request, monkeypatch):
    """Run a test twice: every Config made during it starts with ``train.fast_paths`` on, then off
    (a config that sets it, or one loaded from a file or checkpoint, keeps its own value)."""
    from gan_studio.core import config
    made = config.TrainConfig.__init__

    def init(self, *args, **kwargs):
        made(self, *args, **kwargs)
        if "fast_paths" not in kwargs:
            self.fast_paths = request.param
    monkeypatch.setattr(config.TrainConfig, "__init__", init)
    return request.param
