"""Compare runs on one step axis: their metric histories aligned (a table, written as CSV) and drawn
with PIL, one panel per metric and one colour per run, the de-biased exponential moving average
over the raw curve drawn faint behind it (TensorBoard's smoothing), the branch point of each fork
marked with a vertical line. Reads the run folders' metrics.jsonl and lineage.json; writes nothing.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gan_studio.core.errors import ConfigError, RunError
from gan_studio.core.metrics import is_number

#: short names on the command line -> the names the run folders log (metrics.jsonl)
SHORT_NAMES = {"hq": "hq", "rkl": "rkl", "modes": "modes", "strict": "modes_strict", "hops": "mode_hops",
               "fd": "fd_classifier", "classes": "classes_covered"}
DEFAULT_METRICS = ("hq", "rkl", "modes")
#: a panel's title for the metrics that have one (others are titled by their name)
TITLES = {"hq": "High-quality samples (%)", "rkl": "Reverse KL to uniform (lower is better)",
          "modes": "Modes captured", "modes_strict": "Modes captured (strict)", "mode_hops": "Mode hops",
          "loss_d": "D loss", "loss_g": "G loss", "d_real": "D(x)", "d_fake": "D(G(z))",
          "fd_classifier": "Frechet distance (classifier features)", "classes_covered": "Classes covered"}
#: logged values that are not a run's metrics
NOT_METRICS = {"step", "steps_per_s"}
#: metrics whose axis always shows 0 (counts and shares)
FROM_ZERO = {"modes", "modes_strict", "mode_hops", "hq", "classes_covered"}
MAX_RUNS = 10
#: tab10: the colours people know from TensorBoard and matplotlib, one per run
COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
INK, GRID, FRAME = (30, 30, 30), (228, 228, 228), (150, 150, 150)
#: the figure is drawn this many times larger, then shrunk: PIL draws lines without anti-aliasing
SUPERSAMPLE = 2
PANEL_W, PANEL_H = 460, 330
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 62, 16, 48, 40
LEGEND_ROW_H = 22


@dataclass
class History:
    """One run's logged rows, with where it branched off (a fork) and the label it is shown by."""
    path: Path
    label: str
    rows: list[dict]
    branch_step: int | None = None
    parent: Path | None = None
    changes: dict = field(default_factory=dict)

    def metrics(self) -> list[str]:
        """The numeric metrics this run logged, in the order they first appear (one logged as null
        only, reverse KL without a high-quality sample, counts: it was measured, undefined)."""
        seen: dict[str, None] = {}
        for r in self.rows:
            for k, v in r.items():
                if k not in NOT_METRICS and (v is None or is_number(v)):
                    seen.setdefault(k, None)
        return list(seen)

    def series(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of the rows that logged ``metric`` (NaN where it was logged as null)."""
        pts = [(r["step"], float(r[metric]) if is_number(r[metric]) else math.nan)
               for r in self.rows if metric in r and isinstance(r.get("step"), int)]
        by_step = dict(pts)   # a step logged twice (a resume that re-logged it): the last row
        steps = np.array(sorted(by_step), dtype=np.int64)
        return steps, np.array([by_step[s] for s in steps], dtype=np.float64)



def parse_metrics(text: str | None) -> list[str]:
    """'hq,rkl,modes' as the logged names (short names mapped, order kept, repeats dropped)."""
    names = [n.strip() for n in (text or ",".join(DEFAULT_METRICS)).split(",") if n.strip()]
    if not names:
        raise ConfigError("--metrics is empty; name metrics, e.g. --metrics hq,rkl,modes")
    return list(dict.fromkeys(SHORT_NAMES.get(n, n) for n in names))


def check_smoothing(smooth: float) -> None:
    if not (0.0 <= smooth < 1.0):
        raise ConfigError(f"--smooth = {smooth}: must be at least 0 and below 1 (0 draws the raw curves)")


def load_histories(run_dirs: list[str | Path]) -> list[History]:
    """The runs' histories, read without writing anything; RunError for a folder that is no run."""
    from gan_studio.core.runs import RunFolder, read_lineage
    if not 1 <= len(run_dirs) <= MAX_RUNS:
        raise ConfigError(f"{len(run_dirs)} runs given: compare 1 to {MAX_RUNS} runs")
    runs = []
    for d in run_dirs:
        path = Path(d)
        if not path.is_dir():
            raise RunError(f"no run folder at {path}")
        if not (path / "metrics.jsonl").is_file():
            raise RunError(f"{path} has no metrics.jsonl: it is not a run folder")
        lineage = read_lineage(path) or {}
        parent = lineage.get("parent")
        runs.append(History(path, path.name, RunFolder(path, read_only=True).read_metrics(),
                            lineage.get("branch_step"), Path(parent) if parent else None,
                            lineage.get("changes") or {}))
    _unique_labels(runs)
    return runs


def _unique_labels(runs: list[History]) -> None:
    """Folder names, or parent/name where two runs share a name."""
    names = [r.label for r in runs]
    for r in runs:
        if names.count(r.label) > 1:
            r.label = f"{r.path.resolve().parent.name}/{r.path.name}"


def common_metrics(runs: list[History], wanted: list[str]) -> tuple[list[str], list[str]]:
    """(the wanted metrics every run logged, those some run did not). RunError when no wanted metric is
    common: the message says which metrics each run has."""
    have = [set(r.metrics()) for r in runs]
    common = [m for m in wanted if all(m in h for h in have)]
    if not common:
        each = "; ".join(f"{r.label} has {', '.join(r.metrics()) or 'no metric logged yet'}" for r in runs)
        raise RunError(f"the runs have none of {', '.join(wanted)} in common: {each}")
    return common, [m for m in wanted if m not in common]


def aligned_table(runs: list[History], metrics: list[str]) -> tuple[list[str], np.ndarray]:
    """(columns, rows): ``step`` then ``run:metric`` for every run and metric, one row per step any
    of them logged, NaN where a run did not log that metric at that step."""
    series = {(r.label, m): r.series(m) for r in runs for m in metrics}
    steps = np.unique(np.concatenate([s for s, _ in series.values()] or [np.zeros(0, np.int64)]))
    table = np.full((len(steps), 1 + len(series)), np.nan)
    table[:, 0] = steps
    for j, (s, v) in enumerate(series.values(), start=1):
        table[np.searchsorted(steps, s), j] = v
    return ["step"] + [f"{label}:{m}" for label, m in series], table


def summary_window(runs: list[History], metrics: list[str]) -> tuple[int, int] | None:
    """The steps every run can be compared over: after the latest branch point among the runs (before
    it a fork's history is its parent's, copied) up to the earliest of the runs' last logged steps of
    ``metrics``. None when that window holds no step."""
    starts = [r.branch_step for r in runs if r.branch_step is not None]
    start = max(starts) + 1 if starts else 0
    lasts = []
    for r in runs:
        steps = np.concatenate([r.series(m)[0] for m in metrics] or [np.zeros(0, np.int64)])
        if not steps.size:
            return None
        lasts.append(int(steps.max()))
    end = min(lasts)
    return (start, end) if end >= start else None


def summary(runs: list[History], metrics: list[str]) -> tuple[tuple[int, int] | None, list[dict]]:
    """Did the change help? For each run: its description, and for each metric the mean of the values it
    logged in ``summary_window`` and the last of them (NaN where it logged none there, or a null)."""
    window = summary_window(runs, metrics)
    rows = []
    for r in runs:
        cells = {}
        for m in metrics:
            steps, values = r.series(m)
            if window is not None:
                keep = (steps >= window[0]) & (steps <= window[1])
                steps, values = steps[keep], values[keep]
            finite = values[np.isfinite(values)]
            cells[m] = (float(finite.mean()) if finite.size else math.nan,
                        float(values[-1]) if values.size else math.nan, int(values.size))
        rows.append({"label": r.label, "what": _describe_short(r, runs), "cells": cells})
    return window, rows


def summary_text(runs: list[History], metrics: list[str]) -> str:
    """``summary`` as a table a terminal shows: one row per run, a mean and a last column per metric."""
    window, rows = summary(runs, metrics)
    if window is None:   # a fork not trained past its branch point: before it, its numbers are its parent's
        starts = [r.branch_step for r in runs if r.branch_step is not None]
        head = (f"no step to compare yet: the runs share no logged step after the branch at {max(starts):,}"
                if starts else "no step to compare yet: the runs share no logged step")
        lasts = []
        for r in runs:
            steps = [int(x) for m in metrics for x in r.series(m)[0]]
            lasts.append(f"{max(steps):,}" if steps else "none")
        table = [[row["label"], row["what"], last] for row, last in zip(rows, lasts)]
        return "\n".join([f"{head}; train each branch past it (the numbers before it are the parent's):",
                          *text_table(["run", "what", "last logged step"], table, left=3)]) + "\n"
    if window[0] == 0:
        head = f"steps {window[0]:,} to {window[1]:,} (where every run has logged)"
    else:
        head = (f"steps {window[0]:,} to {window[1]:,}: after the branch at {window[0] - 1:,}, up to the "
                "last step every run has logged")
    columns = ["run", "what"] + [f"{m} {k}" for m in metrics for k in ("mean", "last")]
    table = [[row["label"], row["what"]] + [_summary_value(v) for m in metrics for v in row["cells"][m][:2]]
             for row in rows]
    n = max((row["cells"][m][2] for row in rows for m in metrics), default=0)
    return "\n".join([f"{head};", f"each metric's mean over the values a run logged there (up to {n}) and the last:",
                      *text_table(columns, table, left=2)]) + "\n"


def text_table(columns: list[str], table: list[list[str]], left: int) -> list[str]:
    """The lines of a table for a terminal: the head, then a line per row; the first ``left`` columns
    aligned left (names), the others right (numbers), two spaces between."""
    widths = [max(len(c), *(len(t[i]) for t in table)) for i, c in enumerate(columns)]
    return ["  ".join(f"{c:<{w}}" if i < left else f"{c:>{w}}" for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
            for cells in [columns, *table]]


def _summary_value(v: float) -> str:
    if math.isnan(v):
        return "n/a"
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def _describe_short(run: History, runs: list[History]) -> str:
    """'fork of ring8 at 1,000: tricks.packing.enabled=true'; for a run that is no fork, 'the parent'
    when another of ``runs`` is its fork, else '-'."""
    if run.branch_step is None:
        forked = any(r.parent is not None and _same(r.parent, run.path) for r in runs if r is not run)
        return "the parent" if forked else "-"
    parent, what = _fork_origin(run, runs)
    return f"fork of {parent} at {run.branch_step:,}: {what}"


def _fork_origin(run: History, runs: list[History]) -> tuple[str, str]:
    """A fork's parent as ``runs`` label it (its folder's name when it is not among them) and its
    changes as 'key=value, ...' ('no change')."""
    parent = next((r.label for r in runs if run.parent is not None and _same(r.path, run.parent)),
                  run.parent.name if run.parent is not None else "?")
    return parent, ", ".join(f"{k}={_show(v)}" for k, v in run.changes.items()) or "no change"


def table_csv(columns: list[str], table: np.ndarray) -> str:
    def cell(v: float, first: bool) -> str:
        return "" if math.isnan(v) else str(int(v)) if first else f"{v:.6g}"
    lines = [",".join(_csv_field(c) for c in columns)]
    lines += [",".join(cell(v, j == 0) for j, v in enumerate(row)) for row in table]
    return "\n".join(lines) + "\n"


def _csv_field(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text


def smoothed(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: an exponential moving average de-biased for its start (so the first
    point is not pulled to 0); NaN points stay NaN and do not move the average."""
    out = np.full_like(values, np.nan)
    last, n = 0.0, 0
    for i, v in enumerate(values):
        if not math.isfinite(v):
            continue
        last, n = last * weight + (1.0 - weight) * v, n + 1
        out[i] = last / (1.0 - weight ** n) if weight > 0 else v
    return out


# -- drawing --------------------------------------------------------------------------------------
def compare_png(runs: list[History], metrics: list[str], smooth: float = 0.0) -> bytes:
    """The figure as PNG bytes: a legend on top, then one panel per metric (up to three a row)."""
    check_smoothing(smooth)
    k = SUPERSAMPLE
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    font, small = _font(13 * k), _font(11 * k)
    legend_lines = _legend_layout(runs, cols * PANEL_W * k, font)
    legend_h = (len(legend_lines) * LEGEND_ROW_H + 10) * k
    img = Image.new("RGB", (cols * PANEL_W * k, legend_h + rows * PANEL_H * k), "white")
    draw = ImageDraw.Draw(img)
    _draw_legend(draw, runs, legend_lines, font, k)
    steps = np.concatenate([r.series(m)[0] for r in runs for m in metrics] + [np.zeros(1, np.int64)])
    x_range = (min(0, int(steps.min())), max(1, int(steps.max())))   # the step axis all panels share
    for i, metric in enumerate(metrics):
        left, top = (i % cols) * PANEL_W * k, legend_h + (i // cols) * PANEL_H * k
        _panel(img, runs, metric, smooth, (left, top), x_range, font, small, k)
    img = img.resize((img.width // k, img.height // k), Image.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _font(px: int):
    try:
        return ImageFont.load_default(size=px)
    except (TypeError, OSError, ImportError):   # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _describe(run: History, runs: list[History]) -> str:
    """'ring8-parent' or 'branch (fork of ring8-parent at 1,000: tricks.packing.enabled=true)'."""
    if run.branch_step is None:
        return run.label
    parent, what = _fork_origin(run, runs)
    return f"{run.label} (fork of {parent} at step {run.branch_step:,}: {what})"


def _show(v) -> str:
    return "true" if v is True else "false" if v is False else str(v)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _legend_layout(runs, width, font) -> list[list[int]]:
    """The runs' indices on each legend line: as many entries as fit the width."""
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines, line, used = [], [], 0
    for i, r in enumerate(runs):
        w = draw.textlength(_describe(r, runs), font=font) + 60 * SUPERSAMPLE
        if line and used + w > width - 20 * SUPERSAMPLE:
            lines.append(line)
            line, used = [], 0
        line.append(i)
        used += w
    return lines + [line] if line else lines


def _draw_legend(draw, runs, lines, font, k) -> None:
    y = 8 * k
    for line in lines:
        x = 14 * k
        for i in line:
            colour = COLOURS[i % len(COLOURS)]
            cy = y + LEGEND_ROW_H * k / 2
            draw.line((x, cy, x + 26 * k, cy), fill=colour, width=3 * k)
            if runs[i].branch_step is not None:   # the branch marker's look, beside the fork's line
                draw.line((x + 13 * k, cy - 7 * k, x + 13 * k, cy + 7 * k), fill=colour, width=k)
            text = _describe(runs[i], runs)
            draw.text((x + 34 * k, cy), text, fill=INK, font=font, anchor="lm")
            x += draw.textlength(text, font=font) + 60 * k
        y += LEGEND_ROW_H * k


def _panel(img, runs, metric, smooth, origin, x_range, font, small, k) -> None:
    draw = ImageDraw.Draw(img)
    left, top = origin
    x0, y0 = left + MARGIN_L * k, top + MARGIN_T * k
    w, h = (PANEL_W - MARGIN_L - MARGIN_R) * k, (PANEL_H - MARGIN_T - MARGIN_B) * k
    draw.text((left + PANEL_W * k / 2, top + 16 * k), TITLES.get(metric, metric), fill=INK, font=font,
              anchor="mm")
    data = [(i, r, *r.series(metric)) for i, r in enumerate(runs)]
    lo, hi = _y_range(metric, [v for *_, v in data])
    s_lo, s_hi = x_range
    xs = _ticks(s_lo, s_hi, 5)
    ys = _ticks(lo, hi, 5)

    def px(step, value):
        return (x0 + (np.asarray(step, float) - s_lo) / (s_hi - s_lo) * w,
                y0 + h - (np.asarray(value, float) - lo) / (hi - lo) * h)

    for t in ys:
        _, y = px(s_lo, t)
        draw.line((x0, y, x0 + w, y), fill=GRID, width=k)
        draw.text((x0 - 6 * k, y), _tick_text(t, ys), fill=INK, font=small, anchor="rm")
    for t in xs:
        x, _ = px(t, lo)
        draw.line((x, y0, x, y0 + h), fill=GRID, width=k)
        draw.text((x, y0 + h + 6 * k), f"{int(t):,}", fill=INK, font=small, anchor="mt")
    draw.text((x0 + w / 2, y0 + h + 24 * k), "step", fill=INK, font=small, anchor="mt")

    # curves on their own layer, cut to the plot area (outliers beyond the range leave it)
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    ld = ImageDraw.Draw(layer)
    labels = []
    for i, run, steps, values in data:
        colour = COLOURS[i % len(COLOURS)]
        start = _drawn_from(run, runs)   # a fork beside its parent: its shared history is the parent's
        keep = steps >= start if start is not None else np.ones(len(steps), bool)
        u, v = px(steps, values)
        u, v = u - x0, v - y0
        if smooth > 0:   # the raw curve faint, the smoothed one over it
            _polyline(ld, u, v, keep, (*colour, 90), k)
            v = px(steps, smoothed(values, smooth))[1] - y0
        _polyline(ld, u, v, keep, (*colour, 255), 2 * k)
        if run.branch_step is not None and s_lo <= run.branch_step <= s_hi:
            bx = px(run.branch_step, lo)[0] - x0
            for ya in range(0, h, 10 * k):   # dashed: a marker, not a curve
                ld.line((bx, ya, bx, min(h, ya + 5 * k)), fill=(*colour, 230), width=k + k // 2)
            labels.append((x0 + bx, f"branch at {run.branch_step:,}", colour))
    img.paste(layer, (x0, y0), layer)
    for x, label, colour in labels:   # above the plot, where no curve runs, whole inside its panel
        x = label_centre(x, draw.textlength(label, font=small), origin[0], origin[0] + PANEL_W * k, 4 * k)
        draw.text((x, y0 - 3 * k), label, fill=colour, font=small, anchor="mb")
    draw.rectangle((x0, y0, x0 + w, y0 + h), outline=FRAME, width=k)


def label_centre(x: float, width: float, left: float, right: float, margin: float) -> float:
    """Where a label ``width`` wide and centred on ``x`` goes so that it stays whole between ``left``
    and ``right`` (a branch at the last step would otherwise lose its label's end at the image's edge)."""
    return min(max(x, left + margin + width / 2), right - margin - width / 2)


def _drawn_from(run: History, runs: list[History]) -> int | None:
    if run.branch_step is None or run.parent is None:
        return None
    return run.branch_step if any(_same(r.path, run.parent) for r in runs if r is not run) else None


def _polyline(draw, u, v, keep, fill, width) -> None:
    """Lines through the finite points, broken at NaN (a value that was not defined there)."""
    ok = keep & np.isfinite(u) & np.isfinite(v)
    run: list[tuple[float, float]] = []
    for a, b, good in zip(u, v, ok):
        if good:
            run.append((float(a), float(b)))
        elif run:
            _segment(draw, run, fill, width)
            run = []
    if run:
        _segment(draw, run, fill, width)


def _segment(draw, pts, fill, width) -> None:
    if len(pts) == 1:
        x, y = pts[0]
        draw.ellipse((x - width, y - width, x + width, y + width), fill=fill)
    else:
        draw.line(pts, fill=fill, width=width, joint="curve")


def _y_range(metric: str, values: list[np.ndarray]) -> tuple[float, float]:
    """The 1st to 99th percentile of all runs' values, padded: one outlier does not squash the rest."""
    allv = np.concatenate(values) if values else np.zeros(0)
    allv = allv[np.isfinite(allv)]
    if not len(allv):
        return 0.0, 1.0
    lo, hi = (float(x) for x in (np.percentile(allv, [1, 99]) if len(allv) >= 50 else (allv.min(), allv.max())))
    if metric in FROM_ZERO:
        lo = min(lo, 0.0)
    pad = 0.06 * (hi - lo) if hi > lo else max(abs(hi) * 0.1, 1.0)
    return (lo if metric in FROM_ZERO and lo == 0.0 else lo - pad), hi + pad


def _ticks(lo: float, hi: float, n: int) -> list[float]:
    """About ``n`` round numbers (1, 2, 2.5 or 5 times a power of ten) within [lo, hi]."""
    span = hi - lo
    if span <= 0 or not math.isfinite(span):
        return [lo]
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _tick_text(t: float, ticks: list[float]) -> str:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    if step < 1 and abs(step * 10 ** decimals - round(step * 10 ** decimals)) > 1e-9:
        decimals += 1
    return f"{t:,.{decimals}f}"
