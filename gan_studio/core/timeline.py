"""The timeline figure of Metz et al. (2017), Fig. 1: one row per run, one column per step, each cell
the points the run kept at that step (``train.keep_samples_at``, samples/step_XXXXXXXX.npy) drawn over
its data: the mode means with a ring of 3 sigma (the HQ radius of the mode metrics), or grey data
points for a set without modes. Drawn with PIL from the run folders; nothing in them is written.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gan_studio.core.errors import ConfigError, RunError, echo

#: default side of one cell, in pixels, and the limits a caller may ask for
CELL_PX = 160
MIN_CELL_PX, MAX_CELL_PX = 32, 1024
#: the band of row labels on the left, the band of column headers on top, the gap between cells
LABEL_W = 150
HEADER_H = 22
GAP = 4
#: most rows (runs) and columns (steps) of one figure
MAX_ROWS, MAX_COLS = 64, 64

SAMPLE_COLOUR = (200, 40, 30)
MODE_COLOUR = (120, 120, 120)
DATA_COLOUR = (200, 200, 200)
BORDER_COLOUR = (210, 210, 210)
INK = (0, 0, 0)


@dataclass
class TimelineRow:
    """One run's row: its label lines, its samples per column, and the data they are drawn over."""
    label: list[str]
    samples: list[np.ndarray]
    bounds: tuple[float, float, float, float]
    means: np.ndarray | None = None
    sigma: float | None = None
    data: np.ndarray | None = None


def figure_size(rows: int, cols: int, cell: int = CELL_PX) -> tuple[int, int]:
    """Width and height in pixels of a figure of ``rows`` runs and ``cols`` steps."""
    return LABEL_W + cols * (cell + GAP) + GAP, HEADER_H + rows * (cell + GAP) + GAP


def check_layout(rows: int, cols: int, cell: int) -> None:
    if not MIN_CELL_PX <= cell <= MAX_CELL_PX:
        raise ConfigError(f"--cell = {cell}: must be between {MIN_CELL_PX} and {MAX_CELL_PX} pixels")
    if not 1 <= cols <= MAX_COLS:
        raise ConfigError(f"{cols} steps asked for: a timeline has 1 to {MAX_COLS} columns")
    if not 1 <= rows <= MAX_ROWS:
        raise ConfigError(f"{rows} runs given: a timeline has 1 to {MAX_ROWS} rows")


def parse_steps(text: str) -> list[int]:
    """'0,5000,10000' as [0, 5000, 10000] (order kept, repeats dropped); ConfigError otherwise."""
    out: list[int] = []
    for given in text.split(","):
        part = given.strip().replace("_", "")
        if not (part.isascii() and part.isdigit()):   # int("²") fails though "²".isdigit()
            raise ConfigError(f"--steps {echo(text)}: {echo(given.strip(), 20)} is not a step; expected steps "
                              f"(whole numbers from 0) separated by commas, e.g. 0,5000,10000")
        if len(part) > 10:
            raise ConfigError(f"--steps {echo(text)}: {echo(given.strip(), 20)} is past any step a run keeps "
                              "(at most 10 digits)")
        if int(part) not in out:
            out.append(int(part))
    return out


# -- reading the runs -----------------------------------------------------------------------------
def load_rows(run_dirs: list[str | Path], steps: list[int] | None) -> tuple[list[int], list[TimelineRow]]:
    """The steps drawn and one row per run folder, read without writing anything. ``steps`` None:
    every step all the runs kept. RunError (one line) for a folder that is not a 2-D run, kept no
    samples, or did not keep one of ``steps`` (the message lists the steps it kept)."""
    import gan_studio.core.data  # noqa: F401  (registers the data sets)
    from gan_studio.core.data.registry import build_dataset, dataset_kind
    from gan_studio.core.runs import RunFolder

    runs = []
    for d in run_dirs:
        run = RunFolder.open(d)   # read-only: any write would raise
        cfg = run.config()
        if dataset_kind(cfg.data.name) != "2d":
            raise RunError(f"{run.path} trains on {cfg.data.name}, not 2-D data: the timeline draws 2-D runs")
        kept = run.kept_samples()
        if not kept:
            raise RunError(f"{run.path} kept no samples: train it with train.keep_samples_at set, e.g. "
                           "--set 'train.keep_samples_at=[0,5000,10000]'")
        runs.append((run, cfg, kept))
    if steps is None:
        common = set(runs[0][2])
        for _, _, kept in runs[1:]:
            common &= set(kept)
        if not common:
            raise RunError("the runs kept samples at no common step; name the steps with --steps")
        steps = sorted(common)
    check_layout(len(runs), len(steps), MIN_CELL_PX)
    rows = []
    for run, cfg, _ in runs:
        samples = [run.load_samples(s) for s in steps]
        means = sigma = data = None
        bounds = None
        try:
            ds = build_dataset(cfg.data)
            if ds.modes is not None:
                means, sigma = ds.modes.cpu().double().numpy(), ds.sigma
            else:
                import torch
                data = ds.sample(512, torch.Generator().manual_seed(0)).cpu().double().numpy()
            bounds = ds.bounds()
        except (ConfigError, OSError):   # `points` from a CSV that has moved: frame the samples alone
            pass
        if bounds is None:
            from gan_studio.core.data.registry import frame_bounds
            bounds = frame_bounds(np.concatenate(samples))
        label = [run.path.name]
        if cfg.name and cfg.name != run.path.name:
            label.append(cfg.name)
        label.append(f"seed {cfg.train.seed}")
        rows.append(TimelineRow(label, samples, bounds, means, sigma, data))
    return steps, rows


# -- drawing --------------------------------------------------------------------------------------
def timeline_png(rows: list[TimelineRow], steps: list[int], cell: int = CELL_PX) -> bytes:
    """The figure as PNG bytes: column headers 'step N' on top, row labels on the left."""
    check_layout(len(rows), len(steps), cell)
    width, height = figure_size(len(rows), len(steps), cell)
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    for j, step in enumerate(steps):
        x = LABEL_W + GAP + j * (cell + GAP) + cell / 2
        _text(draw, f"step {step:,}", x, HEADER_H / 2, font, centred=True, width=cell)
    for i, row in enumerate(rows):
        top = HEADER_H + GAP + i * (cell + GAP)
        line_h = 12
        y = top + cell / 2 - line_h * (len(row.label) - 1) / 2
        for k, line in enumerate(row.label):
            _text(draw, line, 6, y + k * line_h, font, centred=False, width=LABEL_W - 10)
        for j, pts in enumerate(row.samples):
            left = LABEL_W + GAP + j * (cell + GAP)
            outside, n = _cell(draw, row, pts, left, top, cell)
            if outside:   # said in the cell: a cell whose points all left the frame was a blank square
                _text(draw, f"{outside} of {n} outside", left + cell / 2, top + cell - 8, font,
                      centred=True, width=cell - 4, box=True)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: float) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def _text(draw, text: str, x: float, y: float, font, centred: bool, width: float, box: bool = False) -> None:
    """``text`` (cut to ``width``) with its vertical middle at y, starting at x or centred on it;
    ``box``: on a white box, readable over the points."""
    text = _fit(draw, text, font, width)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    dx = -(right - left) / 2 - left if centred else -left
    at = (x + dx, y - (bottom - top) / 2 - top)
    if box:
        l, t, r, b = draw.textbbox(at, text, font=font)
        draw.rectangle((l - 2, t - 2, r + 1, b + 1), fill="white")
    draw.text(at, text, fill=INK, font=font)


def _cell(draw, row: TimelineRow, pts: np.ndarray, left: int, top: int, cell: int) -> tuple[int, int]:
    """Draw one cell; (G's finite points outside the frame, G's finite points)."""
    x0, x1, y0, y1 = row.bounds
    span = max(x1 - x0, y1 - y0) or 1.0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    scale = (cell - 4) / span

    def to_px(p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64).reshape(-1, 2)
        p = p[np.isfinite(p).all(1)]
        u = left + cell / 2 + (p[:, 0] - cx) * scale
        v = top + cell / 2 - (p[:, 1] - cy) * scale
        keep = (u >= left) & (u < left + cell) & (v >= top) & (v < top + cell)
        return np.stack([u, v], 1)[keep]

    draw.rectangle((left, top, left + cell - 1, top + cell - 1), outline=BORDER_COLOUR)
    if row.data is not None:
        for u, v in to_px(row.data):
            draw.point((u, v), fill=DATA_COLOUR)
    if row.means is not None:
        r = max(3.0, 3 * (row.sigma or 0.0) * scale)
        for u, v in to_px(row.means):
            draw.ellipse((u - r, v - r, u + r, v + r), outline=MODE_COLOUR, width=1)
    dot = 1.0 if cell < 120 else 1.5
    shown = to_px(pts)
    for u, v in shown:
        draw.ellipse((u - dot, v - dot, u + dot, v + dot), fill=SAMPLE_COLOUR)
    p = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    n = int(np.isfinite(p).all(1).sum())
    return n - len(shown), n
