"""The suite's own guard: a test that leaves a training thread running fails."""
from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]

LEAKY_TEST = '''
from studio_helpers import tiny_config
from gan_studio.app.worker import TrainingWorker

def test_forgets_to_stop_the_worker(tmp_path):
    worker = TrainingWorker(tiny_config(), runs_dir=tmp_path, engine="thread")
    worker.start()
    worker.start_training()
'''


def test_a_test_that_leaves_a_worker_running_fails(pytester):
    root = Path(__file__).resolve().parents[1]
    pytester.makeconftest((root / "conftest.py").read_text())
    pytester.syspathinsert(root / "app")
    pytester.makepyfile(test_leaky=LEAKY_TEST)
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*test_forgets_to_stop_the_worker left threads running: TrainingWorker*"])
