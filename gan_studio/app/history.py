"""The window's record of a run: metric curves, evaluations, events and past views. No Qt.

The GUI thread owns one StudioState; the worker's reports are added to it and the panels draw
from it on their timer. Arrays grow by doubling so a long run costs amortised O(1) per report.
"""
from __future__ import annotations

import bisect

import numpy as np

from gan_studio.session.payloads import METRIC_COLUMNS, Frame, Report, RunInfo
from gan_studio.core.training.losses import PROBABILISTIC

EVAL_COLUMNS = ("step", "modes", "modes_strict", "hq", "rkl")
#: columns of the run loop's own (logged) evaluations: the step, its ``mode_hops`` and the dominant
#: mode it found (core.metrics.modes.dominant_mode; NaN for none). The Mode hops plot and the
#: timeline's hop marks both read these rows, so they count the same hops
LOGGED_COLUMNS = ("step", "mode_hops", "dominant")
#: an image run's evaluations (core.metrics.images, every train.eval_every steps): the window's image plots
IMAGE_EVAL_COLUMNS = ("step", "fd_classifier")
#: the newest evaluation takes at least this share of the occupancy timeline's width, so what the
#: mode bars show now is always visible at its right edge
NEWEST_SHARE = 0.06
#: past views kept for the scrubber; when full, every other old one is dropped (even thinning)
MAX_VIEWS = 400
#: D's loss below this (mean of the last HEALTH_WINDOW steps) means D wins outright: G's
#: saturating gradient vanishes. The minimax loss of a perfect D is 0; a balanced one is ~1.39.
D_LOSS_ZERO = 0.01
#: a gradient norm above this many times the run's median (after HEALTH_WINDOW steps) has exploded
GRAD_EXPLOSION_FACTOR = 100.0
HEALTH_WINDOW = 50


class GrowingArray:
    """Rows of a fixed width, appended in step order; ``data`` is a view, not a copy."""

    def __init__(self, width: int, capacity: int = 1024):
        self._buf = np.full((capacity, width), np.nan)
        self.n = 0

    @property
    def data(self) -> np.ndarray:
        return self._buf[: self.n]

    def append(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, self._buf.shape[1])
        need = self.n + len(rows)
        if need > len(self._buf):
            cap = max(need, 2 * len(self._buf))
            buf = np.full((cap, self._buf.shape[1]), np.nan)
            buf[: self.n] = self._buf[: self.n]
            self._buf = buf
        self._buf[self.n: need] = rows
        self.n = need

    def truncate_after(self, step: float) -> None:
        """Drop rows past ``step`` (column 0): after a roll-back they will be trained again."""
        keep = np.searchsorted(self.data[:, 0], step, side="right") if self.n else 0
        self.n = int(keep)

    def clear(self) -> None:
        self.n = 0


class StudioState:
    """Everything the panels draw, fed by the worker's RunInfo and Reports (GUI thread only)."""

    def __init__(self):
        self.session: RunInfo | None = None
        self.metrics = GrowingArray(len(METRIC_COLUMNS))
        self.evals = GrowingArray(len(EVAL_COLUMNS), 256)
        self.logged = GrowingArray(len(LOGGED_COLUMNS), 64)   # the run loop's evaluations (LOGGED_COLUMNS)
        self.image_evals = GrowingArray(len(IMAGE_EVAL_COLUMNS), 64)   # an image run's (IMAGE_EVAL_COLUMNS)
        # (step, HQ share per mode, the evaluation), in step order: the 2-D view's timeline, and its
        # bars (the newest entry) in step with each evaluation as it arrives, with a picture or not
        self.occupancy: list[tuple[int, np.ndarray, dict]] = []
        self.evaluations_added = 0   # counts what _add_occupancy took in: the 2-D view redraws its bars on a change
        self.family_evals: list[tuple[int, dict]] = []      # (step, {key: value}) of the family's plot
        self.loop_evals: dict[int, dict] = {}   # step -> the run loop's evaluation row (what a kept state holds)
        self.events: list[dict] = []
        self.views: list[Frame] = []
        self.step = 0
        self.running = False
        self.steps_per_s = 0.0    # the last rate measured while this run trained (0: none yet)
        self.elapsed_s = 0.0      # seconds this run spent training in this window (0: none yet)
        self._start_step = 0      # the step the run was at when it was opened or made
        self.version = 0          # bumped on every change; panels redraw when it moved
        self.diverged_message = ""

    @property
    def latest_view(self) -> Frame | None:
        return self.views[-1] if self.views else None

    def begin(self, s: RunInfo) -> None:
        self.session = s
        self.metrics.clear()
        self.evals.clear()
        self.occupancy = []
        self.evaluations_added += 1
        self.family_evals = []
        self.loop_evals = {}
        self.views = []
        self.logged.clear()
        self.image_evals.clear()
        self.events = list(s.events)
        self.step = self._start_step = s.step
        self.running = False
        self.diverged_message = ""
        self.elapsed_s = 0.0
        # an opened run: the rate its log recorded last (nothing trained here yet); a new run: none
        self.steps_per_s = next((float(r["steps_per_s"]) for r in reversed(s.eval_history)
                                 if isinstance(r.get("steps_per_s"), (int, float)) and r["steps_per_s"] > 0), 0.0)
        if s.history is not None and len(s.history):
            self.metrics.append(s.history)
        for row in s.eval_history:
            self._add_eval(row.get("step", 0), row)
            self._add_logged(row.get("step", 0), row)
            self._add_family_eval(row.get("step", 0), row)
            self._add_image_eval(row.get("step", 0), row)
            self.loop_evals[int(row.get("step", 0))] = row
        self.version += 1

    def add(self, r: Report) -> None:
        if len(r.metrics):
            self.metrics.append(r.metrics)
        self.events.extend(r.events)
        self.step, self.running = r.step, r.running
        self._add_speed(r)
        for ev in r.evals or ([r.last_eval] if r.last_eval else []):
            step = ev.get("step", r.step)
            self._add_logged(step, ev)
            self._add_occupancy(step, ev)
            self._add_family_eval(step, ev)
            self._add_image_eval(step, ev)
            self.loop_evals[int(step)] = ev
        if r.frame is not None:
            self._add_view(r.frame)
        self.version += 1

    def _add_speed(self, r: Report) -> None:
        """The status bar's numbers: kept once the run pauses (a paused engine's rate says nothing).
        The engine measures its rate over half-second stretches of training; a shorter one (a few
        dozen quick steps) gets the steps trained over the time spent training them."""
        if r.elapsed_s <= 0:
            return   # nothing trained in this run yet: an engine's rate would be another run's
        self.elapsed_s = r.elapsed_s
        if r.steps_per_s > 0:
            self.steps_per_s = r.steps_per_s
        elif r.step > self._start_step:
            self.steps_per_s = (r.step - self._start_step) / r.elapsed_s

    def truncate_after(self, step: int, message: str) -> None:
        """A NaN run was rolled back to ``step``: forget what came after it."""
        self.metrics.truncate_after(step)
        self.evals.truncate_after(step)
        self.logged.truncate_after(step)
        self.image_evals.truncate_after(step)
        self.occupancy = [o for o in self.occupancy if o[0] <= step]
        self.evaluations_added += 1
        self.family_evals = [f for f in self.family_evals if f[0] <= step]
        self.loop_evals = {k: v for k, v in self.loop_evals.items() if k <= step}
        self.views = [v for v in self.views if v.step <= step]
        self.step = step
        self.diverged_message = message
        self.version += 1

    def _add_view(self, v: Frame) -> None:
        if self.views and self.views[-1].step == v.step:
            self.views[-1] = v      # a second view of the same step (pause after step once)
        else:
            self.views.append(v)
            if len(self.views) > MAX_VIEWS:
                old = self.views[: MAX_VIEWS // 2]
                self.views = old[::2] + self.views[MAX_VIEWS // 2:]
        if v.evaluation:
            self._add_eval(v.step, v.evaluation)

    def _add_family_eval(self, step: int, ev: dict) -> None:
        """Keep the numbers of the family's own plot (test accuracy, conditional accuracy...)."""
        plot = self.session.family_plot if self.session is not None else None
        if not plot:
            return
        row = {k: ev[k] for k, _ in plot[1] if isinstance(ev.get(k), (int, float))}
        if not row or (self.family_evals and step <= self.family_evals[-1][0]):
            return
        self.family_evals.append((int(step), row))

    def _add_image_eval(self, step: int, ev: dict) -> None:
        """One of an image run's evaluations: the Frechet distance in the metric classifier's features."""
        if "fd_classifier" not in ev or (self.image_evals.n and step <= self.image_evals.data[-1, 0]):
            return
        values = [step] + [ev.get(k) for k in IMAGE_EVAL_COLUMNS[1:]]
        try:   # a hand-broken row ("fd_classifier": "x") is no evaluation
            values = [np.nan if v is None else float(v) for v in values]
        except (TypeError, ValueError):
            return
        self.image_evals.append(values)

    def _add_eval(self, step: int, ev: dict) -> None:
        if "modes" not in ev:
            return
        if self.evals.n and step <= self.evals.data[-1, 0]:
            return  # keep the curve in step order
        values = [step, ev["modes"], ev.get("modes_strict", np.nan), ev.get("hq", np.nan), ev.get("rkl")]
        try:   # a hand-broken row ("modes": "x") is no evaluation
            values = [np.nan if v is None else float(v) for v in values]
        except (TypeError, ValueError):
            return
        self.evals.append(values)
        self._add_occupancy(step, ev)

    def _add_occupancy(self, step: int, ev: dict) -> None:
        """One evaluation's HQ share per mode, in step order: the frames' evaluations and the run
        loop's (the same numbers at the same step: both draw their samples from a seed of the step)."""
        try:   # a hand-broken log row ("mode_counts": "x" or [[1], 2]) is no evaluation
            counts = ev.get("mode_counts")
            counts = np.asarray(counts if counts is not None else [], dtype=np.float64)
        except (TypeError, ValueError):
            return
        if counts.ndim != 1 or not counts.size:
            return
        total = counts.sum()
        entry = (int(step), counts / total if total > 0 else counts, ev)
        self.evaluations_added += 1
        i = bisect.bisect_left(self.occupancy, int(step), key=lambda o: o[0])
        if i < len(self.occupancy) and self.occupancy[i][0] == int(step):
            self.occupancy[i] = entry    # the same step again (a frame after a pause): the newest
        else:
            self.occupancy.insert(i, entry)

    def _add_logged(self, step: int, ev: dict) -> None:
        """One of the run loop's evaluations (a metrics.jsonl row): its mode_hops and dominant mode."""
        from gan_studio.core.metrics.modes import dominant_mode
        counts = ev.get("mode_counts")
        if counts is None or (self.logged.n and step <= self.logged.data[-1, 0]):
            return
        hops = ev.get("mode_hops")
        try:   # a hand-broken row ("mode_counts": "x", "mode_hops": [1]) is no evaluation
            hops, dominant = np.nan if hops is None else float(hops), dominant_mode(counts)
        except (TypeError, ValueError):
            return
        self.logged.append([step, hops, np.nan if dominant is None else dominant])

    def hops(self) -> list[tuple[int, int, int]]:
        """(step, from mode, to mode) at each of the run loop's evaluations where the dominant mode
        changed from the previous evaluation's (both have one): the hops that ``mode_hops`` counts
        (core.metrics.modes.mode_hops over the same logged evaluations), placed on the timeline."""
        data = self.logged.data
        steps, dom = data[:, 0], data[:, 2]
        at = np.flatnonzero(np.isfinite(dom[1:]) & np.isfinite(dom[:-1]) & (dom[1:] != dom[:-1])) + 1
        return [(int(steps[i]), int(dom[i - 1]), int(dom[i])) for i in at]

    def newest_evaluation(self) -> tuple[int, dict] | None:
        """(step, evaluation) of the newest evaluation with mode counts, a picture's or the run loop's:
        what the 2-D view's live bars show, and the timeline's right edge."""
        if not self.occupancy:
            return None
        step, _, ev = self.occupancy[-1]
        return step, ev

    def view_at(self, index: int) -> Frame | None:
        if not self.views:
            return None
        return self.views[max(0, min(index, len(self.views) - 1))]

    def occupancy_image(self, columns: int = 400, until: float | None = None
                        ) -> tuple[np.ndarray, float, float] | None:
        """(columns, K) share of HQ samples per mode on an even step axis, and the steps its left
        and right edges stand for.

        Evaluations are not evenly spaced in steps: each holds until the next one, so a band's width
        in x is its duration in steps. The newest holds until ``until`` (the run's current step),
        and takes at least NEWEST_SHARE of the width: what the mode bars show now is at the right edge."""
        if len(self.occupancy) < 1:
            return None
        steps = np.array([o[0] for o in self.occupancy], dtype=np.float64)
        # evaluations of as many modes as the data had then: a points CSV that gained a point between
        # resumes (or a hand-edited row) gives rows of other lengths; a mode missing then held 0
        shares = np.zeros((len(self.occupancy), max(len(o[1]) for o in self.occupancy)))
        for row, (_, share, _ev) in zip(shares, self.occupancy):
            row[:len(share)] = share
        first, newest = steps[0], steps[-1]
        end = max(newest, float(until) if until is not None else newest)
        # the newest evaluation's span at least NEWEST_SHARE of the whole (and at least a step)
        end = max(end, newest + NEWEST_SHARE * (newest - first) / (1 - NEWEST_SHARE), newest + 1)
        centres = first + (np.arange(columns) + 0.5) * (end - first) / columns
        idx = np.clip(np.searchsorted(steps, centres, side="right") - 1, 0, len(steps) - 1)
        return shares[idx], float(first), float(end)


def health_warnings(metrics: np.ndarray, loss: str) -> list[str]:
    """Warnings a user should see now, from the metric rows (columns METRIC_COLUMNS)."""
    out = []
    if len(metrics) == 0:
        return out
    col = {name: i for i, name in enumerate(METRIC_COLUMNS)}
    recent = metrics[-HEALTH_WINDOW:]
    if not np.isfinite(recent[:, 1:]).all():
        bad = np.array(METRIC_COLUMNS[1:])[~np.isfinite(recent[:, 1:]).all(axis=0)]   # name them
        out.append(f"{', '.join(bad)} turned NaN or infinite.")
    if loss in PROBABILISTIC or loss == "least-squares":
        ld = _finite(recent[:, col["loss_d"]])
        if len(ld) >= HEALTH_WINDOW // 2 and ld.mean() < D_LOSS_ZERO:
            out.append(f"D's loss is near zero ({ld.mean():.2g}): D wins and G's gradient vanishes. "
                       "Try label smoothing, a lower train.lr_d, or the non-saturating loss.")
    if len(metrics) >= 2 * HEALTH_WINDOW:
        for name, who in (("grad_norm_d", "D"), ("grad_norm_g", "G")):
            past, now = _finite(metrics[:-HEALTH_WINDOW, col[name]]), _finite(recent[:, col[name]])
            if not len(past) or not len(now):
                continue
            median, peak = float(np.median(past)), float(now.max())
            if median > 0 and peak > GRAD_EXPLOSION_FACTOR * median:
                out.append(f"{who}'s gradient norm exploded: {peak:.3g}, {peak / median:.0f}x its median. "
                           "Lower the learning rates or use a gradient penalty.")
    return out


def _finite(x: np.ndarray) -> np.ndarray:
    return x[np.isfinite(x)]


class HistoryScrubber:
    """Mixin for panels with a time slider over recorded views: ``pinned_step`` is None when live.
    The panel provides ``slider``, ``_redraw()`` and ``_scrub_views()`` (the views its slider indexes)."""

    pinned_step: int | None = None

    def _scrub_views(self) -> list:
        raise NotImplementedError

    def _set_slider(self, n: int, index: int) -> None:
        """Index ``index`` of ``n`` recorded views, without a scrub. With one view (a run just opened)
        there is nothing to scrub: the slider is greyed out with its handle at the right end, where
        the newest step is (a slider of one position draws its handle at the left end; its one view
        is also what any index past the last shows, see view_at)."""
        slider = self.slider
        slider.blockSignals(True)
        slider.setRange(0, max(1, n - 1))
        slider.setValue(index if n > 1 else 1)
        slider.setEnabled(n > 1)
        slider.blockSignals(False)

    def _scrubbed(self, index: int) -> None:
        views = self._scrub_views()
        if not views:
            return
        self.pinned_step = None if index >= len(views) - 1 else views[index].step
        self._redraw()

    def go_live(self) -> None:
        self.pinned_step = None
        self.slider.setValue(self.slider.maximum())
        self._redraw()

    def scrub_to(self, step: int) -> bool:
        """Show the latest recorded view at or before ``step`` (pinned: new steps do not move it);
        False when nothing was recorded by then."""
        views = self._scrub_views()
        steps = np.array([v.step for v in views])
        index = int(np.searchsorted(steps, step, side="right")) - 1 if len(steps) else -1
        if index < 0:
            return False
        self.pinned_step = int(steps[index])
        self._set_slider(len(views), index)
        self._redraw()
        return True
