"""The lecture's model families in the window: their own plot, their grids, the caption box."""
from __future__ import annotations

import functools

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QPushButton

import gan_studio.core.families  # noqa: F401 - registers every family's config section
from gan_studio.core.config import Config
from studio_helpers import WAIT_MS
from test_window_layout import assert_fits_at


def family_config(family: str, **sections) -> Config:
    base = {"log_every": 2, "eval_every": 10_000, "snapshot_every": 10_000, "checkpoint_every": 10_000,
            "batch_size": 16, "device": "cpu"}
    d = {"name": f"tiny-{family}", "model": {"family": family, "latent_dim": 8, "ngf": 8, "ndf": 8},
         "train": base}
    for key, value in sections.items():
        d.setdefault(key, {}).update(value)
    d["train"] = {**base, **sections.get("train", {})}
    return Config.from_dict(d)


def test_semi_supervised_run_plots_test_accuracy_beside_the_labelled_only_baseline(make_window, qtbot):
    cfg = family_config("ssl", data={"name": "digits", "image_size": 8},
                        model={"arch": "mlp", "g_depth": 1, "g_width": 32, "d_depth": 2, "d_width": 32},
                        ssl={"labels_per_class": 3}, train={"eval_every": 3})
    win = make_window(cfg)
    fam = win.plots.plots["family"]
    win.worker.run_steps(9)
    qtbot.waitUntil(lambda: win.state.step == 9 and not win.state.running, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(win.state.family_evals) >= 3, timeout=WAIT_MS)
    win.refresh_all()
    assert fam.isVisible() and fam.titleLabel.text == "Test accuracy"
    kplus1 = win.plots.family_curves["test_accuracy"]
    baseline = win.plots.family_curves["baseline_accuracy"]
    steps = list(kplus1.xData)
    assert len(steps) >= 3 and steps == sorted(steps) and steps[-1] <= 9 and len(baseline.xData) == len(steps)
    assert all(0.0 <= v <= 1.0 for v in list(kplus1.yData) + list(baseline.yData))
    # its evaluations have no classifier metrics of G's samples: no FD plot that would stay empty for ever
    # (the plot said 'measured every 3 steps: none yet' after three evaluations)
    assert not win.plots.is_shown("fd") and win.plots.is_shown("family")


def test_lapgan_grid_shows_every_level_and_the_summed_image(make_window, qtbot):
    cfg = family_config("lapgan", data={"name": "shapes", "image_size": 16, "num_images": 600},
                        lapgan={"base_size": 8})
    win = make_window(cfg)
    win.worker.run_steps(2)
    qtbot.waitUntil(lambda: win.state.step == 2 and not win.state.running, timeout=WAIT_MS)
    win.refresh_all()
    v = win.grid.shown_view
    assert v.nrow == 3 and v.tiles.shape == (24, 16, 16, 3)    # 8 latents x [level 0 | residual 1 | level 1]
    assert "residual 1" in win.grid.caption_label.text()
    assert win.plots.family_curves.keys() == {"lap0_d_auc", "lap1_d_auc"}
    # LAPGAN's evaluations have the final image's classifier metrics (FamilySpec.image_metrics): the FD plot
    # is shown beside the family's own, and both fit a 1280x720 window without a scroll bar
    assert win.plots.is_shown("fd") and win.plots.is_shown("family")
    assert_fits_at(win, qtbot, (1280, 720))


def test_stackgan_caption_box_draws_both_stages_and_lists_the_vocabulary(make_window, qtbot):
    cfg = family_config("stackgan", data={"name": "shapes", "image_size": 16, "num_images": 600},
                        stackgan={"stage1_size": 8, "text_dim": 16, "ca_dim": 4, "text_steps": 20})
    win = make_window(cfg)
    panel = win.caption_panel
    qtbot.waitUntil(lambda: panel.shown is not None, timeout=WAIT_MS)   # the default caption is drawn
    step, s1, s2 = panel.shown
    assert s1.shape == s2.shape == (8, 16, 16, 3)                      # stage I enlarged beside stage II
    panel.draw()                                                       # busy until the answer is drawn
    assert panel.busy
    qtbot.waitUntil(lambda: not panel.busy, timeout=WAIT_MS)
    box = win.findChild(QLineEdit, "caption.text")
    box.setText("a red dodecahedron")
    qtbot.mouseClick(win.findChild(QPushButton, "caption.draw"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "dodecahedron" in panel.message.text(), timeout=WAIT_MS)
    assert "circle" in panel.message.text()                            # the vocabulary is listed
    box.setText("a large blue square")
    qtbot.mouseClick(win.findChild(QPushButton, "caption.draw"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "large blue square" in panel.message.text(), timeout=WAIT_MS)
    assert not np.array_equal(panel.shown[2], s2)                      # other words, other pictures


def test_latent_lab_holds_a_conditional_gan_label_fixed_or_changes_it(make_window, qtbot):
    from PySide6.QtWidgets import QComboBox
    from studio_helpers import call, generate
    cfg = family_config("cgan", data={"name": "digits", "image_size": 16}, model={"arch": "dcgan"})
    win = make_window(cfg)
    win.docks["latent"].raise_()
    lab = win.latent_lab
    combo = win.findChild(QComboBox, "latent.label")
    qtbot.waitUntil(lambda: lab.isVisible() and not lab.tiles[-1].pixmap().isNull(), timeout=WAIT_MS)
    assert combo.isVisible() and combo.count() == 10 and lab.label == 0
    z = lab.pool[:2]
    as_zero = call(win, functools.partial(generate, z=z, label=0))
    as_seven = call(win, functools.partial(generate, z=z, label=7))
    assert not np.allclose(as_zero, as_seven)           # the label changes the picture
    shown = lab.tiles[0].pixmap().toImage()
    combo.setCurrentIndex(7)                            # the same latents, drawn as a 7
    qtbot.waitUntil(lambda: lab.tiles[0].pixmap().toImage() != shown, timeout=WAIT_MS)
    assert lab.label == 7
