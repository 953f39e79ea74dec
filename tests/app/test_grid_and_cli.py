"""The grid browser on a tiny image set, the `gui --screenshot` command, and the health checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QAbstractSlider, QFileDialog, QPushButton

from gan_studio.app.history import health_warnings
from gan_studio.core.data.registry import Dataset, register_dataset
from gan_studio.session.payloads import METRIC_COLUMNS, cell_at, tile_grid
from studio_helpers import WAIT_MS, tiny_config


class Squares(Dataset):
    """8x8 grey images, each a bright 3x3 square at a random place on a dark ground."""
    kind = "image"
    shape = (1, 8, 8)

    def __init__(self):
        self.name, self.device = "test-squares", torch.device("cpu")

    def to(self, device):
        self.device = torch.device(device)
        return self

    def sample(self, n, generator):
        img = -torch.ones(n, 1, 8, 8, device=self.device)
        pos = torch.randint(0, 6, (n, 2), generator=generator, device=self.device)
        for i in range(n):
            img[i, 0, pos[i, 0]:pos[i, 0] + 3, pos[i, 1]:pos[i, 1] + 3] = 1.0
        return img


@pytest.fixture
def squares():
    register_dataset("test-squares", lambda c: Squares(), "image", "test images")
    yield "test-squares"
    from gan_studio.core.data import registry
    registry._REGISTRY.pop("test-squares", None)


def test_tile_grid_and_cell_lookup_agree():
    tiles = np.arange(5 * 4 * 3 * 1, dtype=np.uint8).reshape(5, 4, 3, 1)
    grid = tile_grid(tiles, nrow=2, pad=1)
    assert grid.shape == (3 * 5 + 1, 2 * 4 + 1, 1)
    for i in range(5):
        r, c = divmod(i, 2)
        y, x = 1 + r * 5, 1 + c * 4
        assert cell_at(tiles.shape, y + 1.5, x + 0.5, nrow=2, pad=1) == i
        np.testing.assert_array_equal(grid[y:y + 4, x:x + 3], tiles[i])
    assert cell_at(tiles.shape, 0.5, 0.5, nrow=2, pad=1) is None       # the padding
    assert cell_at(tiles.shape, 12.0, 5.5, nrow=2, pad=1) is None      # past the last tile


def test_grid_browser_scrub_enlarge_save_and_gif(make_window, qtbot, squares, tmp_path, monkeypatch):
    # the thread engine: the data set is registered in this process only
    win = make_window(tiny_config(**{"data.name": squares}), engine="thread")
    assert win.state.session.is_image
    for i in range(1, 4):
        win.worker.step_once()
        qtbot.waitUntil(lambda: win.state.step == i, timeout=WAIT_MS)
    win.docks["grid"].raise_()
    win.refresh_all()
    grid = win.grid
    views = grid.grid_views()
    assert [v.step for v in views] == [0, 1, 2, 3] and views[0].tiles.shape == (64, 8, 8, 1)
    assert grid.image.image.shape == tile_grid(views[-1].tiles).shape
    slider = win.findChild(QAbstractSlider, "grid.history")
    slider.setValue(0)
    assert grid.shown_view is views[0] and "history" in grid.step_label.text()
    # a click on the image at cell 9 (row 1, column 1) enlarges it
    y, x = 2 + 1 * 10 + 4, 2 + 1 * 10 + 4

    def cell_point():
        return grid.view_widget.mapFromScene(grid.image.mapToScene(QPointF(x, y)))
    # the window's layout settles first (pending resizes move the image in the view): then the point is on screen
    qtbot.waitUntil(lambda: grid.view_widget.isVisible()
                    and grid.view_widget.viewport().rect().contains(cell_point()), timeout=WAIT_MS)
    qtbot.wait(20)
    qtbot.mouseClick(grid.view_widget.viewport(), Qt.MouseButton.LeftButton, pos=cell_point())
    assert grid.selected == 9
    np.testing.assert_array_equal(grid.cell_image.image, views[0].tiles[9])
    assert "cell 9" in grid.cell_label.text()
    before = grid.vb.viewRange()[0][1] - grid.vb.viewRange()[0][0]
    qtbot.mouseClick(win.findChild(QPushButton, "grid.zoom_in"), Qt.MouseButton.LeftButton)
    assert grid.vb.viewRange()[0][1] - grid.vb.viewRange()[0][0] < before
    png, gif = tmp_path / "grid.png", tmp_path / "lapse.gif"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(png), ""))
    qtbot.mouseClick(win.findChild(QPushButton, "grid.save_png"), Qt.MouseButton.LeftButton)
    saved = np.asarray(Image.open(png))
    np.testing.assert_array_equal(saved, tile_grid(views[0].tiles)[:, :, 0])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(gif), ""))
    qtbot.mouseClick(win.findChild(QPushButton, "grid.export_gif"), Qt.MouseButton.LeftButton)
    with Image.open(gif) as im:
        assert im.n_frames == 4
    assert "exported 4 frames" in win.statusBar().currentMessage()


def test_gui_screenshot_command(tmp_path):
    from gan_studio.cli import main
    shot = tmp_path / "plots.png"
    rc = main(["gui", "--set", "model.g_width=32", "--set", "model.d_width=32", "--set", "train.batch_size=64",
               "--run-steps", "4", "--screenshot", str(shot), "--panel", "plots", "--size", "900x600",
               "--runs-dir", str(tmp_path / "runs")])
    assert rc == 0
    img = Image.open(shot)
    assert img.size[0] > 200 and img.size[1] > 200
    assert len(np.unique(np.asarray(img.convert("L")))) > 10       # a drawn picture, not a blank one
    run = next((tmp_path / "runs").iterdir())
    assert (run / "checkpoint.pt").is_file()


def test_gui_command_bad_setting_is_one_line(capsys):
    from gan_studio.cli import main
    assert main(["gui", "--set", "train.lr_d=5", "--screenshot", "x.png"]) == 2
    err = capsys.readouterr().err
    assert "train.lr_d" in err and err.count("\n") == 1


def _rows(n, loss_d=0.7, grad=1.0):
    rows = np.ones((n, len(METRIC_COLUMNS)))
    rows[:, 0] = np.arange(1, n + 1)
    rows[:, 1] = loss_d
    rows[:, 5:] = grad
    return rows


def test_health_warnings_name_the_problem():
    assert health_warnings(_rows(200), "non-saturating") == []
    assert any("D's loss is near zero" in w for w in health_warnings(_rows(200, loss_d=1e-4), "non-saturating"))
    assert health_warnings(_rows(200, loss_d=-3.0), "wgan") == []    # a critic's loss may be anything
    exploding = _rows(200)
    exploding[-3:, 6] = 1e4
    assert any("G's gradient norm exploded" in w for w in health_warnings(exploding, "non-saturating"))
    nan = _rows(200)
    nan[-1, 2] = np.nan
    assert any("NaN" in w for w in health_warnings(nan, "non-saturating"))
