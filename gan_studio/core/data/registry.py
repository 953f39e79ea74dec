"""Data sets behind one interface, by name: ``sample(n, generator)`` returns a batch on the training device.

Each data module (``mixtures``: the 2-D toys, ``images``: the image sets) registers its sets with
:func:`register_dataset`, so the Trainer never asks which kind it is training on; importing
:mod:`gan_studio.core.data` imports them all. The names are the choices of ``data.name`` in the config.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from gan_studio.core.config import MAX_POINT, DataConfig, register_choices
from gan_studio.core.errors import ConfigError


class Dataset:
    """Infinite sampler. ``kind`` is "2d" or "image"; ``shape`` is one sample's shape."""
    kind = "2d"
    shape: tuple = (2,)
    #: mode means (K, 2) and per-mode std for mixtures (what the mode metrics need), else None
    modes: torch.Tensor | None = None
    sigma: float | None = None

    def to(self, device: torch.device) -> "Dataset":
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def bounds(self) -> tuple[float, float, float, float]:
        """x0, x1, y0, y1 of a view that frames the data with a margin (2-D only); always finite."""
        pts = self.sample(4096, torch.Generator(device=self.device).manual_seed(0)).cpu().double()
        return frame_bounds(pts)


def frame_bounds(pts, margin: float = 0.25) -> tuple[float, float, float, float]:
    """x0, x1, y0, y1 framing (N, 2) points with a margin, computed in float64; non-finite points
    are ignored and every coordinate is clamped to +-(4 * MAX_POINT), so a diverging generator or a
    wild data set can never ask a view for an infinite range. No finite point: the unit square."""
    pts = torch.as_tensor(pts, dtype=torch.float64).reshape(-1, 2)
    pts = pts[torch.isfinite(pts).all(1)].clamp(-4 * MAX_POINT, 4 * MAX_POINT)
    if len(pts) == 0:
        return -1.0, 1.0, -1.0, 1.0
    lo, hi = pts.min(0).values, pts.max(0).values
    pad = margin * (hi - lo).max().item() + 0.1
    return lo[0].item() - pad, hi[0].item() + pad, lo[1].item() - pad, hi[1].item() + pad


# -- registry ---------------------------------------------------------------------------------
@dataclass
class _Entry:
    build: Callable[[DataConfig], Dataset]
    kind: str
    doc: str
    folder: str = ""      # what the folder data.path holds, for the sets read from one ("" for none)
    trainable: bool = True


_REGISTRY: dict[str, _Entry] = {}


def register_dataset(name: str, build: Callable[[DataConfig], Dataset], kind: str, doc: str,
                     folder: str = "", trainable: bool = True) -> None:
    """``folder``: what the folder ``data.path`` holds, for a set read from one (the window asks for
    it when the set is chosen); ``trainable``: False for a set with no data to train on."""
    _REGISTRY[name] = _Entry(build, kind, doc, folder, trainable)


def dataset_names(kind: str | None = None) -> list[str]:
    return [n for n, e in _REGISTRY.items() if kind is None or e.kind == kind]


def dataset_folder(name: str) -> str:
    """What the folder ``data.path`` must hold for this set ("the MNIST files"), or "" when it needs none."""
    entry = _REGISTRY.get(name)
    return entry.folder if entry is not None else ""


def trainable_dataset_names(kind: str | None = None) -> list[str]:
    """The sets a new run can be trained on (the choices the window offers)."""
    return [n for n in dataset_names(kind) if _REGISTRY[n].trainable]


def dataset_kind(name: str) -> str:
    return _REGISTRY[name].kind


def build_dataset(cfg: DataConfig, device: torch.device | str = "cpu") -> Dataset:
    if cfg.name not in _REGISTRY:
        raise ConfigError(f"data.name = {cfg.name!r} is not allowed; choose one of: "
                          f"{', '.join(_REGISTRY)}")
    return _REGISTRY[cfg.name].build(cfg).to(device)


register_choices("data.name", dataset_names)
