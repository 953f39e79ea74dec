"""Mode-coverage metrics on 2-D mixtures, exactly as PacGAN/VEEGAN define them (see METHODS.md).

Draw 2,500 samples; give each the nearest mode mean. A sample is *high quality* (HQ) when it lies
within 3 sigma of that mean. A mode is *captured* when at least one HQ sample is nearest to it;
*strictly* captured when it has at least 1/4 of its expected share, 0.25 * HQ / K samples.
Reverse KL is KL(p || uniform) of the HQ histogram p over the modes: sum p_k log(p_k K), p_k > 0.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

N_EVAL = 2500


def mode_metrics(samples, means, sigma: float) -> dict[str, Any]:
    """Mode coverage of ``samples`` (N, 2) for a mixture with ``means`` (K, 2) and per-mode ``sigma``."""
    x = torch.as_tensor(np.asarray(samples, dtype=np.float64) if not torch.is_tensor(samples) else samples,
                        dtype=torch.float64).reshape(-1, 2)
    mu = torch.as_tensor(np.asarray(means, dtype=np.float64) if not torch.is_tensor(means) else means,
                         dtype=torch.float64).reshape(-1, 2).to(x.device)
    k = mu.shape[0]
    finite = torch.isfinite(x).all(1)
    dist = torch.cdist(x[finite], mu)                      # (N', K)
    nearest_dist, nearest = dist.min(1)
    hq = nearest_dist < 3.0 * sigma
    counts = torch.bincount(nearest[hq], minlength=k).cpu().numpy()
    n_hq = int(counts.sum())
    captured = int((counts >= 1).sum())
    threshold = 0.25 * n_hq / k
    strict = int(((counts >= 1) & (counts >= threshold)).sum())
    if n_hq > 0:
        p = counts / n_hq
        nz = p > 0
        rkl = float(np.sum(p[nz] * np.log(p[nz] * k)))
    else:
        rkl = None  # undefined without HQ samples; written as null, shown as "n/a"
    return {
        "modes": captured,
        "modes_strict": strict,
        "hq": 100.0 * n_hq / len(x),
        "rkl": rkl,
        "mode_counts": counts.astype(int).tolist(),
    }


#: evaluations over which ``mode_hops`` counts changes of the dominant mode
MODE_HOPS_WINDOW = 10


def dominant_mode(counts) -> int | None:
    """The mode that holds the most HQ samples when it holds at least twice its fair share (2/K)
    and 1.5 times the runner-up's: a generator that sits on one mode at a time has one; one spread
    over several modes has none, so noise in the arg-max is not counted as hopping."""
    counts = [int(c) for c in counts]
    total = sum(counts)
    if total == 0 or not counts:
        return None
    order = sorted(range(len(counts)), key=counts.__getitem__, reverse=True)
    top, second = counts[order[0]], (counts[order[1]] if len(counts) > 1 else 0)
    return order[0] if top * len(counts) >= 2 * total and 2 * top >= 3 * second else None


def mode_hops(dominants) -> int:
    """How often the dominant mode changed between consecutive evaluations (both with a dominant
    mode): the lecture's generator *rotating* through the modes shows as a count that keeps rising,
    a generator that settled on its modes as 0."""
    d = list(dominants)
    return sum(1 for a, b in zip(d, d[1:]) if a is not None and b is not None and a != b)


class ModeHops:
    """``mode_hops`` over the last MODE_HOPS_WINDOW evaluations. A resumed run refills it from its
    log (the rows hold ``mode_counts``), so the figure continues as if the run had not stopped."""

    def __init__(self, window: int = MODE_HOPS_WINDOW):
        self.dominants: list[int | None] = []
        self.window = window

    def add(self, counts) -> int:
        self.dominants = (self.dominants + [dominant_mode(counts)])[-self.window:]
        return mode_hops(self.dominants)

    def peek(self, counts) -> int:
        """The value ``add(counts)`` would give, without keeping ``counts``: for an evaluation off
        the run's schedule (the one a run makes at its last step), which a longer run would not have made."""
        return mode_hops((self.dominants + [dominant_mode(counts)])[-self.window:])

    def refill(self, rows, every: int | None = None) -> None:
        """Add the rows' ``mode_counts`` in order; with ``every``, only those of rows at multiples of
        it (the scheduled evaluations: not the one a run made at a last step between them)."""
        for row in rows:
            counts = logged_mode_counts(row.get("mode_counts"))
            step = row.get("step", 0)
            if counts is not None and (every is None or (isinstance(step, (int, float)) and step % every == 0)):
                self.add(counts)


def logged_mode_counts(value) -> list[int] | None:
    """A log row's ``mode_counts`` as counts, or None when it is none: a hand-broken row ('x', a
    nested list, a negative or infinite count) is no evaluation, not a reason a run cannot resume."""
    if not isinstance(value, list) or not value:
        return None
    counts = []
    for c in value:
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not (0 <= c < float("inf")) or c != int(c):
            return None
        counts.append(int(c))
    return counts
