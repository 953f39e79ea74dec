"""An impatient user: Fork pressed twice, New or Reset or closing the window while a fork is written.
Each ends with the branches the user asked for, or with one line in the window: never a refused
second fork, a branch of the wrong run, or a training process left behind a closed window."""
from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import pytest

from gan_studio.app.worker import LIVE_WORKERS
from studio_helpers import WAIT_MS, tiny_config


def _trained(make_window, qtbot, steps=10):
    win = make_window(tiny_config())
    win.worker.run_steps(steps)
    qtbot.waitUntil(lambda: win.state.step >= steps and not win.selected.running, timeout=WAIT_MS)
    return win


@pytest.mark.timeout(300)
def test_fork_twice_quickly_opens_two_branches_and_reset_ends_them_saved(make_window, qtbot):
    """Both forks went to <run>-branch1 (the second asked for before the first was written), so the
    second was refused: 'not forked: --out ...-branch1 is not empty'. And Reset renewed the selected
    branch alone, which kept its label 'from main at step 10' over a history it no longer had."""
    win = _trained(make_window, qtbot)
    errors = []
    win.error.connect(errors.append)
    win.fork()
    assert win.last_message == "forking main at step 10 ..."   # the step now, not the session's first (0)
    # until the fork is written the parent is selected: a trick switched then changed the parent
    assert not win.tricks.isEnabled()
    win.fork()
    qtbot.waitUntil(lambda: len(win.branches) >= 2, timeout=WAIT_MS)
    assert len(win.branches) == 3 or not win.tricks.isEnabled()   # the second fork is not written yet
    qtbot.waitUntil(lambda: len(win.branches) == 3, timeout=WAIT_MS)
    assert win.tricks.isEnabled() and win.selected is win.branches[2]
    qtbot.waitUntil(lambda: all(b.state.session is not None for b in win.branches), timeout=6 * WAIT_MS)
    assert errors == []
    paths = [Path(b.state.session.run_path) for b in win.branches]
    assert len(set(paths)) == 3 and [p.name.rsplit("-", 1)[-1] for p in paths[1:]] == ["branch1", "branch2"]
    assert [b.branch_step for b in win.branches[1:]] == [10, 10]
    assert win.branch_box.count() == 3
    win.actions_by_name["reset"].trigger()   # a new run: the comparison ends, every branch saved
    assert len(win.branches) == 1 and win.selected is win.branches[0] and not win.branch_row.isVisible()
    qtbot.waitUntil(lambda: win.state.session is not None and Path(win.state.session.run_path) not in paths,
                    timeout=WAIT_MS)
    for path in paths:
        assert (path / "checkpoint.pt").is_file()


@pytest.mark.timeout(240)
def test_new_while_a_fork_is_written_does_not_make_it_a_branch_of_the_new_run(make_window, qtbot,
                                                                               monkeypatch):
    """The fork of the run before New opened as 'branch 1 (from main at step 10)' beside the new run
    at step 0: its folder is kept, named, and in Open recent, and no branch opens."""
    win = _trained(make_window, qtbot)
    shown = []
    show = win.show_message
    monkeypatch.setattr(win, "show_message", lambda text: (shown.append(text), show(text)))
    old = win.state.session.run_path
    win.fork()
    win.new_run()
    said = lambda: [m for m in shown if "the fork of the previous run" in m]  # noqa: E731
    qtbot.waitUntil(lambda: bool(said()), timeout=WAIT_MS)
    fork = Path(old + "-branch1")
    assert str(fork) in said()[0] and "Open recent" in said()[0]
    assert (fork / "checkpoint.pt").is_file() and str(fork) in win.recent_run_paths()
    qtbot.waitUntil(lambda: win.state.session is not None and win.state.session.run_path != old, timeout=WAIT_MS)
    qtbot.wait(300)
    assert len(win.branches) == 1 and len(win.side_docks) == 0


@pytest.mark.timeout(240)
def test_closing_the_window_while_a_fork_is_written_starts_no_training_process(make_window, qtbot):
    """The fork's answer came after the window closed, and opened a branch: a training process and
    its thread ran on behind the closed window."""
    win = _trained(make_window, qtbot)
    fork = Path(win.state.session.run_path + "-branch1")
    win.fork()
    win.close()
    qtbot.waitUntil(fork.is_dir, timeout=WAIT_MS)
    qtbot.wait(500)   # the answer reaches the GUI thread
    assert len(win.branches) == 1
    assert not [w for w in LIVE_WORKERS if w.isRunning()]


def test_a_fork_whose_engine_ended_is_one_line_not_a_traceback(make_window):
    """A fork answered with the engine's end (a RuntimeError, not a user error) escaped _on_forked."""
    win = make_window()
    errors = []
    win.error.connect(errors.append)
    fut = Future()
    fut.set_exception(RuntimeError("the training process ended before answering"))
    win._on_forked((win.selected, fut, "/nowhere-branch1", win._comparison))
    assert errors == ["not forked: RuntimeError: the training process ended before answering"]
    assert win.tricks.isEnabled()
    win.worker.stop()   # an engine that ended for good answers no fork: none is asked for, none waited on
    assert win.worker.wait(WAIT_MS)
    win.fork()
    assert win.last_message.startswith("not forked: the training engine of main has stopped")
    assert win.tricks.isEnabled() and not win._pending_forks
    assert len(win.branches) == 1


def test_the_history_menu_offers_no_fork_it_cannot_make(make_window, qtbot):
    """With no state kept at or before the step shown (train.fork_keep = 0, or no evaluation yet),
    the slider's menu offered 'Fork at step 5', answered by 'not forked: step 5 was not kept ...':
    the entry now says why and is disabled, and the current step is offered instead."""
    win = make_window(tiny_config(**{"train.fork_keep": 0}))
    win.worker.run_steps(10)
    qtbot.waitUntil(lambda: win.state.step >= 10 and not win.selected.running, timeout=WAIT_MS)
    win.modes.pinned_step = 5
    win._history_menu(win.modes, win.modes.slider.rect().center())
    menu = win._last_menu
    actions = {a.objectName(): a for a in menu.actions()}
    here, now = actions["menu.fork_here"], actions["menu.fork_now"]
    assert here.text() == "Fork at step 5: no state kept (train.fork_keep = 0)" and not here.isEnabled()
    assert now.text() == "Fork at the current step (10)" and now.isEnabled()
    menu.close()
    win.modes.pinned_step = None
    win.tricks.setting_changed.emit("train.fork_keep", 3)   # kept from the next evaluation on
    qtbot.waitUntil(lambda: win.live_config().train.fork_keep == 3, timeout=WAIT_MS)
    win.modes.pinned_step = 5
    win._history_menu(win.modes, win.modes.slider.rect().center())
    here = next(a for a in win._last_menu.actions() if a.objectName() == "menu.fork_here")
    assert here.text() == "Fork at step 5: no state kept yet (one at each evaluation, every 10000 steps)"
    win._last_menu.close()


@pytest.mark.timeout(240)
def test_new_save_and_close_on_a_state_that_is_not_finite(make_window, qtbot, capfd, fresh_training_processes):
    """A state that only saving finds not finite (D's Adam moments infinite, the losses finite): New
    failed ('New failed: DivergedError: training diverged at ...', cut at 160 characters) and kept
    the old run, leaving the new run's folder behind; Save said 'Save failed: DivergedError'; closing
    printed the training process's traceback. Now New starts the new run and says the old one was
    not saved at that step; Save pauses and rolls back as a divergence does; closing says nothing."""
    from studio_helpers import call, poison_d_moments
    win = _trained(make_window, qtbot)
    errors = []
    win.error.connect(errors.append)
    old = win.state.session.run_path
    call(win, poison_d_moments)
    win.actions_by_name["save"].trigger()
    qtbot.waitUntil(lambda: bool(win.state.diverged_message), timeout=WAIT_MS)
    assert "training diverged at step 10" in win.last_message and "rolled back" in win.last_message
    call(win, poison_d_moments)
    win.new_run()
    qtbot.waitUntil(lambda: win.state.session is not None and win.state.session.run_path != old, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: bool(errors), timeout=WAIT_MS)
    assert errors[-1].startswith(f"the run in {old} was not saved at step ") and "NaN or infinite" in errors[-1]
    assert "Error" not in errors[-1]
    win.worker.run_steps(3)
    qtbot.waitUntil(lambda: win.state.step >= 3 and not win.selected.running, timeout=WAIT_MS)
    call(win, poison_d_moments)
    win.close()
    err = capfd.readouterr().err
    assert "Traceback" not in err, err


@pytest.mark.timeout(240)
def test_new_right_after_a_fork_does_not_wait_for_the_branch_to_stop(make_window, qtbot):
    """New while the branch's training process was still starting froze the window until it had
    started, opened the fork and saved it (3-4 s on 2 cores; up to 10 s a branch). The branch now
    ends on its own; closing the window waits for it, so its run is still saved."""
    win = _trained(make_window, qtbot)
    path = Path(win.state.session.run_path + "-branch1")
    win.fork()
    qtbot.waitUntil(lambda: len(win.branches) == 2, timeout=WAIT_MS)
    worker = win.branches[1].worker
    win.new_run()
    assert worker.isRunning() and len(win.branches) == 1   # not waited for
    assert (path / "checkpoint.pt").is_file()
    win.close()
    assert not worker.isRunning()


@pytest.mark.timeout(240)
def test_opening_a_branch_s_folder_ends_the_branches_and_opens_it_as_saved(make_window, qtbot):
    """Compare branches before an evaluation says when one comes. Open (or Open recent) on the folder of a branch that trains: the branch is saved before the
    folder is opened, so it opens at the step it reached and trains on (New, Reset and a preset do
    not wait for the branches; Open may be opening one of them)."""
    from studio_helpers import fork_and_wait
    win = _trained(make_window, qtbot)
    branch = fork_and_wait(win, qtbot)
    branch.worker.run_steps(7)
    qtbot.waitUntil(lambda: branch.state.step >= 17 and not branch.running, timeout=WAIT_MS)
    path = branch.state.session.run_path
    # Run > Compare branches before any evaluation says when one comes (it listed every loss logged:
    # 'the runs have none of modes, ... in common: main has loss_d, loss_g, d_real, ...')
    assert win.branch_comparison_text() == (
        "The branches cannot be compared yet: no evaluation logged by main (every 10000 steps), branch 1 "
        "(every 10000 steps).\nCompare branches reads modes, modes_strict, hq, rkl, measured at each "
        "evaluation (train.eval_every).")
    win.open_folder(path)
    assert len(win.branches) == 1
    qtbot.waitUntil(lambda: win.state.session is not None and win.state.session.run_path == path, timeout=WAIT_MS)
    assert win.state.session.step == 17
    errors = []
    win.error.connect(errors.append)
    win.worker.run_steps(3)
    qtbot.waitUntil(lambda: win.state.step >= 20 and not win.selected.running, timeout=WAIT_MS)
    assert errors == []


@pytest.mark.timeout(240)
def test_fork_right_after_reset_waits_for_the_new_run(make_window, qtbot):
    """Fork pressed right after Reset (or New) forked the new run at step 0 into a folder named after
    the old one (<old run>-branch1, its lineage naming the new run), saying 'forking main at step 10'.
    And the tricks panel's Reset button renewed the selected branch alone, as Run > Reset did."""
    win = _trained(make_window, qtbot)
    old = win.state.session.run_path
    win.actions_by_name["reset"].trigger()
    win.fork()
    assert win.last_message == "nothing to fork yet: the run is starting" and not win._pending_forks
    qtbot.waitUntil(lambda: win.state.session.run_path != old, timeout=WAIT_MS)
    win.fork()
    assert win.last_message == "forking main at step 0 ..."
    # the tricks panel's Reset button ends the comparison as Run > Reset does (it reset the branch alone)
    qtbot.waitUntil(lambda: len(win.branches) == 2 and win.branches[1].state.session is not None,
                    timeout=6 * WAIT_MS)
    assert win.selected is win.branches[1]
    win.tricks.reset_button.click()
    assert len(win.branches) == 1 and win.selected is win.branches[0]
