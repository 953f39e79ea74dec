"""PySide6 6.12.0 on Python 3.11 loses references to None/True and aborts the window: the dependency
list excludes it, and a broken PySide6 installed anyway is refused with one line before any window."""
from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from gan_studio.app import qt_workarounds
from gan_studio.app.qt_workarounds import BrokenPySide, check_pyside, none_refcount_leaks

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def broken(monkeypatch):
    """Pretend the installed PySide6 has the bug."""
    monkeypatch.setattr(qt_workarounds, "none_refcount_leaks", lambda: True)


def test_the_dependency_list_excludes_the_broken_pyside_on_python_311():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    reqs = [Requirement(d) for d in deps if Requirement(d).name.lower() == "pyside6-essentials"]

    def allowed(version: str, python: str) -> bool:
        env = {"python_version": python, "python_full_version": python + ".0"}
        applying = [r for r in reqs if r.marker is None or r.marker.evaluate(env)]
        assert applying, f"no PySide6-Essentials requirement applies on Python {python}"
        return all(r.specifier.contains(version, prereleases=True) for r in applying)

    assert not allowed("6.12.0", "3.11")
    assert allowed("6.11.3", "3.11") and allowed("6.5.3", "3.11")
    assert allowed("6.12.0", "3.12") and allowed("6.12.0", "3.13")   # None is immortal from 3.12


def test_the_installed_pyside_passes_the_check():
    # pyproject.toml keeps the broken combination out of a normal install
    assert none_refcount_leaks() is False
    check_pyside()


def test_no_reference_count_is_touched_by_hand():
    for path in (ROOT / "gan_studio").rglob("*.py"):
        text = path.read_text()
        assert not any(s in text for s in (".from_address(", "pythonapi.Py_IncRef", "ob_refcnt")), path
    assert "ctypes" not in (ROOT / "gan_studio" / "app" / "qt_workarounds.py").read_text()


def test_a_broken_pyside_is_refused_with_one_line(broken):
    with pytest.raises(BrokenPySide) as e:
        check_pyside()
    message = str(e.value)
    assert "\n" not in message
    assert "reference-count bug that crashes the window" in message
    assert "PySide6-Essentials<6.12" in message
    assert f"Python {sys.version_info.major}.{sys.version_info.minor}" in message


def test_the_window_refuses_to_open_on_a_broken_pyside(broken, qtbot, tmp_path):
    from gan_studio.app.main_window import MainWindow
    with pytest.raises(BrokenPySide):
        MainWindow(runs_dir=tmp_path / "runs", engine="thread")


def test_gan_studio_gui_exits_non_zero_before_any_window(broken, monkeypatch, capsys, tmp_path):
    import gan_studio.app.main_window as main_window
    from gan_studio.cli import main

    def no_window(*args, **kwargs):
        raise AssertionError("a window was created on a broken PySide6")
    monkeypatch.setattr(main_window, "MainWindow", no_window)
    monkeypatch.chdir(tmp_path)
    rc = main(["gui", "--screenshot", str(tmp_path / "x.png")])
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert len(err.splitlines()) == 1, err
    assert err.startswith("gan-studio gui: error: PySide6 ")
    assert "reference-count bug" in err
    assert not (tmp_path / "x.png").exists()
