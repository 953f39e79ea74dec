"""`gan-studio gui --run-steps N`: it ends, and a run it cannot train or a change it cannot make is one
line and exit status 2, never a window that waits forever or a silent success.

Each command trains a tiny run (a few dozen steps at most); a command that would hang instead is
ended by a timer after DEADLINE_S, so the test fails on its status, not on pytest's timeout."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from gan_studio.cli import gui, main
from gan_studio.core.runs import RunFolder
from gan_studio.core.training.run_loop import RunLoop
from gan_studio.core.training.trainer import Trainer
from studio_helpers import tiny_config

TINY = ["--set", "model.g_width=16", "--set", "model.d_width=16", "--set", "model.g_depth=2",
        "--set", "model.d_depth=2", "--set", "train.batch_size=32", "--device", "cpu"]
#: a command that trains 20 tiny steps takes a few seconds; one still running after this hangs
DEADLINE_S = 90


@pytest.fixture
def deadline(qapp):
    """Close every window after DEADLINE_S: a hanging command then returns (and the test fails on
    what it returned) instead of holding the suite."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(lambda: [w.close() for w in QApplication.topLevelWidgets()])
    timer.start(DEADLINE_S * 1000)
    yield
    timer.stop()


def small_run(path: Path) -> Path:
    """A run folder saved at step 10."""
    tr = Trainer(tiny_config(**{"train.checkpoint_every": 10, "train.device": "cpu"}))
    loop = RunLoop(tr, RunFolder.create(path, tr.cfg))
    for _ in range(10):
        loop.advance()
    loop.finish()
    return path


def one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("gan-studio gui")]
    assert len(err) == 1, err
    return err[0]


def test_a_run_another_process_trains_is_one_line_and_exit_2_before_any_window(tmp_path, capsys, deadline):
    run = small_run(tmp_path / "r")
    holder = RunFolder(run).lock("gan-studio train")   # `gan-studio train --resume` is training it
    try:
        shot = tmp_path / "locked.png"
        rc = main(["gui", "--open", str(run), "--run-steps", "20", "--screenshot", str(shot), "--panel", "plots"])
        line = one_error_line(capsys)
    finally:
        holder.unlock()
    assert rc == 2
    assert f"is being trained by pid {os.getpid()} (gan-studio train)" in line
    assert not shot.exists()
    assert RunFolder(run).read_metrics()[-1]["step"] == 10          # nothing trained into it


def test_a_writer_that_appears_after_the_window_opened_ends_the_command(tmp_path, capsys, monkeypatch, deadline):
    """The same refusal when the engine asks for the lock itself (the check before the window passed:
    here it is skipped, as when another writer starts in between)."""
    run = small_run(tmp_path / "r")
    monkeypatch.setattr(gui, "check_writable", lambda path: None)
    holder = RunFolder(run).lock("gan-studio train")
    try:
        rc = main(["gui", "--open", str(run), "--run-steps", "20", "--screenshot", str(tmp_path / "x.png")])
        line = one_error_line(capsys)
    finally:
        holder.unlock()
    assert rc == 2
    assert f"is being trained by pid {os.getpid()} (gan-studio train)" in line
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("change, says", [
    ("50:tricks.packing.enabled=maybe", "expected bool"),
    ("60:model.g_width=128", "cannot change while the run trains"),
    ("70:train.lr_g=-1", "out of range"),
    ("70:tricks.no_such_trick.enabled=true", "tricks.no_such_trick"),
    ("500:train.lr_g=0.001", "past the end of the run (--run-steps 100)"),
])
def test_each_bad_change_is_one_line_naming_it_before_training(change, says, tmp_path, capsys):
    runs = tmp_path / "runs"
    rc = main(["gui", *TINY, "--run-steps", "100", "--change", "10:train.lr_d=0.001", "--change", change,
               "--screenshot", str(tmp_path / "chg.png"), "--runs-dir", str(runs)])
    line = one_error_line(capsys)
    assert rc == 2
    assert f"--change {change}:" in line and says in line
    assert not runs.exists() and not (tmp_path / "chg.png").exists()   # nothing trained, no picture


def test_a_change_after_the_fork_and_a_bad_fork_set_are_refused_before_training(tmp_path, capsys):
    base = ["gui", *TINY, "--run-steps", "100", "--fork", "50", "--screenshot", str(tmp_path / "f.png"),
            "--runs-dir", str(tmp_path / "runs")]
    assert main(base + ["--change", "70:train.lr_g=0.001"]) == 2
    assert "--change 70:train.lr_g=0.001: step 70 comes after --fork 50" in one_error_line(capsys)
    assert main(base + ["--fork-set", "tricks.packing.enabled=maybe"]) == 2
    assert "--fork-set tricks.packing.enabled=maybe:" in one_error_line(capsys)
    assert not (tmp_path / "runs").exists()


def test_a_change_the_trainer_refuses_while_training_is_not_a_silent_success(tmp_path, capsys, monkeypatch,
                                                                            deadline):
    """The check before training passes it (skipped here); the Trainer then refuses it at its step."""
    monkeypatch.setattr(gui, "check_changes", lambda base, args: [(5, "model.g_width", "128", "5:model.g_width=128")])
    rc = main(["gui", *TINY, "--run-steps", "20", "--change", "5:model.g_width=128",
               "--screenshot", str(tmp_path / "c.png"), "--runs-dir", str(tmp_path / "runs")])
    line = one_error_line(capsys)
    assert rc == 2
    assert line.startswith("gan-studio gui: error: --change 5:model.g_width=128: refused:")
    assert "model.g_width" in line and not (tmp_path / "c.png").exists()


def test_good_changes_are_applied_at_their_steps_and_listed(tmp_path, capsys, deadline):
    runs = tmp_path / "runs"
    shot = tmp_path / "ok.png"
    rc = main(["gui", *TINY, "--run-steps", "20", "--change", "5:tricks.packing.enabled=true",
               "--change", "10:train.lr_g=0.0005", "--screenshot", str(shot), "--runs-dir", str(runs)])
    assert rc == 0, capsys.readouterr().err
    assert "saved" in capsys.readouterr().err and shot.is_file()
    events = RunFolder(next(runs.iterdir())).read_events()
    assert [(e["step"], e["key"]) for e in events if e.get("event") == "set"] == \
        [(5, "tricks.packing.enabled"), (10, "train.lr_g")]


def test_a_screenshot_folder_is_made_or_refused_before_training(tmp_path, capsys, deadline):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    runs = tmp_path / "runs"
    assert main(["gui", *TINY, "--run-steps", "10", "--screenshot", str(blocker / "x.png"),
                 "--runs-dir", str(runs)]) == 2
    line = one_error_line(capsys)
    assert f"--screenshot {blocker / 'x.png'}: cannot make its folder {blocker}" in line
    assert not runs.exists()                                    # refused before anything trained
    shot = tmp_path / "new" / "deeper" / "x.png"               # as `gan-studio sample --out` does: made
    assert main(["gui", *TINY, "--run-steps", "4", "--screenshot", str(shot), "--panel", "plots",
                 "--size", "600x500", "--runs-dir", str(runs)]) == 0
    assert Image.open(shot).size == (600, 500)


def test_a_panel_this_run_lacks_is_refused_naming_the_ones_it_has(tmp_path, capsys):
    assert main(["gui", *TINY, "--screenshot", str(tmp_path / "g.png"), "--panel", "grid",
                 "--runs-dir", str(tmp_path / "runs")]) == 2
    line = one_error_line(capsys)
    assert "--panel grid: a 2-D run (ring8) has no grid panel; its panels: tricks, plots, modes" in line
    assert not (tmp_path / "g.png").exists() and not (tmp_path / "runs").exists()


def test_a_help_window_is_pictured_as_its_menu_command_opens_it(tmp_path, capsys, deadline):
    """--dialog: the README's picture of the Settings reference (and the shortcuts, About) comes from
    the command, with the run's values after its steps."""
    runs = tmp_path / "runs"
    shot = tmp_path / "ref.png"
    assert main(["gui", *TINY, "--set", "tricks.packing.enabled=true", "--run-steps", "3",
                 "--screenshot", str(shot), "--dialog", "settings-reference", "--filter", "packing",
                 "--only-changed", "--size", "1100x450", "--runs-dir", str(runs)]) == 0
    picture = Image.open(shot)
    assert picture.size == (1100, 450)
    assert len(picture.convert("RGB").getcolors(1100 * 450)) > 20    # drawn text, not an empty window
    for name in ("shortcuts", "about"):
        other = tmp_path / f"{name}.png"
        assert main(["gui", *TINY, "--screenshot", str(other), "--dialog", name, "--runs-dir", str(runs)]) == 0
        assert Image.open(other).size[0] > 100
    assert "saved" in capsys.readouterr().err


@pytest.mark.parametrize("args, said", [
    (["--dialog", "about"], "--dialog only goes with --screenshot FILE"),
    (["--screenshot", "x.png", "--dialog", "about", "--panel", "plots"], "--dialog and --panel: choose one"),
    (["--screenshot", "x.png", "--dialog", "about", "--filter", "lr"],
     "--filter only goes with --dialog settings-reference"),
    (["--screenshot", "x.png", "--only-changed"], "--only-changed only goes with --dialog settings-reference"),
])
def test_dialog_options_that_do_not_go_together_are_one_line(tmp_path, capsys, args, said, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["gui", *TINY, *args, "--runs-dir", str(tmp_path / "runs")]) == 2
    assert said in one_error_line(capsys)
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "runs").exists()


def test_a_run_that_diverges_is_pictured_and_the_command_says_paused_and_exits_3(tmp_path, capsys, deadline):
    """--run-steps on a run that turns NaN: the picture shows the warning, and the command says it
    paused and exits 3 as `gan-studio train` does (it exited 0, its only line 'saved ... at step 0')."""
    nan_run = ["--set", "data.name=points", "--set", "data.points=[[1e6,1e6],[-1e6,-1e6]]",
               "--set", "loss=least-squares", "--set", "train.lr_d=1", "--set", "train.lr_g=1",
               "--set", "model.d_width=32", "--set", "model.d_depth=6", "--set", "model.g_width=16",
               "--set", "train.batch_size=32", "--device", "cpu"]
    shot = tmp_path / "nan.png"
    assert main(["gui", *nan_run, "--run-steps", "30", "--screenshot", str(shot), "--dialog",
                 "settings-reference", "--runs-dir", str(tmp_path / "runs")]) == 3
    err = capsys.readouterr().err
    paused = [line for line in err.splitlines() if line.startswith("gan-studio gui: paused: training diverged")]
    assert len(paused) == 1 and "rolled back" in paused[0], err
    assert "Traceback" not in err and Image.open(shot).size[0] > 100
