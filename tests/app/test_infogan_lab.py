"""InfoGAN in the window: the latent lab shows the run's codes as controls (the categorical value,
a slider per continuous code, a Codes tab with one row per categorical value and a traversal of one
continuous code), and the grid browser lays out one row per categorical value."""
from __future__ import annotations

import functools

import numpy as np
import torch
from PySide6.QtWidgets import QComboBox, QLabel, QSlider

import gan_studio.core.families  # noqa: F401  (registers the families' config sections)
from gan_studio.app.latent_lab import OUTPUTS
from gan_studio.core.config import Config
from gan_studio.session.payloads import to_tiles
from studio_helpers import WAIT_MS, call, generate

K, C, D, PX = 3, 2, 8, 16


def infogan_config() -> Config:
    return Config.from_dict({
        "name": "tiny-infogan", "data": {"name": "digits", "image_size": PX},
        "model": {"family": "infogan", "arch": "dcgan", "latent_dim": D, "ngf": 8, "ndf": 8},
        "infogan": {"categories": K, "continuous": C},
        "train": {"batch_size": 16, "device": "cpu", "log_every": 2, "eval_every": 10_000,
                  "snapshot_every": 10_000, "checkpoint_every": 10_000}})


def drawn(win, latents, codes) -> np.ndarray:
    """G(z, codes) as uint8 tiles, asked of the engine directly."""
    return to_tiles(torch.from_numpy(call(win, functools.partial(generate, z=latents, label=codes))))


def cell(grid, row, col):
    return grid[2 + row * (PX + 2):2 + row * (PX + 2) + PX, 2 + col * (PX + 2):2 + col * (PX + 2) + PX]


def test_latent_lab_shows_the_codes_and_draws_a_row_per_categorical_value(make_window, qtbot):
    win = make_window(infogan_config())
    win.docks["latent"].raise_()
    lab = win.latent_lab
    asked = []   # every picture the lab asks for: (latents, condition)
    render = win.worker.render_latents
    win.worker.render_latents = lambda z, condition=None: asked.append((z, condition)) or render(z, condition)
    combo = win.findChild(QComboBox, "latent.code")
    qtbot.waitUntil(lambda: lab.code_sizes == (K, C) and lab.isVisible()
                    and not lab.tiles[-1].pixmap().isNull(), timeout=WAIT_MS)
    # the controls come from the run's codes: a value per row, a slider per continuous code
    assert combo.isVisible() and [combo.itemText(i) for i in range(combo.count())] == ["code: 0", "code: 1", "code: 2"]
    sliders = [win.findChild(QSlider, f"latent.code.cont.{j}") for j in (1, 2)]
    assert all(s is not None and s.isEnabled() for s in sliders)
    assert not win.findChild(QComboBox, "latent.label").isVisible()   # no class labels: codes instead
    index = [k for k, _ in OUTPUTS].index("codes")
    assert lab.tabs.isTabVisible(index)
    lab.tabs.setCurrentIndex(index)

    # the Codes tab: one row per categorical value, the same 8 latents in every row
    qtbot.waitUntil(lambda: "codes" in lab.outputs, timeout=WAIT_MS)
    out = lab.outputs["codes"]
    assert out["nrow"] == 8 and out["grid"].shape == (K * (PX + 2) + 2, 8 * (PX + 2) + 2, 1)
    np.testing.assert_array_equal(out["latents"], np.tile(lab.pool[:8], (K, 1)))
    np.testing.assert_array_equal(out["codes"][:, 0], np.repeat(np.arange(K), 8))
    assert not out["codes"][:, 1:].any()                            # the sliders start at 0
    tiles = drawn(win, out["latents"], out["codes"])
    for row in range(K):
        np.testing.assert_array_equal(cell(out["grid"], row, 3), tiles[row * 8 + 3])

    # a traversal: continuous code 2 from -2 to 2 along each row, one latent, the rest fixed
    vary = win.findChild(QComboBox, "latent.code.vary")
    assert vary.itemText(2) == "continuous code 2 from -2 to 2"
    vary.setCurrentIndex(2)
    qtbot.waitUntil(lambda: (lab.outputs["codes"]["latents"] == lab.pool[0]).all(), timeout=WAIT_MS)
    out = lab.outputs["codes"]
    np.testing.assert_allclose(out["codes"][:8, 2], np.linspace(-2, 2, 8), atol=1e-6)
    assert not out["codes"][:, 1].any() and out["codes"][8:16, 0].tolist() == [1] * 8
    tiles = drawn(win, out["latents"], out["codes"])
    np.testing.assert_array_equal(cell(out["grid"], 2, 7), tiles[2 * 8 + 7])

    # a slider holds a continuous code for every picture; the combo the categorical value
    sliders[0].setValue(150)
    assert win.findChild(QLabel, "latent.code.cont.1.value").text() == "+1.50"
    combo.setCurrentIndex(2)
    np.testing.assert_array_equal(lab.codes_for(2), [[2, 1.5, 0], [2, 1.5, 0]])
    qtbot.waitUntil(lambda: (lab.outputs["codes"]["codes"][:, 1] == 1.5).all(), timeout=WAIT_MS)
    tiles_asked = [c for z, c in asked if len(z) == len(lab.tiles)]
    qtbot.waitUntil(lambda: any(c is not None and (c == [2, 1.5, 0]).all()
                                for z, c in asked if len(z) == len(lab.tiles)), timeout=WAIT_MS)
    assert tiles_asked and all(c is not None and c.shape == (len(lab.tiles), 1 + C) for c in tiles_asked)


def test_grid_browser_has_one_row_per_categorical_value(make_window, qtbot):
    win = make_window(infogan_config())
    win.worker.run_steps(2)
    qtbot.waitUntil(lambda: win.state.step == 2 and not win.state.running, timeout=WAIT_MS)
    win.refresh_all()
    v = win.grid.shown_view
    assert v.nrow == 8 and v.tiles.shape == (K * 8, PX, PX, 1)
    assert win.grid.caption_label.text() == "rows: code 0; code 1; code 2"
