"""The image-to-image panel on a CycleGAN run: real images of both domains, a click shows the
translation and the reconstruction, redrawn as training goes on, exported as a PNG; on other runs it
is hidden and says what it needs."""
from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

import gan_studio.core.families  # noqa: F401 - the families' config sections ([cyclegan]) exist once imported
from gan_studio.app.translate_panel import EXPORT_SCALE, NEEDS_RUN
from gan_studio.core.config import Config
from studio_helpers import WAIT_MS, tiny_config


def cyclegan_config() -> Config:
    return Config.from_dict({
        "name": "tiny-cyclegan", "loss": "least-squares",
        "data": {"name": "shapes", "image_size": 16, "num_images": 600, "domain_a": "shape=circle",
                 "domain_b": "shape=square,colour=red"},
        "model": {"family": "cyclegan", "ngf": 4, "ndf": 4},
        "cyclegan": {"res_blocks": 1, "pool_size": 4},
        "train": {"batch_size": 4, "device": "cpu", "log_every": 2, "eval_every": 10_000,
                  "snapshot_every": 10_000, "checkpoint_every": 10_000}})


def shown_docks(win) -> set[str]:
    return {name for name, dock in win.docks.items() if not dock.isHidden()}


def test_click_a_real_image_to_see_its_translation_and_reconstruction_as_training_runs(make_window, qtbot, tmp_path):
    win = make_window(cyclegan_config())
    panel = win.translate_panel
    docks = shown_docks(win)
    assert "translate" in docks and "latent" not in docks and "grid" in docks   # no latent to explore
    assert win.docks["translate"].isVisible()                                  # in front
    assert "shape=square,colour=red" in panel.domain_labels["b"].text()
    assert len(panel.tiles["a"]) == len(panel.tiles["b"]) == 12
    qtbot.waitUntil(lambda: panel.shown is not None, timeout=WAIT_MS)           # the first A image, at once
    assert panel.shown[1:3] == ("a", 0)

    qtbot.mouseClick(panel.tiles["b"][3], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.shown is not None and panel.shown[1:3] == ("b", 3), timeout=WAIT_MS)
    step, _, _, tiles = panel.shown
    assert step == 0 and tiles.shape == (3, 16, 16, 3)
    assert np.array_equal(tiles[0], win.state.session.domain_images["b"][3])   # the clicked image is the input
    assert panel.titles["translation"].text() == "B -> A" and "B -> A of real image 4" in panel.message.text()
    assert not panel.pictures["reconstruction"].pixmap().isNull()

    win.worker.run_steps(3)                                                      # redrawn as the networks learn
    qtbot.waitUntil(lambda: panel.shown[0] == 3, timeout=WAIT_MS)
    # busy while a translation is asked for and not drawn yet (a screenshot waits for it); the answer
    # comes back through the event loop, so nothing can clear it before the next wait
    panel.request()
    assert panel.busy
    qtbot.waitUntil(lambda: not panel.busy, timeout=WAIT_MS)
    assert panel.shown[0] == 3
    assert np.array_equal(panel.shown[3][0], tiles[0]) and not np.array_equal(panel.shown[3][1], tiles[1])

    path = panel.export_png(tmp_path / "translation.png")
    picture = np.asarray(Image.open(path).convert("RGB"))
    side = 16 * EXPORT_SCALE
    assert picture.shape[1] == 3 * (side + 2) + 2 and picture.shape[0] > side    # three images in a row, titled
    # the grid shows the run's rows: real A, A -> B, A -> B -> A, then the same from B
    win.refresh_all()
    assert win.grid.shown_view.tiles.shape == (48, 16, 16, 3) and "B -> A -> B" in win.grid.caption_label.text()


def test_other_runs_hide_it_and_it_says_what_it_needs(make_window, qtbot):
    win = make_window(cyclegan_config())
    panel = win.translate_panel
    qtbot.waitUntil(lambda: panel.shown is not None, timeout=WAIT_MS)
    win.worker.reset(tiny_config("ring8"))
    qtbot.waitUntil(lambda: win.state.session is not None and win.state.session.config.data.name == "ring8",
                    timeout=WAIT_MS)
    assert "translate" not in shown_docks(win) and not win.docks["translate"].toggleViewAction().isEnabled()
    assert panel.message.text() == NEEDS_RUN and panel.tiles == {"a": [], "b": []} and panel.shown is None
    assert not panel.export_button.isEnabled()
