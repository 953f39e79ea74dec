"""PyTorch's multi-tensor kernels (``torch._foreach_*``), looked up in one place (``_KERNELS``).

Why: one call runs an operation over a whole list of tensors (one launch, one crossing from Python
into C++) instead of one per tensor; with the studio's small networks (about 10 parameter tensors
per player) the per-tensor loop costs more than the arithmetic. The kernels are private
(underscored) but they are what ``torch.optim`` runs on in its foreach and fused paths. Fallback:
where a build of PyTorch lacks one, a loop over the tensors with the public operation, which gives
the same numbers (the kernels compute each tensor's result on its own).
"""
from __future__ import annotations

from typing import Sequence

import torch

#: name -> torch._foreach_<name>, or None where this PyTorch lacks it (tests empty it to run the loops)
_KERNELS = {name: getattr(torch, "_foreach_" + name, None)
            for name in ("norm", "add_", "sub", "clamp_min_", "clamp_max_")}


def norms(tensors: Sequence[torch.Tensor], ord: float = 2.0) -> list[torch.Tensor]:
    """The ``ord``-norm of each tensor (0-d tensors on its device); ord inf propagates NaN."""
    tensors = list(tensors)
    kernel = _KERNELS["norm"]
    if kernel is not None:
        return list(kernel(tensors, ord))
    return [torch.linalg.vector_norm(t, ord) for t in tensors]


def add_(tensors: Sequence[torch.Tensor], other, alpha: float = 1.0) -> None:
    """In place: ``t += alpha * o`` for each tensor and its partner in ``other`` (a list), or
    ``t += other`` for a number."""
    tensors = list(tensors)
    kernel = _KERNELS["add_"]
    scalar = isinstance(other, (int, float))
    if kernel is not None:
        if scalar:
            kernel(tensors, other * alpha if alpha != 1.0 else other)
        else:
            kernel(tensors, list(other), alpha=alpha)
        return
    for i, t in enumerate(tensors):
        if scalar:
            t.add_(other * alpha if alpha != 1.0 else other)
        else:
            t.add_(other[i], alpha=alpha)


def sub(tensors: Sequence[torch.Tensor], others: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``a - b`` for each pair, as new tensors."""
    kernel = _KERNELS["sub"]
    if kernel is not None:
        return list(kernel(list(tensors), list(others)))
    return [a - b for a, b in zip(tensors, others)]


def clamp_(tensors: Sequence[torch.Tensor], lo: float, hi: float) -> None:
    """In place: every element of every tensor into [lo, hi]."""
    tensors = list(tensors)
    low, high = _KERNELS["clamp_min_"], _KERNELS["clamp_max_"]
    if low is not None and high is not None:
        low(tensors, lo)
        high(tensors, hi)
        return
    for t in tensors:
        t.clamp_(lo, hi)
