"""Pictures the core writes without Qt: 2-D scatter plots (PIL) and image grids (torchvision)."""
from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image, ImageDraw

REAL_COLOUR = (150, 150, 150)
FAKE_COLOUR = (220, 60, 40)
CAPTURED = (40, 160, 60)
MISSED = (30, 30, 30)


def scatter_png(fake: np.ndarray, real: np.ndarray | None = None, means: np.ndarray | None = None,
                captured: list[bool] | None = None, bounds=None, size: int = 512, title: str = "") -> bytes:
    """Real points grey, generated points red, mode means as rings (green when captured)."""
    fake = np.asarray(fake, dtype=np.float64).reshape(-1, 2)
    fake = fake[np.isfinite(fake).all(1)]
    if bounds is None:
        pts = [p for p in (fake, real, means) if p is not None and len(p)]
        allp = np.concatenate(pts) if pts else np.zeros((1, 2))
        lo, hi = allp.min(0), allp.max(0)
        pad = 0.15 * float((hi - lo).max()) + 0.1
        bounds = (lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad)
    x0, x1, y0, y1 = bounds
    span = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)

    def to_px(p):
        u = (p[:, 0] - cx) / span * (size - 20) + size / 2
        v = size / 2 - (p[:, 1] - cy) / span * (size - 20)
        return np.stack([u, v], 1)

    for pts, colour, r in ((real, REAL_COLOUR, 1.5), (fake, FAKE_COLOUR, 1.5)):
        if pts is None:
            continue
        for u, v in to_px(np.asarray(pts, dtype=np.float64).reshape(-1, 2)):
            if -5 < u < size + 5 and -5 < v < size + 5:
                draw.ellipse((u - r, v - r, u + r, v + r), fill=colour)
    if means is not None:
        for i, (u, v) in enumerate(to_px(np.asarray(means, dtype=np.float64))):
            colour = CAPTURED if captured is not None and captured[i] else MISSED
            draw.ellipse((u - 6, v - 6, u + 6, v + 6), outline=colour, width=2)
    if title:
        draw.text((8, 6), title, fill=(0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


#: the side, in pixels, below which `readable_scale` enlarges images (a digit at 16 px is a smudge)
READABLE_PX = 64
#: height of the label band above a labelled grid
LABEL_BAND_PX = 16
GRID_PADDING = 2


def readable_scale(side: int, min_px: int = READABLE_PX) -> int:
    """The whole-number factor that makes an image of ``side`` pixels at least ``min_px`` wide."""
    return max(1, -(-min_px // max(1, int(side))))


def grid_png(images: torch.Tensor, nrow: int = 8, scale: int = 1, column_labels=None,
             separators=None) -> bytes:
    """Images in [-1, 1], (N, C, H, W), as one PNG grid (torchvision's make_grid), row-major: image
    i is at row i // nrow, column i % nrow. ``scale`` enlarges each image by a whole factor
    (nearest neighbour: every pixel a sharp S x S block; the 2 px padding stays 2 px).
    ``column_labels``: one text per column, drawn centred in a white band above the grid (PIL's
    default font); ``separators``: texts drawn between neighbouring columns in that band (e.g.
    ":", "::", ":" for an analogy A : B :: C : ?)."""
    from torchvision.utils import make_grid
    images = images.detach().float().cpu().clamp(-1, 1) * 0.5 + 0.5
    if scale > 1:
        images = images.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
    grid = make_grid(images, nrow=nrow, padding=GRID_PADDING, pad_value=1.0)
    arr = (grid.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    if arr.shape[2] == 1:
        arr = arr[:, :, 0]
    img = Image.fromarray(arr)
    if column_labels or separators:
        img = _label_columns(img, images.shape[-1], min(nrow, max(1, len(images))), column_labels or (),
                             separators or ())
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _label_columns(grid: Image.Image, tile: int, columns: int, labels, separators) -> Image.Image:
    """The grid with a white band on top holding a centred label over each column."""
    from PIL import ImageFont
    font = ImageFont.load_default()
    ink = 0 if grid.mode == "L" else (0, 0, 0)
    out = Image.new(grid.mode, (grid.width, grid.height + LABEL_BAND_PX), 255 if grid.mode == "L" else "white")
    out.paste(grid, (0, LABEL_BAND_PX))
    draw = ImageDraw.Draw(out)
    step = tile + GRID_PADDING

    def centred(text: str, x: float) -> None:
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        draw.text((x - (right - left) / 2 - left, (LABEL_BAND_PX - (bottom - top)) / 2 - top), text,
                  fill=ink, font=font)

    for j, text in enumerate(list(labels)[:columns]):
        if text:
            centred(str(text), GRID_PADDING + j * step + tile / 2)
    for j, text in enumerate(list(separators)[:max(0, columns - 1)]):
        if text:
            centred(str(text), (j + 1) * step + GRID_PADDING / 2)
    return out


def fixed_points_z(trainer, n: int = 1000) -> torch.Tensor:
    """The 2-D runs' fixed latent batch for pictures (the same points at every step)."""
    g = torch.Generator().manual_seed(trainer.cfg.train.seed + 1)
    return torch.randn(n, trainer.cfg.model.latent_dim, generator=g)


#: points a run folder keeps at each step of train.keep_samples_at (the timeline figure's cells)
KEPT_SAMPLES = 512


def kept_samples(trainer, n: int = KEPT_SAMPLES) -> np.ndarray | None:
    """G's points on a fixed latent batch (the same z at every step, drawn from the run's seed; G's
    moving average with ``tricks.g_ema`` on) as float32 (n, 2); None for a run that is not 2-D.
    Touches no training RNG."""
    if trainer.is_image or tuple(trainer.data.shape) != (2,):
        return None
    return trainer.generate(fixed_points_z(trainer, n)).detach().float().cpu().numpy().reshape(-1, 2)


def render_snapshot_png(trainer) -> bytes:
    if trainer.is_image:
        return grid_png(trainer.generate(trainer.fixed_z))
    fake = trainer.generate(fixed_points_z(trainer)).cpu().numpy()
    real = trainer.data.sample(1000, torch.Generator(device=trainer.device).manual_seed(0)).cpu().numpy()
    means = trainer.data.modes.cpu().numpy() if trainer.data.modes is not None else None
    captured = None
    if means is not None and len(means) <= 1000:
        from gan_studio.core.metrics.modes import mode_metrics
        captured = [c > 0 for c in mode_metrics(fake, means, trainer.data.sigma)["mode_counts"]]
    return scatter_png(fake, real, means, captured, bounds=trainer.data.bounds(),
                       title=f"{trainer.cfg.name}  step {trainer.step_count}")
