"""2-D data sets are the ones METHODS.md defines, sampled on the device, reproducibly."""
import math

import pytest
import torch

from gan_studio.core.config import DataConfig
from gan_studio.core.data.mixtures import read_points_csv
from gan_studio.core.data.registry import build_dataset
from gan_studio.core.errors import ConfigError


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_ring8_has_eight_distinct_modes_on_the_unit_circle():
    ds = build_dataset(DataConfig(name="ring8"))
    m = ds.modes
    assert m.shape == (8, 2) and ds.sigma == 0.01
    assert torch.allclose(m.norm(dim=1), torch.ones(8), atol=1e-6)
    assert torch.cdist(m, m).add(torch.eye(8) * 9).min() > 0.7  # no repeated point (linspace bug)
    assert torch.allclose(m[2], torch.tensor([0.0, 1.0]), atol=1e-6)


def test_grid25_and_ring8_wide():
    g = build_dataset(DataConfig(name="grid25"))
    assert g.modes.shape == (25, 2) and g.sigma == 0.05
    assert sorted(set(g.modes[:, 0].tolist())) == [-4, -2, 0, 2, 4]
    w = build_dataset(DataConfig(name="ring8-wide"))
    assert torch.allclose(w.modes.norm(dim=1), torch.full((8,), 2.0)) and w.sigma == 0.02


def test_mixture_samples_have_the_mode_sigma_and_are_reproducible():
    ds = build_dataset(DataConfig(name="ring8"))
    x = ds.sample(20000, gen())
    nearest = torch.cdist(x, ds.modes).argmin(1)
    resid = x - ds.modes[nearest]
    assert resid.std().item() == pytest.approx(0.01, rel=0.05)
    assert torch.bincount(nearest, minlength=8).min() > 2200  # equal weights
    assert torch.equal(ds.sample(100, gen(3)), ds.sample(100, gen(3)))


@pytest.mark.parametrize("name", ["spiral", "moons"])
def test_continuous_toys_sample_finite_points(name):
    x = build_dataset(DataConfig(name=name, sigma=0.05)).sample(1000, gen())
    assert x.shape == (1000, 2) and torch.isfinite(x).all() and x.std() > 0.2


def test_points_from_list_and_csv(tmp_path):
    ds = build_dataset(DataConfig(name="points", points=[[0, 0], [1, 1]], sigma=0.1))
    assert ds.modes.shape == (2, 2)
    p = tmp_path / "pts.csv"
    p.write_text("x,y\n0.5,0.5\n\n-1,2\n")
    assert read_points_csv(p) == [[0.5, 0.5], [-1.0, 2.0]]
    ds = build_dataset(DataConfig(name="points", path=str(p)))
    assert ds.modes.tolist() == [[0.5, 0.5], [-1.0, 2.0]]


def test_bad_points_input_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="needs data.points"):
        build_dataset(DataConfig(name="points"))
    with pytest.raises(ConfigError, match="no such CSV file"):
        build_dataset(DataConfig(name="points", path=str(tmp_path / "none.csv")))
    p = tmp_path / "bad.csv"
    p.write_text("1,2\n3,abc\n")
    with pytest.raises(ConfigError, match=r"bad.csv:2: expected two numbers"):
        read_points_csv(p)
    p.write_text(f"1,{math.inf}\n")
    with pytest.raises(ConfigError, match="finite"):
        read_points_csv(p)
