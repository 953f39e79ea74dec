"""Only the panels that apply, per run type; a short message where a panel is empty; and the window's
state follows the run it opens (toolbar, grid history from the run folder's snapshots)."""
from __future__ import annotations

from PySide6.QtWidgets import QFileDialog

import gan_studio.core.families  # noqa: F401 - the families' config sections (stackgan.*) exist once imported

from gan_studio.app.grid_browser import EMPTY_IMAGE_TEXT, GridBrowser
from gan_studio.app.history import StudioState
from gan_studio.core.config import Config
from gan_studio.session.payloads import RunInfo
from studio_helpers import WAIT_MS, tiny_config
from test_window_families import family_config

NETWORK_TRICKS = ("normalization", "minibatch_discrimination", "packing")


def shown(win) -> set[str]:
    return {name for name, dock in win.docks.items() if not dock.isHidden()}


def trick_shown(win, trick: str) -> bool:
    """Whether the trick is offered (its group may be closed: a click opens it)."""
    section, rows = win.tricks.trick_rows[trick]
    return section.isVisibleTo(win.tricks) and section.form.isRowVisible(rows[0])


def digits_config(**overrides):
    return tiny_config("digits", **{"model.ngf": 8, "model.ndf": 8, "train.batch_size": 16, **overrides})


def test_a_2d_run_shows_the_2d_view_and_no_image_panels(make_window):
    win = make_window()
    assert shown(win) == {"tricks", "plots", "modes", "events"}
    for name in ("grid", "latent", "caption"):
        assert not win.docks[name].toggleViewAction().isEnabled()     # greyed out in the Panels menu
    assert all(trick_shown(win, t) for t in NETWORK_TRICKS)          # the MLPs take every trick
    assert not win.tricks.hidden_note.isVisible()
    # before any change, the changes list says what will fill it
    assert win.events.empty.isVisible() and "click one" in win.events.empty.text()


def test_a_dcgan_image_run_shows_the_grid_and_hides_the_tricks_dcgan_refuses(make_window):
    win = make_window(digits_config())
    assert shown(win) == {"tricks", "plots", "grid", "latent", "events"}
    assert win.docks["grid"].isVisible()                              # in front of the latent lab
    assert win.docks["modes"].isHidden() and not win.docks["modes"].toggleViewAction().isEnabled()
    for trick in NETWORK_TRICKS:
        assert not trick_shown(win, trick)
    assert trick_shown(win, "label_smoothing") and trick_shown(win, "instance_noise")
    note = win.tricks.hidden_note
    assert note.isVisible() and "packing" in note.text() and "dcgan" in note.text()
    assert not {"modes", "hq", "rkl"} & {n for n in win.plots.plots if win.plots.is_shown(n)}


def test_text_to_image_shows_only_on_a_stackgan_run_with_only_its_tricks(make_window):
    cfg = family_config("stackgan", data={"name": "shapes", "image_size": 16, "num_images": 600},
                        stackgan={"stage1_size": 8, "text_dim": 16, "ca_dim": 4, "text_steps": 20})
    win = make_window(cfg)
    assert shown(win) == {"tricks", "plots", "grid", "latent", "caption", "events"}
    assert win.docks["caption"].isVisible()                           # in front
    tricks = {name for name in win.tricks.trick_rows if trick_shown(win, name)}
    assert tricks == {"label_smoothing", "two_time_scale"}
    assert "this model family does not take them" in win.tricks.hidden_note.text()


def test_the_grid_browser_says_what_fills_it_before_the_first_snapshot(qtbot, tmp_path):
    state = StudioState()
    grid = GridBrowser(state)
    qtbot.addWidget(grid)
    grid.show()
    state.begin(RunInfo(config=Config(), run_path=str(tmp_path), device_name="cpu", step=0, is_image=True))
    grid.refresh()
    assert grid.note.isVisible() and grid.note.text() == EMPTY_IMAGE_TEXT
    assert not grid.side.isVisible()                                  # no enlarge pane before a click


def test_open_sets_the_toolbar_from_the_run_and_the_grid_reads_its_snapshots(make_window, qtbot, monkeypatch):
    first = make_window(digits_config(**{"train.snapshot_every": 2}))
    first.worker.run_steps(6)
    qtbot.waitUntil(lambda: first.state.step == 6 and not first.state.running, timeout=WAIT_MS)
    run_path = first.state.session.run_path
    first.close()                                 # saves the run; one writer per run folder
    win = make_window()                           # a ring8 window
    assert win.preset_box.currentText() == "ring8"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: run_path)
    win.actions_by_name["open"].trigger()
    qtbot.waitUntil(lambda: win.state.session.run_path == run_path, timeout=WAIT_MS)
    assert win.preset_box.currentText() == "digits" and win.data_box.currentText() == "digits"
    assert shown(win) == {"tricks", "plots", "grid", "latent", "events"}
    qtbot.waitUntil(lambda: any(v.tiles is not None for v in win.state.views), timeout=WAIT_MS)
    win.refresh_all()
    grid = win.grid
    disk = [v.step for v in grid.disk_views]
    assert disk == [2, 4]                         # the snapshots before the opened step 6
    views = grid.grid_views()
    assert [v.step for v in views][:2] == [2, 4] and views[2].step == 6
    grid.slider.setValue(0)                       # scrub back to the oldest: a picture from the folder
    assert grid.shown_view.step == 2 and grid.shown_view.tiles.shape == (64, 16, 16, 1)
    assert "step 2" in grid.step_label.text()
    grid.select_cell(9)                           # the enlarge pane opens on a click
    assert grid.side.isVisible() and "row 1, column 1" in grid.cell_label.text()


def test_a_family_run_shows_its_live_settings_open_in_a_group_of_their_own(make_window, qtbot):
    from gan_studio.app.tricks_panel import Section
    cfg = family_config("infogan", data={"name": "shapes", "image_size": 16, "num_images": 600},
                        infogan={"categories": 3, "q_invariance": "canonical", "self_condition": "q"})
    win = make_window(cfg)
    panel = win.tricks
    group = panel.sections.get("InfoGAN (live)")
    assert group is not None and group.isVisibleTo(panel) and group.body.isVisibleTo(panel)   # open
    names = list(panel.sections)
    assert names.index("InfoGAN (live)") == names.index("Loss") + 1                           # in sight
    live = ("infogan.lambda_cat", "infogan.lambda_cont", "infogan.mismatch", "infogan.q_consistency")
    assert all(panel.controls[k].parent() is group.body for k in live)
    # settings that need a new model stay under Reset
    assert panel.controls["infogan.categories"].parent() is panel.sections["Needs a new model (Reset)"].body
    # a change there is applied to the training run, live
    panel.setting_changed.emit("infogan.q_consistency", 1.0)
    qtbot.waitUntil(lambda: any(e.get("key") == "infogan.q_consistency" for e in win.state.events), timeout=WAIT_MS)
    # another run, of the plain GAN: the group goes, and nothing of the old panel is left on screen
    panel.load_config(digits_config())
    assert "InfoGAN (live)" not in panel.sections
    assert set(panel.body.findChildren(Section)) == set(panel.sections.values())
