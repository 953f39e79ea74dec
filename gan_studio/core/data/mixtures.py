"""The 2-D toys: Gaussian mixtures (ring8, grid25, ring8-wide, your own points), a spiral, two moons.

Each registers itself by name (:func:`gan_studio.core.data.registry.register_dataset`); the mixtures
carry their mode means and sigma, which the mode-coverage metrics need.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import torch

from gan_studio.core.config import MAX_POINT, DataConfig, check_points
from gan_studio.core.data.registry import Dataset, register_dataset
from gan_studio.core.errors import ConfigError


class GaussianMixture2D(Dataset):
    """Equal-weight mixture of isotropic Gaussians: the mode-collapse lab's data."""

    def __init__(self, means, sigma: float, name: str = "mixture"):
        self.name = name
        self.modes = torch.as_tensor(means, dtype=torch.float32).reshape(-1, 2)
        self.sigma = float(sigma)
        self.device = torch.device("cpu")

    def to(self, device):
        self.modes = self.modes.to(device)
        self.device = torch.device(device)
        return self

    def sample(self, n, generator):
        idx = torch.randint(len(self.modes), (n,), generator=generator, device=self.device)
        noise = torch.randn(n, 2, generator=generator, device=self.device)
        return noise.mul_(self.sigma).add_(self.modes[idx])   # = modes[idx] + sigma * noise, in place


class Spiral2D(Dataset):
    """An Archimedean spiral of two turns with Gaussian noise: a continuous, curved target."""

    def __init__(self, noise: float):
        self.name, self.noise, self.device = "spiral", float(noise), torch.device("cpu")

    def to(self, device):
        self.device = torch.device(device)
        return self

    def sample(self, n, generator):
        t = torch.rand(n, generator=generator, device=self.device)
        angle = t * 4 * math.pi
        r = 0.2 + 1.8 * t
        pts = torch.stack([r * torch.cos(angle), r * torch.sin(angle)], 1)
        return pts + self.noise * torch.randn(n, 2, generator=generator, device=self.device)


class Moons2D(Dataset):
    """Two interleaving half circles (scikit-learn's make_moons, centred)."""

    def __init__(self, noise: float):
        self.name, self.noise, self.device = "moons", float(noise), torch.device("cpu")

    def to(self, device):
        self.device = torch.device(device)
        return self

    def sample(self, n, generator):
        t = math.pi * torch.rand(n, generator=generator, device=self.device)
        upper = torch.rand(n, generator=generator, device=self.device) < 0.5
        x = torch.where(upper, torch.cos(t), 1 - torch.cos(t)) - 0.5
        y = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t)) - 0.25
        pts = torch.stack([x, y], 1)
        return pts + self.noise * torch.randn(n, 2, generator=generator, device=self.device)


def ring_means(k: int = 8, radius: float = 1.0) -> torch.Tensor:
    # arange(k) * 2pi/k, not linspace(0, 2pi, k): linspace repeats the first point (7 modes)
    angles = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
    return (radius * torch.stack([torch.cos(angles), torch.sin(angles)], 1)).float()


def grid_means(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    ticks = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)


def read_points_csv(path: str | Path) -> list[list[float]]:
    """x,y per line; a header line and blank lines are skipped; anything else (a third column, text,
    non-finite or huge numbers, bytes that are not UTF-8) is an error naming the file and line."""
    try:
        path = Path(path)
        is_file = path.is_file()
    except (OSError, ValueError):   # a NUL byte in the name, a name too long
        is_file = False
    if not is_file:
        raise ConfigError(f"data.path = {str(path)[:200]!r}: no such CSV file")
    pts = []
    try:
        # utf-8-sig: a byte-order mark (Excel's CSV) is not part of the first number
        with path.open(newline="", encoding="utf-8-sig") as fh:
            for lineno, row in enumerate(csv.reader(fh), 1):
                cells = [c.strip() for c in row]
                while cells and not cells[-1]:   # "1,2," is still two numbers
                    cells.pop()
                if not cells:
                    continue
                try:
                    if len(cells) != 2:
                        raise ValueError
                    x, y = float(cells[0]), float(cells[1])
                except ValueError:
                    if lineno == 1 and not _numbers(cells):
                        continue  # header
                    got = ",".join(cells)
                    raise ConfigError(f"{path}:{lineno}: expected two numbers x,y, got "
                                      f"{got[:80]!r}" + (f" ({len(cells)} columns)" if len(cells) > 2 else "")
                                      ) from None
                if not (math.isfinite(x) and math.isfinite(y)):
                    raise ConfigError(f"{path}:{lineno}: x,y must be finite numbers")
                if abs(x) > MAX_POINT or abs(y) > MAX_POINT:
                    raise ConfigError(f"{path}:{lineno}: x,y must lie within +-{MAX_POINT:g} "
                                      "(scale your points down)")
                pts.append([x, y])
    except UnicodeDecodeError as e:
        raise ConfigError(f"data.path = {str(path)!r}: not UTF-8 text (byte {e.start}); save the CSV "
                          "as UTF-8") from None
    except csv.Error as e:
        raise ConfigError(f"data.path = {str(path)!r}: not a readable CSV ({str(e)[:100]})") from None
    except OSError as e:
        raise ConfigError(f"data.path = {str(path)!r}: cannot read it ({e.strerror or e})") from None
    if not pts:
        raise ConfigError(f"data.path = {str(path)!r}: the file holds no x,y points")
    return pts


def _numbers(cells: list[str]) -> bool:
    """Whether any cell reads as a number (a header has none)."""
    for c in cells:
        try:
            float(c)
            return True
        except ValueError:
            pass
    return False


def _points(cfg: DataConfig) -> Dataset:
    pts = cfg.points or (read_points_csv(cfg.path) if cfg.path else None)
    if not pts:
        raise ConfigError("data.name = 'points' needs data.points (a list of [x, y]) or data.path (a CSV)")
    check_points(pts, "data.points" if cfg.points else f"data.path {cfg.path}")
    means = torch.tensor(pts, dtype=torch.float32).reshape(-1, 2)
    return GaussianMixture2D(means, cfg.sigma, "points")


register_dataset("ring8", lambda c: GaussianMixture2D(ring_means(8, 1.0), 0.01, "ring8"), "2d",
                 "8 Gaussians on a circle of radius 1, sigma 0.01 (PacGAN 2D-ring)")
register_dataset("grid25", lambda c: GaussianMixture2D(grid_means(5, 2.0), 0.05, "grid25"), "2d",
                 "25 Gaussians on {-4,-2,0,2,4}^2, sigma 0.05 (PacGAN 2D-grid)")
register_dataset("ring8-wide", lambda c: GaussianMixture2D(ring_means(8, 2.0), 0.02, "ring8-wide"), "2d",
                 "8 Gaussians on a circle of radius 2, sigma 0.02 (unrolled-GAN ports)")
register_dataset("spiral", lambda c: Spiral2D(c.sigma), "2d", "a two-turn spiral with noise data.sigma")
register_dataset("moons", lambda c: Moons2D(c.sigma), "2d", "two moons with noise data.sigma")
register_dataset("points", _points, "2d",
                 "your own points (data.points or a CSV in data.path), each a Gaussian of std data.sigma")
