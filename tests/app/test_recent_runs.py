"""File > Open recent: the run folders last opened or trained in the window, newest first, kept in
QSettings (the isolated_settings fixture of conftest.py keeps them out of the user's).

The list's rules (app/recent_runs.py, no Qt) first; then the menu a user sees."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog

from gan_studio.app.main_window import APPLICATION, ORGANISATION, RECENT_KEY
from gan_studio.app.recent_runs import MAX_RECENT, is_run_folder, recent_runs, with_run, without_run
from studio_helpers import WAIT_MS, fork_and_wait
from test_window_polish import saved_run


# -- the list, without Qt ----------------------------------------------------------------------------
def test_a_run_goes_first_once_and_the_list_keeps_the_newest_eight(tmp_path):
    folders = [tmp_path / f"run{i}" for i in range(12)]
    for f in folders:
        f.mkdir()
    paths: list[str] = []
    for f in folders[:3]:
        paths = with_run(paths, f)
    assert paths == [str(folders[2]), str(folders[1]), str(folders[0])]   # newest first
    # the same folder however it is written: a trailing slash, "..", a link to it: one entry, moved first
    (tmp_path / "link").symlink_to(folders[0])
    for same in (f"{folders[0]}/", str(folders[1] / ".." / "run0"), tmp_path / "link"):
        paths = with_run(paths, same)
        assert paths == [str(folders[0]), str(folders[2]), str(folders[1])]
    for f in folders:
        paths = with_run(paths, f)
    assert paths == [str(f) for f in reversed(folders[-MAX_RECENT:])]   # the oldest fell off the end
    assert without_run(paths, f"{folders[11]}/") == paths[1:]
    assert without_run(paths, tmp_path / "never-listed") == paths
    # a relative path (the studio's default runs/) is taken from the current folder
    assert with_run([], "runs/x")[0] == os.path.join(os.path.realpath(os.getcwd()), "runs", "x")


@pytest.mark.parametrize("stored", [None, 5, 2.5, True, {"/a": 1}, b"/bytes", object(), "", [], ()])
def test_what_is_no_list_of_paths_reads_as_an_empty_list(stored):
    assert recent_runs(stored) == []
    assert with_run(stored, "/a/run") == ["/a/run"]


def test_garbage_in_a_stored_list_is_dropped_and_eight_are_kept():
    stored = [None, 7, ["/nested"], b"/bytes", "", "relative/run", "/nul\0in/it", "/" + "x" * 10_000,
              "/a", "/a", "/a/", "/b/../a"] + [f"/run{i}" for i in range(5000)]
    assert recent_runs(stored) == ["/a"] + [f"/run{i}" for i in range(MAX_RECENT - 1)]
    assert recent_runs("/one/run") == ["/one/run"]   # the INI file gives a list of one as a string
    assert recent_runs(("/t1", "/t2")) == ["/t1", "/t2"]


def test_a_run_folder_is_a_folder_with_a_checkpoint_or_a_config(tmp_path):
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / "config.json").write_text("{}")
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "checkpoint.pt").write_bytes(b"")
    (tmp_path / "other").mkdir()
    (tmp_path / "a-file").write_text("")
    assert is_run_folder(tmp_path / "fresh") and is_run_folder(str(tmp_path / "saved"))
    assert not any(is_run_folder(p) for p in (tmp_path / "other", tmp_path / "a-file", tmp_path / "gone",
                                              "/nul\0", 5))


def test_the_list_module_imports_no_qt():
    code = ("import sys, gan_studio.app.recent_runs; "
            "print([m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- the menu ----------------------------------------------------------------------------------------
def entries(win) -> list:
    """File > Open recent as a user sees it on opening it (the menu fills itself then)."""
    win.recent_menu.aboutToShow.emit()
    return win.recent_menu.actions()


def texts(win) -> list[str]:
    return ["-" if a.isSeparator() else a.text() for a in entries(win)]


def listed(win) -> list[str]:
    return [a.data() for a in entries(win) if a.objectName().startswith("recent.") and a.data()]


def stored() -> list:
    return QSettings(ORGANISATION, APPLICATION).value(RECENT_KEY)


def open_with_dialog(win, qtbot, monkeypatch, path) -> None:
    """File > Open run..., the dialog answering ``path``; waits for the engine's reply."""
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(path))
    win.actions_by_name["open"].trigger()
    qtbot.waitUntil(lambda: win.state.session.run_path == str(path), timeout=WAIT_MS)


def test_open_recent_lists_the_runs_opened_newest_first(make_window, qtbot, tmp_path, monkeypatch):
    a = saved_run(tmp_path / "ring-a", steps=10)
    long_parent = tmp_path / ("a-folder-with-a-long-name-" * 5) / "and-deeper-still" / "runs"
    b = saved_run(long_parent / "ring-b", steps=10)
    win = make_window()
    assert listed(win) == []   # the run the window created has no step yet: not worth reopening
    errors = []
    win.error.connect(errors.append)
    not_a_run = tmp_path / "not-a-run"
    not_a_run.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(not_a_run))
    win.actions_by_name["open"].trigger()   # the dialog returned, the engine refused it: not listed
    qtbot.waitUntil(lambda: bool(errors), timeout=WAIT_MS)
    assert listed(win) == [] and stored() is None
    open_with_dialog(win, qtbot, monkeypatch, a)
    open_with_dialog(win, qtbot, monkeypatch, b)

    assert listed(win) == [str(b), str(a)] == stored()
    shown = entries(win)
    assert [x.objectName() for x in shown] == ["recent.1", "recent.2", "", "action.clear_recent"]
    one, two = shown[0], shown[1]
    assert one.text().startswith("&1 ring-b  \u2014  /") and two.text().startswith("&2 ring-a  \u2014  /")
    assert "\u2026" in one.text() and len(one.text()) < len(str(b))   # the long parent cut in the middle
    assert one.text().endswith("and-deeper-still/runs")
    assert (one.toolTip(), one.statusTip()) == (str(b), str(b))       # the whole path where it is cut
    assert all(x.isEnabled() for x in shown[:2]) and shown[2].isSeparator()
    assert shown[3].text() == "&Clear recent" and shown[3].isEnabled()


def test_choosing_an_entry_opens_that_run(make_window, qtbot, tmp_path, monkeypatch):
    a, b = saved_run(tmp_path / "ring-a", steps=10), saved_run(tmp_path / "ring-b", steps=12)
    win = make_window()
    open_with_dialog(win, qtbot, monkeypatch, a)
    open_with_dialog(win, qtbot, monkeypatch, b)
    assert win.state.step == 12
    entry = entries(win)[1]
    assert entry.data() == str(a)
    entry.trigger()
    qtbot.waitUntil(lambda: win.state.session.run_path == str(a), timeout=WAIT_MS)
    assert win.state.step == 10 and win.windowTitle().endswith(str(a))
    assert listed(win)[:2] == [str(a), str(b)]   # opened again: first again


def test_a_folder_that_vanished_is_greyed_and_choosing_it_says_what_open_says(make_window, qtbot, tmp_path,
                                                                            monkeypatch):
    a, b = saved_run(tmp_path / "ring-a", steps=10), saved_run(tmp_path / "ring-b", steps=10)
    c = saved_run(tmp_path / "ring-c", steps=10)
    win = make_window()
    for run in (a, b, c):
        open_with_dialog(win, qtbot, monkeypatch, run)
    errors = []
    win.error.connect(errors.append)

    shutil.rmtree(a)                                   # deleted while the window was open
    by_path = {x.data(): x for x in entries(win) if x.data()}
    assert not by_path[str(a)].isEnabled() and by_path[str(a)].text().endswith("  (missing)")
    assert by_path[str(b)].isEnabled() and "(missing)" not in by_path[str(b)].text()

    menu_b = by_path[str(b)]                           # the menu was open, showing b ...
    shutil.rmtree(b)                                   # ... when b went
    menu_b.trigger()
    said_by_recent = win.last_message
    assert errors == [said_by_recent] and str(b) in said_by_recent
    assert str(b) not in listed(win) and str(b) not in stored()
    assert win.state.session.run_path == str(c)        # the run shown stays
    errors.clear()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(b))
    win.actions_by_name["open"].trigger()              # Open run... on the same folder: the same words
    qtbot.waitUntil(lambda: bool(errors), timeout=WAIT_MS)
    assert errors == [said_by_recent] and win.last_message == said_by_recent


def test_clear_recent_empties_the_list_here_and_in_the_settings(make_window, qtbot, tmp_path, monkeypatch):
    a = saved_run(tmp_path / "ring-a", steps=10)
    win = make_window()
    open_with_dialog(win, qtbot, monkeypatch, a)
    assert listed(win) == [str(a)]
    entries(win)[-1].trigger()                         # Clear recent
    assert texts(win) == ["(none)", "-", "&Clear recent"]
    assert not any(x.isEnabled() for x in entries(win) if not x.isSeparator())
    assert stored() is None and os.path.isdir(a)       # forgotten, not deleted
    assert not QSettings(ORGANISATION, APPLICATION).contains(RECENT_KEY)


def test_the_list_is_kept_for_the_next_window(make_window, qtbot, tmp_path, monkeypatch, isolated_settings):
    a = saved_run(tmp_path / "ring-a", steps=10)
    win = make_window()
    open_with_dialog(win, qtbot, monkeypatch, a)
    win.close()
    written = "\n".join(p.read_text() for p in Path(isolated_settings).rglob("*.conf"))
    assert f"{RECENT_KEY}=" in written and str(a) in written   # on disk, not only in memory
    other = make_window()
    assert listed(other) == [str(a)]
    entries(other)[0].trigger()
    qtbot.waitUntil(lambda: other.state.session.run_path == str(a), timeout=WAIT_MS)


def test_garbage_in_the_settings_neither_stops_the_window_nor_shows(make_window, qtbot, tmp_path):
    runs = []
    for i in range(10):
        folder = tmp_path / f"by-hand-{i}"
        folder.mkdir()
        (folder / "config.json").write_text("{}")
        runs.append(str(folder))
    junk = [None, 3, {"a": 1}, "", "relative", "/" + "y" * 100_000, str(tmp_path / "no-such-run")]
    s = QSettings(ORGANISATION, APPLICATION)
    s.setValue(RECENT_KEY, junk * 500 + runs)
    s.sync()
    win = make_window()
    shown = listed(win)
    assert len(shown) == MAX_RECENT
    assert shown == [str(tmp_path / "no-such-run")] + runs[:MAX_RECENT - 1]
    assert [x.text()[:2] for x in entries(win)[:MAX_RECENT]] == [f"&{i}" for i in range(1, 9)]
    assert texts(win)[0].endswith("  (missing)")
    for value in (42, {"x": [1]}, b"\xff\xfe", "not an absolute path", ["/" + "z" * 5000]):
        s.setValue(RECENT_KEY, value)                  # edited by hand while the window is open
        s.sync()
        assert texts(win) == ["(none)", "-", "&Clear recent"]
    s.setValue(RECENT_KEY, runs[0])                    # a list of one, as the INI file gives it back
    assert listed(win) == [runs[0]]


@pytest.mark.timeout(240)
def test_a_new_run_is_listed_once_it_trains_and_a_fork_once_its_folder_exists(make_window, qtbot):
    """A new run (the launch's, New, Reset) is listed at its first step, not before: launching the
    studio again and again leaves the list of runs worth reopening as it was."""
    win = make_window()
    first = win.state.session.run_path
    win.actions_by_name["new"].trigger()
    qtbot.waitUntil(lambda: win.state.session.run_path != first, timeout=WAIT_MS)
    new = win.state.session.run_path
    assert listed(win) == []
    win.worker.run_steps(3)
    qtbot.waitUntil(lambda: win.state.step >= 3 and not win.selected.running, timeout=WAIT_MS)
    assert listed(win) == [new]
    fork_and_wait(win, qtbot)
    fork = win.branches[1].state.session.run_path
    assert listed(win) == [fork, new] and is_run_folder(fork)
