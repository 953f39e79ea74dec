"""The numbers behind the live plots, without Qt: smoothing, a y-range that outliers do not decide,
the x-axis end, and the rows that keep change flags from overlapping."""
from __future__ import annotations

import math

import numpy as np

#: the y-range spans these percentiles of the points (each end gets MARGIN of the span beyond it)
LOW_PCT, HIGH_PCT = 1.0, 99.0
MARGIN = 0.1
#: fewer points than this are all shown: too few for a percentile to tell a spike from the data
MIN_ROBUST_POINTS = 20
#: a point this close beyond the percentile range (as a share of its span) is data, not a spike
TAIL = 0.25
#: a flat series is shown this far either side of its value: at least 1, or this share of it
FLAT_SHARE = 0.1
#: ... and on a log axis this many decades either side
FLAT_HALF_DECADES = 0.5
#: at most this many points go into the percentiles (an even stride over the rest): a long run's
#: range costs the same as a short one's
RANGE_SAMPLE = 20_000


def ema_debiased(y: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: an exponential moving average, de-biased so its first values are not
    pulled towards 0:  last = w * last + (1 - w) * y_k;  smoothed_k = last / (1 - w ** k).
    Non-finite points are kept as they are and do not count; a constant series stays constant."""
    y = np.asarray(y, dtype=np.float64)
    x = y[np.isfinite(y)]
    if weight <= 0 or len(x) == 0 or (x == x[0]).all():
        return y.copy()
    return _ema_continue(y, weight, 0.0, 0)[0]


def _ema_continue(y: np.ndarray, weight: float, last: float, count: int) -> tuple[np.ndarray, float, int]:
    """ema_debiased of ``y`` continuing from an average ``last`` over ``count`` points before it.
    Vectorised in chunks short enough that ``weight ** -chunk`` stays finite:
    within a chunk, s_i = w^i (s_0 + (1 - w) sum_j<=i x_j w^-j)."""
    out = np.array(y, dtype=np.float64)
    if weight <= 0:
        return out, last, count
    finite = np.isfinite(out)
    x = out[finite]
    if len(x) == 0:
        return out, last, count
    weight = min(float(weight), 0.999999)
    chunk = max(1, int(12 / -math.log10(weight)))
    smoothed = np.empty_like(x)
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk]
        wj = weight ** np.arange(1, len(part) + 1, dtype=np.float64)
        s = wj * (last + (1 - weight) * np.cumsum(part / wj))
        smoothed[start:start + len(part)] = s
        last = float(s[-1])
    k = count + np.arange(1, len(x) + 1, dtype=np.float64)
    out[finite] = smoothed / (1 - weight ** k)
    return out, last, count + len(x)


class Smoother:
    """ema_debiased of a growing curve, computing only the points added since the last call: a long
    run costs the same per redraw as a short one. Starts over when the weight changes or the curve's
    earlier points changed (a roll-back, a new run)."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.weight, self.n, self.last, self.count = None, 0, 0.0, 0
        self.x_last = None
        self.out = np.empty(0)

    def __call__(self, x: np.ndarray, y: np.ndarray, weight: float) -> np.ndarray:
        if weight <= 0:
            self.reset()
            return np.asarray(y, dtype=np.float64)
        if weight != self.weight or len(y) < self.n or (self.n and x[self.n - 1] != self.x_last):
            self.reset()
            self.weight = weight
        if len(y) > self.n:
            new, self.last, self.count = _ema_continue(y[self.n:], weight, self.last, self.count)
            self.out = np.concatenate([self.out, new])
            self.n = len(y)
            self.x_last = x[self.n - 1]
        return self.out


def robust_range(y: np.ndarray, log: bool = False, robust: bool = True) -> tuple[float, float] | None:
    """(lo, hi) of the view: the LOW_PCT..HIGH_PCT percentiles with MARGIN beyond each end, stretched
    to the real extremes when they lie only a little (TAIL) beyond; None without finite points.
    ``log``: the values' log10 (a log axis's view is in log10 units; values <= 0 have no place).
    ``robust=False``: every point, with the margin."""
    y = np.asarray(y, dtype=np.float64)
    y = y[np.isfinite(y)]
    if log:
        y = np.log10(y[y > 0])
    if len(y) == 0:
        return None
    lo, hi = float(y.min()), float(y.max())
    if robust and len(y) >= MIN_ROBUST_POINTS:
        sample = y[:: max(1, len(y) // RANGE_SAMPLE)]
        # 'lower'/'higher': a percentile that is one of the points, never pulled half-way to a spike
        p_lo = float(np.percentile(sample, LOW_PCT, method="higher"))
        p_hi = float(np.percentile(sample, HIGH_PCT, method="lower"))
        span = max(p_hi - p_lo, 1e-9 * max(1.0, abs(p_hi)))
        if lo >= p_lo - TAIL * span:
            p_lo = lo
        if hi <= p_hi + TAIL * span:
            p_hi = hi
        lo, hi = p_lo, p_hi
    if hi - lo <= 1e-6 * max(1.0, abs(hi)):
        # flat (one point, or a value that does not move): a readable range around it, not +-5e-8
        half = FLAT_HALF_DECADES if log else max(1.0, FLAT_SHARE * abs(hi))
        return lo - half, hi + half
    span = hi - lo
    return lo - MARGIN * span, hi + MARGIN * span


def x_end(last: float, pad: float = 0.0) -> float:
    """Where the x axis ends for a run at step ``last``: the next multiple of a round step (1, 2 or 5
    times a power of ten) of at most a tenth of ``last``, so at most 10 % past the last step. The
    axis moves in such jumps, not on every frame: an axis that moves is laid out and its text drawn
    again, on every plot. ``pad``: steps of room the last point keeps before the end (its dot's
    radius; at a round step the dot sat on the edge, cut in half): the end is at least ``last + pad``."""
    last = last + pad
    if last <= 10:
        return 10.0
    tenth = last / 10
    mag = 10 ** math.floor(math.log10(tenth))
    q = next(m * mag for m in (5, 2, 1) if m * mag <= tenth)
    return float(math.ceil(last / q) * q)


def stack_rows(spans: list[tuple[float, float]], gap: float = 2.0) -> list[int]:
    """Row of each flag, given its (left, right) in pixels in step order: the first row where it
    does not touch the flag before it (greedy interval colouring): near flags stack, far ones share
    the top row."""
    rows_end: list[float] = []
    out = []
    for left, right in spans:
        for r, end in enumerate(rows_end):
            if end + gap <= left:
                rows_end[r] = right
                out.append(r)
                break
        else:
            rows_end.append(right)
            out.append(len(rows_end) - 1)
    return out
