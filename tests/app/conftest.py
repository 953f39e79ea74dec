"""Fixtures for the window tests: isolated QSettings, a tiny fast config, a window that is closed
(and its worker stopped) at the end of every test. Windows train in a training process, as the
studio does; one process is shared by the tests in turn (session/transport.py: PROCESS_POOL), so
each window does not import torch again."""
from __future__ import annotations

import gc
import os

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QCoreApplication, QEvent, QSettings  # noqa: E402

from studio_helpers import WAIT_MS, tiny_config  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory):
    """Every test gets its own QSettings folder: no layout leaks between tests or into $HOME."""
    folder = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    # QSettings(organisation, application), as the window makes it, is NativeFormat whatever the
    # default format: without this, a test's layout went to the real ~/.config
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(folder))
    yield folder


#: where the windows of these tests train: the studio's training process. GAN_STUDIO_TEST_ENGINE=thread
#: trains them in a thread instead (to compare the suite's time; the tests that are about the
#: process itself ask for it by name)
DEFAULT_ENGINE = os.environ.get("GAN_STUDIO_TEST_ENGINE", "process")


@pytest.fixture(autouse=True, scope="session")
def shared_training_process():
    """A window's training process, once its run is saved, waits for the next test's window."""
    from gan_studio.session.transport import PROCESS_POOL
    PROCESS_POOL.keep = 1
    yield PROCESS_POOL
    PROCESS_POOL.keep = 0
    PROCESS_POOL.clear()


@pytest.fixture
def fresh_training_processes(shared_training_process, monkeypatch):
    """This test's windows end their training process on close, as the studio does."""
    shared_training_process.clear()
    monkeypatch.setattr(shared_training_process, "keep", 0)


@pytest.fixture
def make_window(qtbot, tmp_path):
    from gan_studio.app.main_window import MainWindow
    windows = []

    def make(cfg=None, open_path=None, speed: int | None = 1, engine: str = DEFAULT_ENGINE):
        # the studio's engine: win.worker.call needs a picklable function (studio_helpers.py)
        win = MainWindow(cfg if cfg is not None or open_path else tiny_config(), runs_dir=tmp_path / "runs",
                         open_path=open_path, engine=engine)
        qtbot.addWidget(win)
        if speed is not None:
            win.speed.setValue(speed)   # a view every step: tests see every change at once
        win.show()
        # a fresh training process first starts Python and imports torch: slow on a loaded machine
        qtbot.waitUntil(lambda: win.state.session is not None, timeout=3 * WAIT_MS)
        windows.append(win)
        return win

    yield make
    for win in windows:
        win.close()
        assert not win.worker.isRunning()
        win.deleteLater()
    # delete the windows while the QApplication lives: left to the interpreter's exit, the
    # collector frees Qt objects in an order that PySide6 6.12 does not survive
    windows.clear()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
