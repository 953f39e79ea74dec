"""The menu bar: File, Run, Panels, Help, as a desktop user expects them."""
from __future__ import annotations

import os
import platform
import shlex
from importlib import metadata
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import QCheckBox, QFileDialog, QMessageBox, QToolBar

from gan_studio.app.command_line import train_command
from gan_studio.app.main_window import APPLICATION, ORGANISATION
from gan_studio.cli import build_parser
from gan_studio.cli.train import build_config
from gan_studio.core.presets import load_preset
from gan_studio.core.runs import trainer_from_run
from studio_helpers import WAIT_MS, call, fork_and_wait, tiny_config, trainer_attr


def menus(win) -> dict:
    return {a.text(): a.menu() for a in win.menuBar().actions()}


def items(menu) -> list[str]:
    """The menu's entries as a user reads them: '-' for a separator."""
    return ["-" if a.isSeparator() else a.text() for a in menu.actions()]


def command_config(command: str):
    """The config `gan-studio train` builds from ``command``: its own parser and config loading."""
    argv = shlex.split(command)
    assert argv[:2] == ["gan-studio", "train"]
    args = build_parser().parse_args(argv[1:])
    assert args.command == "train" and args.steps >= 1
    return build_config(args)


def change_live(win, qtbot) -> None:
    """Two live changes, as a user makes them: a trick's check box and a learning rate."""
    box = win.findChild(QCheckBox, "setting.tricks.label_smoothing.enabled")
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton)
    win.worker.set_setting("train.lr_d", 3e-4)
    qtbot.waitUntil(lambda: {e.get("key") for e in win.state.events} >= {"tricks.label_smoothing.enabled",
                                                                          "train.lr_d"}, timeout=WAIT_MS)


def test_each_menu_holds_its_commands_in_order(make_window):
    win = make_window()
    m = menus(win)
    assert list(m) == ["&File", "&Run", "&Panels", "&Help"]
    assert items(m["&File"]) == ["&New run", "&Open run...", "Open &recent", "&Save", "-",
                                 "Save settings &as...", "&Copy command line", "-", "&Quit"]
    assert items(m["&Run"]) == ["&Start", "&Pause", "S&tep once", "&Reset", "&Fork", "C&ompare branches"]
    assert m["&Panels"].actions() == [d.toggleViewAction() for d in win.docks.values()]
    assert items(m["&Help"]) == ["&Settings reference", "&Keyboard shortcuts", "&About GAN Studio"]
    # the Run menu and the File menu's run commands are the toolbar's own actions, not copies
    toolbar = win.findChild(QToolBar, "toolbar.main")
    for menu, names in ((m["&Run"], ("start", "pause", "step", "reset", "fork")),
                        (m["&File"], ("new", "open", "save"))):
        for name in names:
            assert win.actions_by_name[name] in menu.actions() and win.actions_by_name[name] in toolbar.actions()
    # the toolbar reads as before: the same words on its buttons, the same accessible names
    shown = {n: toolbar.widgetForAction(win.actions_by_name[n]) for n in
             ("start", "pause", "step", "reset", "new", "open", "save", "fork")}
    assert {n: b.text() for n, b in shown.items()} == {
        "start": "Start", "pause": "Pause", "step": "Step once", "reset": "Reset", "new": "New",
        "open": "Open", "save": "Save", "fork": "Fork"}
    assert all(b.accessibleName() == b.text() for b in shown.values())
    assert not win.actions_by_name["pause"].isEnabled()   # one enabled state: the menu's entry is greyed too
    assert win.actions_by_name["quit"].shortcut() == QKeySequence("Ctrl+Q")


def test_a_panel_hidden_and_shown_again_from_the_panels_menu_gets_its_share_back(make_window, qtbot):
    """Panels > 2-D view off and on again at 1280x720: Qt gave it back its least width (372 px beside
    plots of 604), the scatter squeezed; it gets the share it had, as the window first laid it out."""
    win = make_window()
    win.resize(1280, 720)
    modes, plots = win.docks["modes"], win.docks["plots"]
    qtbot.waitUntil(lambda: win.width() == 1280 and abs(modes.width() - plots.width()) <= 4, timeout=3000)
    before = (modes.width(), plots.width())
    toggle = modes.toggleViewAction()
    toggle.trigger()
    qtbot.waitUntil(lambda: modes.isHidden() and plots.width() > before[1] + 100, timeout=3000)
    toggle.trigger()
    qtbot.waitUntil(lambda: modes.isVisible() and abs(modes.width() - before[0]) <= 4, timeout=3000)
    assert abs(plots.width() - before[1]) <= 4


def test_run_menu_starts_and_pauses_as_the_toolbar_does(make_window, qtbot):
    win = make_window()
    run_menu = menus(win)["&Run"]
    start, pause = run_menu.actions()[0], run_menu.actions()[1]
    start.trigger()
    qtbot.waitUntil(lambda: win.state.step >= 3 and pause.isEnabled(), timeout=WAIT_MS)
    assert not start.isEnabled()
    pause.trigger()
    qtbot.waitUntil(lambda: start.isEnabled() and not win.state.running, timeout=WAIT_MS)


def test_save_settings_as_writes_the_live_config(make_window, qtbot, tmp_path, monkeypatch):
    win = make_window()
    change_live(win, qtbot)
    live = win.live_config()
    assert live.tricks.label_smoothing.enabled and live.train.lr_d == 3e-4
    assert live == call(win, trainer_attr("cfg"))            # what the Trainer trains with, exactly
    assert live != win.state.session.config                   # not the settings the run started with
    # the dialog's answer without a suffix: TOML, as its filter says
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(tmp_path / "mine"), "TOML config (*.toml)"))
    win.actions_by_name["save_config"].trigger()
    path = tmp_path / "mine.toml"
    assert load_preset(str(path)) == live                     # what `gan-studio gui --preset FILE` loads
    assert command_config(f"gan-studio train {shlex.quote(str(path))} --steps 5") == live
    assert str(path) in win.last_message
    assert win.write_config(tmp_path / "mine.json")           # JSON when the name says so
    assert (tmp_path / "mine.json").read_text().lstrip().startswith("{")
    assert load_preset(str(tmp_path / "mine.json")) == live
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.json", "mine.toml", "runs"]   # no temporary files


def test_save_settings_as_where_it_cannot_write_says_so_and_writes_nothing(make_window, tmp_path):
    win = make_window()
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    assert not win.write_config(tmp_path / "notes.txt" / "mine.toml")
    assert win.last_message == f"settings not saved: {tmp_path / 'notes.txt'} is a file, where a folder is needed"
    assert win.statusBar().currentMessage() == win.last_message
    assert (tmp_path / "notes.txt").read_text() == "a file, not a folder"
    # a folder it may not write in: a read-only one; root writes in those, but not in /sys
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:
        locked = Path("/sys")
        if not locked.is_dir():
            pytest.skip("root writes into a read-only folder, and there is no /sys")
    try:
        before = set(locked.iterdir())
        assert not win.write_config(locked / "mine.toml")
        assert win.last_message == (f"settings not saved: could not write {locked / 'mine.toml'} "
                                    "(Permission denied): nothing was written")
        assert set(locked.iterdir()) == before
    finally:
        (tmp_path / "locked").chmod(0o755)


def test_copy_command_line_reproduces_the_live_config(make_window, qtbot):
    win = make_window()
    change_live(win, qtbot)
    win.actions_by_name["copy_command"].trigger()
    command = QGuiApplication.clipboard().text()
    assert command.startswith("gan-studio train ring8 --steps ")     # the run's own preset
    assert "--set tricks.label_smoothing.enabled=true" in command and "--set train.lr_d=0.0003" in command
    assert command_config(command) == win.live_config()
    assert win.last_message.startswith("copied a command that trains these settings: preset ring8 and ")


def test_copy_command_line_of_a_run_not_named_after_a_preset(make_window):
    """Text with spaces and quotes survives the shell; a run that is no preset's starts from the nearest."""
    win = make_window(tiny_config(name="my run", description="Tom's \"quick\" ring; $HOME `x`"))
    cmd, said = win.command_line()
    assert not cmd.from_preset and cmd.preset == "ring8" and "the nearest, ring8" in said
    assert "--set 'name=my run'" in cmd.text
    assert command_config(cmd.text) == win.live_config()
    assert command_config(cmd.text).description == "Tom's \"quick\" ring; $HOME `x`"


def test_a_value_a_command_line_cannot_hold_is_named():
    cfg = tiny_config()
    cfg.set("data.path", "  /data/with spaces/  ")   # --set strips the ends of a value
    cmd = train_command(cfg, 0)
    assert cmd.lost == ["data.path"] and "--steps 1000" in cmd.text
    cfg.set("data.path", "")
    assert command_config(train_command(cfg, 7).text) == cfg


def test_quit_closes_through_close_event(make_window, qtbot):
    win = make_window()
    win.speed.setValue(7)
    win.actions_by_name["start"].trigger()
    qtbot.waitUntil(lambda: win.state.step >= 5, timeout=WAIT_MS)
    run_path = win.state.session.run_path
    menus(win)["&File"].actions()[-1].trigger()   # File > Quit
    assert not win.isVisible() and not win.worker.isRunning()
    tr, run = trainer_from_run(run_path)
    assert tr.step_count >= 5                       # the run was saved, not lost
    assert run.read_metrics()[-1]["step"] == tr.step_count
    assert int(QSettings(ORGANISATION, APPLICATION).value("train/speed")) == 7   # the layout was kept


def test_a_hand_edited_speed_too_large_for_the_spin_box_is_clamped(make_window):
    """train/speed = 10**20 in the settings file: OverflowError from the spin box, so the window
    (the default command) did not open at all."""
    s = QSettings(ORGANISATION, APPLICATION)
    s.setValue("train/speed", "99999999999999999999")
    s.sync()
    win = make_window(speed=None)
    assert win.speed.value() == win.speed.maximum()


def test_keyboard_shortcuts_are_read_from_the_actions(make_window, qtbot):
    win = make_window()
    rows = win.shortcut_rows()
    assert ("Run", "Start", "Ctrl+R") in rows and ("File", "Quit", "Ctrl+Q") in rows
    assert ("File", "New run", "Ctrl+N") in rows and ("File", "Save settings as...", "Ctrl+Shift+S") in rows
    with_keys = {a.text().replace("&", "") for a in win.actions_by_name.values() if not a.shortcut().isEmpty()}
    assert {name for _, name, _ in rows} == with_keys
    win.actions_by_name["reset"].setShortcut(QKeySequence("Ctrl+E"))   # a new shortcut shows at once
    assert ("Run", "Reset", "Ctrl+E") in win.shortcut_rows()
    win.actions_by_name["shortcuts"].trigger()
    box = win.findChild(QMessageBox, "menu.shortcuts_box")
    assert box.isVisible()   # open(), not exec(): the window goes on (this test would wait here)
    assert "Ctrl+R" in box.text() and "Step once" in box.text() and "Ctrl+E" in box.text()
    # each menu's name once, above its commands (not repeated on every row)
    menus = [menu for menu, _, _ in rows]
    for menu in set(menus):
        assert box.text().count(f"<b>{menu}</b>") == 1
    box.close()


def test_about_names_the_versions_and_the_device(make_window):
    import PySide6
    import pyqtgraph
    import torch
    win = make_window()
    win.actions_by_name["about"].trigger()
    box = win.findChild(QMessageBox, "menu.about_box")
    assert box.isVisible()
    text = box.text()
    for version in (f"gan_studio {metadata.version('gan-studio')}", f"torch {torch.__version__}",
                    f"PySide6 {PySide6.__version__}", f"pyqtgraph {pyqtgraph.__version__}",
                    f"Python {platform.python_version()}", win.state.session.device_name, "watch them learn"):
        assert version in text
    box.close()


@pytest.mark.timeout(240)
def test_the_menus_act_on_the_branch_shown(make_window, qtbot, tmp_path):
    """With a fork, the settings saved and the command copied are the selected branch's, live changes
    and all; selecting a branch again shows its live settings in the tricks panel, not those it began with."""
    win = make_window(tiny_config("ring8", **{"train.fork_keep": 3}), speed=5)
    root = win.selected
    win.worker.run_steps(6)
    qtbot.waitUntil(lambda: win.state.step >= 6 and not root.running, timeout=WAIT_MS)
    branch = fork_and_wait(win, qtbot)
    win.tricks.setting_changed.emit("train.lr_d", 0.0123)   # the branch's, as the tricks panel sends it
    qtbot.waitUntil(lambda: any(e.get("key") == "train.lr_d" for e in branch.state.events), timeout=WAIT_MS)
    assert win.live_config().train.lr_d == 0.0123
    win.select_branch(root)
    assert win.live_config().train.lr_d == root.state.session.config.train.lr_d != 0.0123
    assert win.tricks.cfg.train.lr_d != 0.0123
    win.select_branch(branch)
    assert win.tricks.cfg.train.lr_d == 0.0123                # its live value, not the one it began with
    assert win.write_config(tmp_path / "branch.toml")
    assert load_preset(str(tmp_path / "branch.toml")) == win.live_config() == call(win, trainer_attr("cfg"))
    cmd, _ = win.command_line()
    assert "--set train.lr_d=0.0123" in cmd.text and command_config(cmd.text) == win.live_config()


def test_settings_reference_shows_the_run_s_live_values_beside_the_defaults(make_window, qtbot):
    """Help > Settings reference (F1): one row per config key (the keys docs/config.md lists), the
    selected run's own values with live changes, bold where they differ from the default; the filter
    and 'Only changed' narrow the rows; opening it again shows the values of that moment."""
    from PySide6.QtWidgets import QDialog

    from gan_studio.core.config import Config, differing_settings
    from gan_studio.core.config_reference import all_keys
    win = make_window()
    assert win.actions_by_name["settings_reference"].shortcut().toString() == "F1"
    change_live(win, qtbot)
    live = win.live_config()
    win.actions_by_name["settings_reference"].trigger()
    dialog = win.findChild(QDialog, "dialog.settings_reference")
    assert dialog.isVisible() and not dialog.isModal()            # the window goes on training
    table = dialog.table
    keys = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert keys == [k.key for k in all_keys()] and len(keys) > 100
    row = keys.index("train.lr_d")
    assert table.item(row, 1).text() == "0.0003" and table.item(row, 1).font().bold()
    assert table.item(row, 4).text() == "live" and table.item(keys.index("model.g_width"), 4).text() == "Reset"
    changed = {k for k, _, _ in differing_settings(live, Config())}
    dialog.only_changed.setChecked(True)
    assert set(dialog.visible_keys()) == changed and "tricks.label_smoothing.enabled" in changed
    dialog.only_changed.setChecked(False)
    dialog.filter.setText("packing")          # its keys, and the fade whose doc names packing
    assert dialog.visible_keys() == ["train.switch_fade_steps", "tricks.packing.enabled", "tricks.packing.m"]
    dialog.filter.setText("packing samples")  # every word, in the key or its description
    assert dialog.visible_keys() == ["tricks.packing.enabled", "tricks.packing.m"]
    dialog.filter.setText("no such word anywhere")
    assert dialog.visible_keys() == [] and dialog.count.text().startswith("0 of ")
    dialog.close()
    win.tricks.setting_changed.emit("train.lr_d", 0.0007)
    qtbot.waitUntil(lambda: win.live_config().train.lr_d == 0.0007, timeout=WAIT_MS)
    assert win.show_settings_reference() is dialog                # one dialog, its values brought up to date
    assert table.item(row, 1).text() == "0.0007"
    dialog.close()
