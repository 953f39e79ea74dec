"""Quality metrics: mode coverage of the 2-D mixtures (:mod:`.modes`), image metrics from a classifier
trained on the data set (:mod:`.images`); :func:`evaluate_trainer` picks the ones that fit a run."""
from __future__ import annotations

import math
from typing import Any

import torch

from gan_studio.core.metrics.modes import N_EVAL, mode_metrics


def evaluate_trainer(trainer, n: int = N_EVAL) -> dict[str, Any]:
    """The quality metrics that fit the trainer's data: mode coverage, or image metrics."""
    data = trainer.data
    if data.kind == "2d":
        if data.modes is None or len(data.modes) > 1000:
            return {}
        z = torch.randn(n, trainer.cfg.model.latent_dim, generator=trainer.eval_generator(),
                        device=trainer.device)
        samples = trainer.generate(z)
        return mode_metrics(samples, data.modes, data.sigma)
    try:
        from gan_studio.core.metrics.images import evaluate_images
    except ModuleNotFoundError as e:
        if e.name != "gan_studio.core.metrics.images":
            raise
        return {}
    return evaluate_images(trainer, n)


def is_number(v) -> bool:
    """A logged number (int or float, NaN included), not a bool, a text or a list."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def format_value(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
