"""The latent lab in the window: click images into groups, the result grid, interpolation, saved
directions, export, and an imported generator."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from gan_studio.session.payloads import tile_grid, to_tiles
from gan_studio.core import latent as L
from studio_helpers import WAIT_MS, tiny_config

D = 8
PX = 16


def tiny_shapes():
    return tiny_config("shapes", **{"data.image_size": PX, "data.num_images": 256, "model.latent_dim": D,
                                    "model.ngf": 8, "model.ndf": 8, "train.batch_size": 16})


def open_lab(make_window, qtbot, cfg=None, open_path=None):
    win = make_window(cfg if cfg is not None or open_path else tiny_shapes(), open_path=open_path)
    win.docks["latent"].raise_()
    lab = win.latent_lab
    qtbot.waitUntil(lambda: lab.isVisible() and not lab.tiles[-1].pixmap().isNull(), timeout=WAIT_MS)
    return win, lab


def click(qtbot, widget):
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def pick(qtbot, lab, group, *tiles):
    click(qtbot, lab.group_buttons[group])
    for i in tiles:
        click(qtbot, lab.tiles[i])


def drawn_alone(win, z):
    """What G draws for these latents, asked of the worker directly."""
    step, tiles = win.worker.render_latents(z).result(timeout=WAIT_MS / 1000)
    return tiles


def test_click_images_into_groups_and_get_the_result_grid(make_window, qtbot, tmp_path, monkeypatch):
    win, lab = open_lab(make_window, qtbot)
    assert lab.enabled_for_run and lab.tiles[0].pixmap().width() > PX      # drawn, enlarged
    pick(qtbot, lab, "A", 0)
    pick(qtbot, lab, "B", 1, 2, 3)
    pick(qtbot, lab, "C", 4)
    click(qtbot, lab.tiles[3])                  # a second click takes it out again
    assert [lab.group_buttons[g].text() for g in "ABC"] == ["A: 1", "B: 2", "C: 1"]
    assert "#ff8c00" in lab.tiles[0].styleSheet() and "in group A" in lab.tiles[0].accessibleName()
    assert "transparent" in lab.tiles[3].styleSheet() and "group" not in lab.tiles[3].accessibleName()
    qtbot.waitUntil(lambda: not lab.busy and "result" in lab.outputs and "analogy" in lab.outputs,
                    timeout=WAIT_MS)
    out = lab.outputs["result"]
    z = lab.pool
    np.testing.assert_allclose(out["latents"][L.CENTRE], z[0] - (z[1] + z[2]) / 2 + z[4], atol=1e-5)
    assert np.abs(np.delete(out["latents"], L.CENTRE, 0) - out["latents"][L.CENTRE]).max() <= 0.25 + 1e-6
    assert out["grid"].shape == (3 * (PX + 2) + 2, 3 * (PX + 2) + 2, 3)
    assert not lab.views["result"].pixmap().isNull()
    # the middle of the grid is G(the result) as the worker draws it alone
    centre = drawn_alone(win, out["latents"][L.CENTRE:L.CENTRE + 1])[0]
    o = 2 + (PX + 2)
    np.testing.assert_array_equal(out["grid"][o:o + PX, o:o + PX], centre)
    # one analogy row per image of C: [mean A, mean B, C, result]
    assert lab.outputs["analogy"]["latents"].shape == (4, D)

    # the picks are drawn again as the generator trains
    first_step, first_grid = out["step"], out["grid"].copy()
    win.worker.run_steps(3)
    qtbot.waitUntil(lambda: lab.outputs["result"]["step"] > first_step, timeout=WAIT_MS)
    assert not np.array_equal(lab.outputs["result"]["grid"], first_grid)
    np.testing.assert_array_equal(lab.outputs["result"]["latents"], out["latents"])   # same points

    # re-roll: picked images keep their latents, the others get new ones
    before = lab.pool.copy()
    click(qtbot, win.findChild(type(lab.group_buttons["A"]), "latent.reroll"))
    kept = [0, 1, 2, 4]
    np.testing.assert_array_equal(lab.pool[kept], before[kept])
    assert not np.array_equal(lab.pool[5:], before[5:])

    # export the shown result as PNG and its latents as .npy
    png, npy = tmp_path / "result.png", tmp_path / "result.npy"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(png), ""))
    click(qtbot, lab.findChild(type(lab.group_buttons["A"]), "latent.export_png"))
    np.testing.assert_array_equal(np.asarray(Image.open(png)), lab.outputs["result"]["grid"])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(npy), ""))
    click(qtbot, lab.findChild(type(lab.group_buttons["A"]), "latent.export_npy"))
    np.testing.assert_array_equal(np.load(npy), lab.outputs["result"]["latents"])
    group_file = tmp_path / "b"              # no suffix given: .npy is added
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(group_file), ""))
    click(qtbot, lab.group_buttons["B"])
    click(qtbot, lab.findChild(type(lab.group_buttons["A"]), "latent.export_group"))
    np.testing.assert_array_equal(np.load(tmp_path / "b.npy"), lab.pool[[1, 2]])

    # a group loaded from a file (e.g. the CLI's --latents-out) lands in free tiles, in the active group
    loaded = np.random.default_rng(5).standard_normal((2, D)).astype(np.float32)
    np.save(tmp_path / "c.npy", loaded)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tmp_path / "c.npy"), ""))
    click(qtbot, lab.group_buttons["C"])
    click(qtbot, lab.findChild(type(lab.group_buttons["A"]), "latent.load_group"))
    assert lab.group_buttons["C"].text() == "C: 3"
    np.testing.assert_array_equal(lab.group_latents("C")[1:], loaded)
    np.save(tmp_path / "bad.npy", np.zeros((2, D + 1), np.float32))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tmp_path / "bad.npy"), ""))
    click(qtbot, lab.findChild(type(lab.group_buttons["A"]), "latent.load_group"))
    assert "expected shape (N, 8)" in lab.status.text() and lab.group_buttons["C"].text() == "C: 3"


def test_interpolate_between_two_picks(make_window, qtbot):
    win, lab = open_lab(make_window, qtbot)
    pick(qtbot, lab, "A", 5)
    pick(qtbot, lab, "B", 7)
    lab.tabs.setCurrentIndex(1)
    lab.interp_steps.setValue(5)
    qtbot.waitUntil(lambda: "interp" in lab.outputs and len(lab.outputs["interp"]["latents"]) == 5,
                    timeout=WAIT_MS)
    strip = lab.outputs["interp"]
    z0, z1 = lab.pool[5], lab.pool[7]
    np.testing.assert_allclose(strip["latents"][[0, -1]], [z0, z1], atol=1e-5)
    # slerp (White 2016), by hand: along the great circle through z0 and z1
    omega = np.arccos(z0 @ z1 / np.linalg.norm(z0) / np.linalg.norm(z1))
    t = np.linspace(0, 1, 5)[:, None]
    by_hand = (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)
    np.testing.assert_allclose(strip["latents"], by_hand, atol=1e-5)
    assert strip["grid"].shape == (PX + 4, 5 * (PX + 2) + 2, 3)
    # the strip's ends are the two picked images as the grid shows them
    ends = drawn_alone(win, np.stack([z0, z1]))
    np.testing.assert_array_equal(strip["grid"][2:2 + PX, 2:2 + PX], ends[0])
    lab.interp_linear.setChecked(True)
    qtbot.waitUntil(lambda: np.allclose(lab.outputs["interp"]["latents"][2], (z0 + z1) / 2, atol=1e-5),
                    timeout=WAIT_MS)
    assert lab.tabs.currentIndex() == 1 and not lab.views["interp"].pixmap().isNull()


def test_save_a_direction_apply_it_with_a_strength_and_find_it_again(make_window, qtbot):
    win, lab = open_lab(make_window, qtbot)
    pick(qtbot, lab, "A", 0, 1)
    pick(qtbot, lab, "B", 2)
    lab.tabs.setCurrentIndex(3)
    assert "Save a direction first" in lab.views["apply"].text()
    qtbot.keyClicks(lab.direction_name, "bigger")
    click(qtbot, lab.findChild(type(lab.group_buttons["A"]), "latent.direction.save"))
    path = L.directions_path(lab.run_path)
    doc = json.loads(path.read_text())
    assert [d["name"] for d in doc["directions"]] == ["bigger"]
    vector = (lab.pool[0] + lab.pool[1]) / 2 - lab.pool[2]
    np.testing.assert_allclose(doc["directions"][0]["vector"], vector, atol=1e-5)
    assert lab.direction_choice.currentText().startswith("bigger")
    pick(qtbot, lab, "C", 9)
    lab.strength.setValue(150)
    assert lab.strength_label.text() == "+1.50"
    target = lab.pool[9]
    qtbot.waitUntil(lambda: "apply" in lab.outputs and np.allclose(
        lab.outputs["apply"]["latents"][1], target + 1.5 * vector, atol=1e-5), timeout=WAIT_MS)
    grid = lab.outputs["apply"]["grid"]
    top, bottom = grid[2:2 + PX, 2:2 + PX], grid[4 + PX:4 + 2 * PX, 2:2 + PX]
    assert np.abs(top.astype(int) - bottom).mean() > 1          # the direction changed the picture
    lab.strength.setValue(0)
    qtbot.waitUntil(lambda: np.allclose(lab.outputs["apply"]["latents"][1], target), timeout=WAIT_MS)
    run_path = lab.run_path
    win.close()

    # the direction is kept with the run: a window that opens the run offers it again
    win2, lab2 = open_lab(make_window, qtbot, open_path=run_path)
    assert [d.name for d in lab2.directions] == ["bigger"]
    np.testing.assert_allclose(lab2.current_direction().vector, vector, atol=1e-6)


def test_the_lab_opens_on_an_imported_generator(make_window, qtbot, tmp_path):
    from gan_studio.cli import main
    from gan_studio.core.nets.dcgan import DCGANGenerator
    torch.manual_seed(0)
    g = DCGANGenerator(nz=D, ngf=8, nc=3, image_size=PX)
    torch.save(g.state_dict(), tmp_path / "netG.pth")
    assert main(["import-generator", str(tmp_path / "netG.pth"), "--nz", str(D), "--ngf", "8",
                 "--image-size", str(PX), "--out", str(tmp_path / "imported")]) == 0
    win, lab = open_lab(make_window, qtbot, open_path=tmp_path / "imported")
    assert lab.enabled_for_run and lab.latent_dim == D
    pick(qtbot, lab, "A", 0)
    pick(qtbot, lab, "B", 1)
    pick(qtbot, lab, "C", 2)
    qtbot.waitUntil(lambda: not lab.busy and "result" in lab.outputs, timeout=WAIT_MS)
    # the imported G samples with its running averages (netG.eval()): the same pixels as the original
    z = lab.outputs["result"]["latents"]
    with torch.no_grad():
        expected = to_tiles(g.eval()(torch.from_numpy(z)))
    np.testing.assert_array_equal(lab.outputs["result"]["grid"], tile_grid(expected, nrow=3))


def test_a_2d_run_gets_a_note_not_a_panel(make_window, qtbot):
    win = make_window(tiny_config())
    lab = win.latent_lab
    assert not lab.enabled_for_run and "draws images" in lab.header.text()
    assert not lab.tiles[0].isEnabled() and not lab.group_buttons["A"].isEnabled()
