"""The payloads the window draws: small host copies (numpy, uint8 tiles) built from the Trainer.

Built in the training engine (session/engine.py: the training process, or a thread in fast tests),
they cross the transport pickled, so they hold plain data only: never device tensors, nothing
the window could use to reach the Trainer. One name per thing:
- :class:`RunInfo`: what does not change while a Trainer trains (sent once per New, Open, restart);
- :class:`Frame`: one picture of G and D at a step (samples, D's heatmap, G's arrows, image tiles);
- :class:`Report`: what happened since the last report (metric rows, events, evaluations, maybe a Frame);
- a *grid image*: tiles laid out by :func:`tile_grid`. A *checkpoint* (the saved state) is the
  run folder's business (core/runs.py), not a payload.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gan_studio.core.config import Config
from gan_studio.core.training import losses
from gan_studio.core.training.trainer import METRIC_NAMES

#: columns of a metrics array: the step, then the Trainer's metrics in their order
METRIC_COLUMNS = ("step",) + METRIC_NAMES
#: generated points in the 2-D view (a fixed latent batch, so a point's path over time is meaningful)
VIEW_POINTS = 1000
#: fake points that get an arrow of G's gradient (more would hide the samples)
ARROW_POINTS = 128
#: side of the discriminator heatmap grid (64 x 64 = 4,096 D evaluations per view)
HEAT_SIDE = 64
#: real images per domain the image-to-image panel offers (capability "translation")
TRANSLATION_IMAGES = 12


@dataclass
class RunInfo:
    """A Trainer is ready (first start, New, Open, a restarted training process): what does not
    change while it trains."""
    config: Config
    run_path: str
    device_name: str
    step: int
    is_image: bool
    real: np.ndarray | None = None           # (N, 2) real samples for the 2-D view
    modes: np.ndarray | None = None          # (K, 2) mode means of a mixture
    sigma: float | None = None
    bounds: tuple | None = None              # x0, x1, y0, y1
    history: np.ndarray | None = None        # (n, len(METRIC_COLUMNS)) rows logged before (open run)
    eval_history: list = field(default_factory=list)  # [{"step", "modes", "hq", "rkl", ...}]
    events: list = field(default_factory=list)
    family: str = "gan"                      # model.family
    capabilities: frozenset = frozenset()    # what the family offers (core/family_spec.CAPABILITIES)
    family_plot: tuple | None = None         # Trainer.plot(): (title, ((key, label), ...)) of the extra plot
    image_metrics: bool = False              # its evaluations report the classifier's image metrics (image plots)
    vocabulary: list | None = None           # capability "text": the words a caption may use
    class_names: list | None = None          # capability "labels": the classes G draws on demand
    pictures_gone: str = ""                  # opened without its pictures (they moved): why; to draw only
    domain_names: tuple | None = None        # capability "translation": the filters of domains A and B
    domain_images: dict | None = None        # capability "translation": {"a", "b"} -> real images, uint8 tiles


@dataclass
class Frame:
    """The heavy part of a report, built at a budgeted rate: samples, heatmap, arrows, image tiles."""
    step: int
    fake: np.ndarray | None = None           # (VIEW_POINTS, 2) float32
    heat: np.ndarray | None = None           # (HEAT_SIDE, HEAT_SIDE) uint8, [x, y] order
    heat_range: tuple = (0.0, 0.0)           # D's raw min and max behind the normalised heat
    arrows: np.ndarray | None = None         # (ARROW_POINTS, 4): x, y, dx, dy (the way G moves them)
    evaluation: dict = field(default_factory=dict)  # mode metrics of 2,500 samples (2-D mixtures)
    tiles: np.ndarray | None = None          # (64, H, W, C) uint8: G(fixed_z) for image data
    nrow: int = 8                            # tiles per row of the grid
    tile_caption: str = ""                   # what the rows or columns are (classes, captions, levels)


@dataclass
class Report:
    """What happened since the last report; sent at a bounded rate."""
    step: int
    running: bool
    steps_per_s: float
    elapsed_s: float
    metrics: np.ndarray                      # (n, len(METRIC_COLUMNS)): every step since the last report
    events: list = field(default_factory=list)
    frame: Frame | None = None
    last_eval: dict | None = None            # the RunLoop's latest evaluation row, when it is new
    evals: list = field(default_factory=list)  # every evaluation row since the last report, in order


def run_info(trainer, run_path: str, run=None) -> RunInfo:
    """The RunInfo of a Trainer that was just built or opened; ``run`` adds what it logged before."""
    data = trainer.data
    spec = trainer.FAMILY
    s = RunInfo(config=trainer.cfg.copy(), run_path=run_path, device_name=trainer.device_name,
                step=trainer.step_count, is_image=trainer.is_image, events=list(trainer.events),
                family=spec.name, capabilities=spec.capabilities, family_plot=trainer.plot(),
                # as the family declares: ssl and cyclegan report only their own numbers (an FD plot
                # there stayed empty, and cyclegan's plots scrolled)
                image_metrics=trainer.is_image and spec.image_metrics)
    if spec.has("text"):
        s.vocabulary = list(trainer.vocabulary)
    if spec.has("labels"):
        s.class_names = [str(c) for c in trainer.class_names]
    if spec.has("translation"):
        s.domain_names = tuple(trainer.domain_names)
        s.domain_images = {d: to_tiles(trainer.real_images(d, TRANSLATION_IMAGES)) for d in ("a", "b")}
    if not trainer.is_image:
        g = torch.Generator(device=trainer.device).manual_seed(0)
        s.real = data.sample(VIEW_POINTS, g).detach().cpu().numpy().astype(np.float32)
        s.bounds = tuple(float(v) for v in data.bounds())
        if data.modes is not None:
            s.modes = data.modes.detach().cpu().numpy().astype(np.float32)
            s.sigma = float(data.sigma)
    if run is not None:
        # the run as of its checkpoint: rows past it (a run opened read-only while it trains, or
        # whose trainer was killed) are not this Trainer's and will be trained again
        rows = [r for r in run.read_metrics() if r.get("step", 0) <= trainer.step_count]
        s.history = rows_to_array(rows)
        keys = {"modes", "hq", "fd_classifier"} | {k for k, _ in (s.family_plot or ("", []))[1]}
        s.eval_history = [r for r in rows if keys & set(r)]
        s.events = [e for e in run.read_events() if e.get("step", 0) <= trainer.step_count] or s.events
        s.pictures_gone = getattr(run, "pictures_gone", "")
    return s


def rows_to_array(rows: list[dict]) -> np.ndarray:
    """Logged metric rows -> (n, columns) float64; a missing or null value becomes NaN."""
    out = np.full((len(rows), len(METRIC_COLUMNS)), np.nan)
    for i, r in enumerate(rows):
        for j, name in enumerate(METRIC_COLUMNS):
            v = r.get(name)
            if isinstance(v, (int, float)):
                out[i, j] = v
    return out


def stack_metrics(steps: list[int], values: list[torch.Tensor]) -> np.ndarray:
    """Per-step metric tensors -> one host array, with one device sync for the whole batch."""
    if not steps:
        return np.empty((0, len(METRIC_COLUMNS)))
    vals = torch.stack(values).detach().to("cpu", torch.float64).numpy()
    return np.concatenate([np.asarray(steps, dtype=np.float64)[:, None], vals], axis=1)


class FrameBuilder:
    """Builds Frames for one Trainer; keeps the fixed latents so points are comparable over time."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.problem = ""          # why the last frame lacks a part, for the status bar
        self.is_image = trainer.is_image
        if not self.is_image:
            from gan_studio.core.render import fixed_points_z
            self.z = fixed_points_z(trainer, VIEW_POINTS).to(trainer.device)
            x0, x1, y0, y1 = trainer.data.bounds()
            xs = x0 + (np.arange(HEAT_SIDE) + 0.5) * (x1 - x0) / HEAT_SIDE   # pixel centres
            ys = y0 + (np.arange(HEAT_SIDE) + 0.5) * (y1 - y0) / HEAT_SIDE
            gx, gy = np.meshgrid(xs, ys, indexing="ij")
            self.heat_points = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32,
                                            device=trainer.device)

    def build(self, with_eval: bool = True) -> Frame:
        tr = self.trainer
        v = Frame(step=tr.step_count)
        if self.is_image:
            self._image_tiles(v)
            return v
        with torch.no_grad():
            fake = tr.generate(self.z)
        v.fake = fake.cpu().numpy().astype(np.float32)
        if with_eval and tr.data.modes is not None:
            v.evaluation = tr.evaluate()
        try:
            with torch.no_grad():
                heat = d_per_point(tr, self.heat_points).reshape(HEAT_SIDE, HEAT_SIDE)
            v.heat, v.heat_range = normalise_heat(heat.cpu().numpy())
            v.arrows = generator_arrows(tr, fake[:ARROW_POINTS])
        except (RuntimeError, ValueError) as e:
            # a D that cannot judge single points (a trick with other input shapes): show the samples,
            # say why the heatmap is missing
            self.problem = f"no D heatmap: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
        return v

    def _image_tiles(self, v: Frame) -> None:
        """The grid, as the family lays it out (Trainer.grid_images: FAMILY.grid): G(fixed_z); a
        conditional family's rows are its classes or captions; LAPGAN's are its pyramid."""
        images, nrow, caption = self.trainer.grid_images()
        v.tiles, v.nrow, v.tile_caption = to_tiles(images), int(nrow), caption


def normalise_heat(values: np.ndarray) -> tuple[np.ndarray, tuple]:
    """D's raw outputs -> uint8 by this frame's range: a logit and an unbounded critic both fill 0-255."""
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape, np.uint8), (math.nan, math.nan)
    lo, hi = float(values[finite].min()), float(values[finite].max())
    span = hi - lo if hi > lo else 1.0
    scaled = np.where(finite, (values - lo) / span, 0.0)
    return np.ascontiguousarray((scaled * 255 + 0.5).astype(np.uint8)), (lo, hi)


def d_output(trainer, x: torch.Tensor) -> torch.Tensor:
    """D's raw output on a batch of fakes, through the Trainer's entry (tricks such as packing apply)."""
    return trainer.d_out(x, "fake")


def d_per_point(trainer, points: torch.Tensor) -> torch.Tensor:
    """One D value per point. A D that judges packs of m samples (PacGAN) gives N/m values: then
    each point is judged as a pack of m copies of itself."""
    out = d_output(trainer, points).reshape(-1)
    if out.shape[0] != points.shape[0] and out.shape[0] > 0 and points.shape[0] % out.shape[0] == 0:
        m = points.shape[0] // out.shape[0]
        out = d_output(trainer, points.repeat_interleave(m, 0)).reshape(-1)
    return out


def generator_arrows(trainer, fake: torch.Tensor) -> np.ndarray:
    """Where G's loss pushes each fake sample: minus its gradient w.r.t. the sample's position."""
    x = fake.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = losses.G_LOSS[trainer.cfg.loss](d_output(trainer, x))
        (grad,) = torch.autograd.grad(loss, x)   # D's weights get no gradient: only x is asked for
    move = (-grad).cpu().numpy().astype(np.float32)
    return np.concatenate([x.detach().cpu().numpy().astype(np.float32), move], axis=1)


def to_tiles(images: torch.Tensor) -> np.ndarray:
    """Images in [-1, 1] (N, C, H, W) -> uint8 (N, H, W, C)."""
    arr = (images.detach().float().cpu().clamp(-1, 1) * 127.5 + 127.5).round().to(torch.uint8)
    return np.ascontiguousarray(arr.permute(0, 2, 3, 1).numpy())


def tile_grid(tiles: np.ndarray, nrow: int = 8, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """(N, H, W, C) uint8 tiles -> one grid image (rows, cols, C), row-major, with a pad between cells."""
    n, h, w, c = tiles.shape
    ncol = min(nrow, n)
    nrows = math.ceil(n / ncol)
    out = np.full((nrows * (h + pad) + pad, ncol * (w + pad) + pad, c), pad_value, np.uint8)
    for i in range(n):
        r, col = divmod(i, ncol)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        out[y:y + h, x:x + w] = tiles[i]
    return out


def cell_at(tiles_shape: tuple, row: float, col: float, nrow: int = 8, pad: int = 2) -> int | None:
    """Which tile of :func:`tile_grid` holds pixel (row, col); None on the padding or outside."""
    n, h, w, _ = tiles_shape
    ncol = min(nrow, n)
    r, rr = divmod(int(math.floor(row)) - pad, h + pad)
    c, cc = divmod(int(math.floor(col)) - pad, w + pad)
    if row < pad or col < pad or rr >= h or cc >= w or c >= ncol:
        return None
    i = r * ncol + c
    return i if 0 <= i < n else None


def eval_summary(evaluation: dict[str, Any]) -> str:
    if not evaluation or "modes" not in evaluation:
        return ""
    k = len(evaluation.get("mode_counts", []))
    rkl = evaluation.get("rkl")
    rkl_text = "n/a" if rkl is None else f"{rkl:.2f}"
    return (f"modes {evaluation['modes']}/{k} (strict {evaluation.get('modes_strict', '?')}), "
            f"HQ {evaluation.get('hq', 0):.0f}%, reverse KL {rkl_text}")


def latent_tiles(trainer, z: np.ndarray, label: int | None = None) -> tuple[int, np.ndarray]:
    """(step, G(z) as uint8 tiles) for the latent lab; ``label``: a conditional GAN's class for
    every image (None: its balanced default)."""
    from gan_studio.core.latent import render_latents
    return trainer.step_count, to_tiles(render_latents(trainer, z, label=label))


def caption_tiles(trainer, text: str, n: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(step, stage-I tiles enlarged to stage II's size, stage-II tiles) of a StackGAN caption, uint8."""
    import torch.nn.functional as F
    s1, s2 = trainer.render_caption(text, n)
    s1 = F.interpolate(s1, size=s2.shape[-2:], mode="nearest")   # same size on screen, pixels kept
    return trainer.step_count, to_tiles(s1), to_tiles(s2)


def translation_tiles(trainer, domain: str, index: int) -> tuple[int, np.ndarray]:
    """(step, uint8 tiles (3, H, W, C)): real image ``index`` of ``domain`` (RunInfo.domain_images),
    its translation into the other domain and its reconstruction."""
    from gan_studio.core.errors import ConfigError
    x = trainer.real_images(domain, TRANSLATION_IMAGES)
    if not 0 <= int(index) < len(x):
        raise ConfigError(f"index = {index}: domain {domain} offers images 0..{len(x) - 1}")
    x = x[int(index):int(index) + 1]
    y, rec = trainer.translate(x, "a2b" if domain == "a" else "b2a")
    return trainer.step_count, to_tiles(torch.cat([x.to(y.device), y, rec]))
