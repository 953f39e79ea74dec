"""Latent arithmetic, interpolation and directions (gan_studio.core.latent) and `gan-studio latent`."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gan_studio.cli import main
from gan_studio.core import latent as L
from gan_studio.core.errors import ConfigError, RunError

D = 8


def tiny_image_run(path, steps: int = 2):
    """A DCGAN run folder on 16 px shapes with an 8-d latent: seconds to build."""
    from gan_studio.core.presets import load_preset
    from gan_studio.core.runs import RunFolder
    from gan_studio.core.training.trainer import Trainer
    cfg = load_preset("shapes")
    for key, value in {"data.image_size": 16, "data.num_images": 256, "model.latent_dim": D, "model.ngf": 8,
                       "model.ndf": 8, "train.batch_size": 16, "train.eval_every": 10_000}.items():
        cfg.set(key, value)
    tr = Trainer(cfg)
    for _ in range(steps):
        tr.step()
    run = RunFolder.create(path, tr.cfg)
    run.save_checkpoint(tr)
    return tr, run


# -- interpolation -------------------------------------------------------------------------------------
def test_slerp_hits_both_ends_and_keeps_the_norm_where_lerp_sags():
    rng = np.random.default_rng(0)
    z0, z1 = rng.standard_normal(64), rng.standard_normal(64)
    z1 *= np.linalg.norm(z0) / np.linalg.norm(z1)   # equal norms: slerp stays on the sphere
    s = L.interpolate(z0, z1, 9, "slerp")
    lin = L.interpolate(z0, z1, 9, "linear")
    assert s.shape == (9, 64) and s.dtype == np.float32
    np.testing.assert_allclose(s[0], z0, atol=1e-5)
    np.testing.assert_allclose(s[-1], z1, atol=1e-5)
    norms = np.linalg.norm(s, axis=1)
    np.testing.assert_allclose(norms, np.linalg.norm(z0), rtol=1e-5)
    # two independent Gaussian latents are nearly orthogonal: the line's midpoint is ~0.71 as long
    assert np.linalg.norm(lin[4]) < 0.85 * np.linalg.norm(z0)
    # the angle to z0 grows in equal steps along the great circle
    cos = s @ z0 / (norms * np.linalg.norm(z0))
    angles = np.arccos(np.clip(cos, -1, 1))
    np.testing.assert_allclose(np.diff(angles), angles[-1] / 8, atol=1e-4)


def test_slerp_of_parallel_latents_falls_back_to_the_line():
    z0 = np.ones(4, np.float32)
    out = L.slerp(z0, 2 * z0, np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(out, [z0, 1.5 * z0, 2 * z0], atol=1e-6)
    with pytest.raises(ConfigError, match="at least 2"):
        L.interpolate(z0, z0, 1)


# -- arithmetic ------------------------------------------------------------------------------------------
def test_arithmetic_is_the_hand_computation_and_the_grid_has_it_in_the_middle():
    a = np.array([[1, 0, 0, 0], [3, 0, 0, 0], [2, 3, 0, 0]], np.float32)    # mean (2, 1, 0, 0)
    b = np.array([[0, 1, 0, 0], [0, 3, 0, 0]], np.float32)                  # mean (0, 2, 0, 0)
    c = np.array([[0, 0, 5, -1]], np.float32)
    np.testing.assert_allclose(L.arithmetic(a, b, c), [2, -1, 5, -1])
    grid = L.result_grid(a, b, c, seed=3)
    assert grid.shape == (9, 4)
    np.testing.assert_allclose(grid[L.CENTRE], [2, -1, 5, -1])
    offsets = np.delete(grid, L.CENTRE, axis=0) - grid[L.CENTRE]
    assert np.abs(offsets).max() <= 0.25 + 1e-6
    assert (np.abs(offsets) > 0.05).mean() > 0.5          # real noise, not the centre repeated
    np.testing.assert_array_equal(L.result_grid(a, b, c, seed=3), grid)           # seeded
    assert not np.array_equal(L.result_grid(a, b, c, seed=4), grid)


def test_neighbours_fill_the_box_uniformly():
    out = L.neighbours(np.zeros(1000, np.float32), n=8, radius=0.25, seed=1)
    assert out.shape == (8, 1000)
    assert out.min() >= -0.25 and out.max() <= 0.25
    assert out.min() < -0.24 and out.max() > 0.24
    assert abs(float(out.mean())) < 0.01


def test_analogy_grid_has_one_row_per_c():
    a, b = np.full((2, 3), 2.0, np.float32), np.ones((3, 3), np.float32)
    cs = np.array([[0, 0, 0], [5, 5, 5]], np.float32)
    g = L.analogy_grid(a, b, cs).reshape(2, L.ANALOGY_COLUMNS, 3)
    np.testing.assert_allclose(g[:, 0], 2.0)
    np.testing.assert_allclose(g[:, 1], 1.0)
    np.testing.assert_allclose(g[:, 2], cs)
    np.testing.assert_allclose(g[:, 3], cs + 1.0)


def test_latents_are_checked():
    np.testing.assert_array_equal(L.as_latents(np.zeros((2, D, 1, 1)), D), np.zeros((2, D), np.float32))
    for bad, msg in ((np.zeros((2, D + 1)), r"shape \(N, 8\)"), (np.array([[np.nan] * D]), "NaN"),
                     (np.zeros((0, D)), "N >= 1"), (np.array([["x"] * D]), "numbers")):
        with pytest.raises(ConfigError, match=msg):
            L.as_latents(bad, D, "--a z.npy")


# -- directions ----------------------------------------------------------------------------------------
def test_directions_round_trip_and_apply(tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, D)), rng.standard_normal((3, D))
    d = L.direction_between("smile", a, b)
    np.testing.assert_allclose(d.vector, a.mean(0) - b.mean(0), atol=1e-6)
    other = L.Direction("size", np.arange(D, dtype=np.float32))
    L.save_directions(tmp_path, [d, other], D)
    back = L.load_directions(tmp_path, D)
    assert [x.name for x in back] == ["smile", "size"] and back[0].made_from == "mean(A) - mean(B)"
    np.testing.assert_array_equal(back[0].vector, d.vector)
    z = rng.standard_normal((2, D)).astype(np.float32)
    np.testing.assert_allclose(L.apply_direction(z, back[1].vector, 0.5), z + 0.5 * np.arange(D), atol=1e-6)
    np.testing.assert_allclose(L.apply_direction(z, back[1].vector, 0.0), z)
    assert L.load_directions(tmp_path / "nothing-here", D) == []


@pytest.mark.parametrize("doc, msg", [
    ("not json", "not readable JSON"),
    ({"format": "other"}, "not a GAN Studio directions file"),
    ({"format": L.DIRECTIONS_FORMAT, "latent_dim": 3, "directions": []}, "latent size 3"),
    ({"format": L.DIRECTIONS_FORMAT, "latent_dim": D, "directions": [{"name": "x", "vector": [1.0] * 3}]},
     "list of 8 numbers"),
    ({"format": L.DIRECTIONS_FORMAT, "latent_dim": D,
      "directions": [{"name": "x", "vector": ["__import__('os')"] * D}]}, "list of 8 numbers"),
    ("{\"format\": \"%s\", \"latent_dim\": 8, \"directions\": [{\"name\": \"x\", \"vector\": "
     "[NaN, 0, 0, 0, 0, 0, 0, 0]}]}" % L.DIRECTIONS_FORMAT, "NaN"),
    ({"format": L.DIRECTIONS_FORMAT, "latent_dim": D,
      "directions": [{"name": "x", "vector": [0.0] * D}, {"name": "x", "vector": [0.0] * D}]}, "repeated"),
])
def test_bad_directions_files_are_refused_with_the_reason(tmp_path, doc, msg):
    text = doc if isinstance(doc, str) else json.dumps(doc)
    (tmp_path / L.DIRECTIONS_FILE).write_text(text)
    with pytest.raises(RunError, match=msg):
        L.load_directions(tmp_path, D)


# -- rendering --------------------------------------------------------------------------------------------
def test_an_image_depends_on_its_own_latent_only_and_the_model_is_untouched(tmp_path):
    tr, _ = tiny_image_run(tmp_path / "run")
    bn = next(m for m in tr.G.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    z = np.random.default_rng(0).standard_normal((9, D)).astype(np.float32)
    alone = L.render_latents(tr, z[:1])
    together = L.render_latents(tr, z)
    assert together.shape == (9, 3, 16, 16)
    torch.testing.assert_close(together[:1], alone, atol=1e-5, rtol=0)
    assert tr.G.training and bn.training
    torch.testing.assert_close(bn.running_mean, before)
    # nine near-identical latents (a result grid) still give nine proper, distinct pictures
    near = L.neighbours(z[0], 9, 0.05, seed=0)
    out = L.render_latents(tr, near)
    assert float((out - alone).abs().mean()) < 0.1


# -- the command ---------------------------------------------------------------------------------------------
def test_cli_writes_the_result_grid_and_the_strip(tmp_path, capsys):
    _, run = tiny_image_run(tmp_path / "run")
    rng = np.random.default_rng(0)
    for name in "abc":
        np.save(tmp_path / f"{name}.npy", rng.standard_normal((3, D)).astype(np.float32))
    out = tmp_path / "result.png"
    assert main(["latent", str(run.path), "--a", str(tmp_path / "a.npy"), "--b", str(tmp_path / "b.npy"),
                 "--c", str(tmp_path / "c.npy"), "--out", str(out), "--latents-out", str(tmp_path / "z.npy"),
                 "--scale", "1"]) == 0
    assert "result grid" in capsys.readouterr().out
    from gan_studio.core.render import LABEL_BAND_PX
    img = np.asarray(Image.open(out))
    # the labelled figure: a label band, then 3 rows of [A, B, C, the 3x3 grid] in tiles of 16 px
    assert img.shape == (LABEL_BAND_PX + 3 * 18 + 2, 6 * 18 + 2, 3)
    img = img[LABEL_BAND_PX:, 3 * 18:]                       # the 3x3 result grid, 2 px padding
    z = np.load(tmp_path / "z.npy")
    a, b, c = (np.load(tmp_path / f"{n}.npy") for n in "abc")
    np.testing.assert_allclose(z[L.CENTRE], a.mean(0) - b.mean(0) + c.mean(0), atol=1e-5)
    # the centre tile is G(result): the same pixels as drawing that latent alone
    np.save(tmp_path / "centre.npy", z[L.CENTRE:L.CENTRE + 1])
    assert main(["latent", str(run.path), "--interpolate", str(tmp_path / "centre.npy"), str(tmp_path / "a.npy"),
                 "--steps", "5", "--out", str(tmp_path / "strip.png"), "--latents-out", str(tmp_path / "s.npy"),
                 "--scale", "1"]) == 0
    strip = np.asarray(Image.open(tmp_path / "strip.png"))
    assert strip.shape == (18 + 2, 5 * 18 + 2, 3)
    np.testing.assert_array_equal(strip[2:18, 2:18], img[2 + 18:18 + 18, 2 + 18:18 + 18])
    s = np.load(tmp_path / "s.npy")
    np.testing.assert_allclose(s[-1], a.mean(0), atol=1e-5)
    assert main(["latent", str(run.path), "--interpolate", str(tmp_path / "centre.npy"), str(tmp_path / "a.npy"),
                 "--linear", "--steps", "3", "--out", str(tmp_path / "l.png"), "--latents-out",
                 str(tmp_path / "l.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "l.npy")[1], (z[L.CENTRE] + a.mean(0)) / 2, atol=1e-5)


def test_cli_applies_a_saved_direction(tmp_path, capsys):
    _, run = tiny_image_run(tmp_path / "run", steps=0)
    d = L.Direction("up", np.linspace(-1, 1, D).astype(np.float32))
    L.save_directions(run.path, [d], D)
    z = np.random.default_rng(1).standard_normal((3, D)).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    args = ["latent", str(run.path), "--direction", "up", "--to", str(tmp_path / "z.npy"), "--strength", "2",
            "--out", str(tmp_path / "moved.png"), "--latents-out", str(tmp_path / "moved.npy"), "--scale", "1"]
    assert main(args) == 0
    drawn = np.load(tmp_path / "moved.npy")
    np.testing.assert_allclose(drawn, np.concatenate([z, z + 2 * d.vector]), atol=1e-6)
    assert np.asarray(Image.open(tmp_path / "moved.png")).shape == (2 * 18 + 2, 3 * 18 + 2, 3)
    capsys.readouterr()
    assert main([*args[:3], "down", *args[4:]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'down': not saved with this run; saved: 'up'" in err


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    _, run = tiny_image_run(tmp_path / "run", steps=0)
    np.save(tmp_path / "ok.npy", np.zeros((2, D), np.float32))
    np.save(tmp_path / "wide.npy", np.zeros((2, D + 3), np.float32))
    np.save(tmp_path / "nan.npy", np.full((1, D), np.nan, np.float32))
    np.save(tmp_path / "objects.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    ok = str(tmp_path / "ok.npy")
    cases = [
        (["--a", str(tmp_path / "wide.npy"), "--b", ok, "--c", ok], "shape (N, 8)"),
        (["--a", ok, "--b", str(tmp_path / "nan.npy"), "--c", ok], "NaN"),
        (["--a", ok, "--b", ok, "--c", str(tmp_path / "missing.npy")], "no such file"),
        (["--a", ok, "--b", ok, "--c", str(tmp_path / "objects.npy")], "not a plain .npy"),
        (["--a", ok, "--b", ok], "missing --c"),
        (["--interpolate", ok, ok, ok], "FROM.npy TO.npy"),
        (["--interpolate", str(tmp_path / "wide.npy")], "shape (N, 8)"),
    ]
    for extra, msg in cases:
        out = tmp_path / "x.png"
        assert main(["latent", str(run.path), *extra, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and msg in err, err
        assert not out.exists()
    assert main(["latent", str(tmp_path / "nowhere"), "--a", ok, "--b", ok, "--c", ok, "--out",
                 str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no run folder" in err


def test_cli_help_explains_both_modes(capsys):
    with pytest.raises(SystemExit):
        main(["latent", "--help"])
    text = capsys.readouterr().out
    assert "mean(A) - mean(B) + mean(C)" in text and "--interpolate" in text and "slerp" in text
