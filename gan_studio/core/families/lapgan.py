"""LAPGAN (Denton et al. 2015): a Laplacian pyramid of GANs, drawn coarse to fine.

The pyramid of an image x at sizes s_0 = lapgan.base_size < s_1 < ... < s_L = data.image_size
(each twice the last):

    x_L = x,   x_{l-1} = down(x_l)                      down: 2x2 average
    h_l = x_l - up(x_{l-1})          (l = 1..L)         up: bilinear x2; h_l is level l's residual
    x_l = up(x_{l-1}) + h_l                              exact: the pyramid reconstructs the image

Level 0 is a GAN at s_0 from noise. Level l >= 1 is a conditional GAN at s_l: G_l(z, up(x_{l-1}))
draws the residual, D_l(h, up(x_{l-1})) judges a residual next to the coarse image it should sharpen
(``lapgan.d_input = "image"``: D_l sees up(x_{l-1}) + h, the image, next to up(x_{l-1}); Denton et al.
add the low-pass image to the residual before D's first layer).
Training conditions every level on the *real* coarser image (the levels are independent GANs, as in
the paper), so one ``step()`` updates all levels at once: one D loss and one G loss, each the sum
over levels (the levels share no weights, so the sum trains each as if alone). Sampling composes
coarse to fine: x_0 = G_0(z), x_l = up(x_{l-1}) + G_l(z, up(x_{l-1})), clamped to [-1, 1].

API for the window (everything the plain Trainer has, plus):

- ``level_sizes``: [s_0, ..., s_L].
- ``generate(z)``: the final (summed) image at data.image_size; snapshots and the grid show it.
- ``render_levels(z)``: the composed image of every level, coarse to fine (the last is ``generate``).
- ``render_residuals(z)``: the residual G_l drew for each finer level (levels 1..L).
- ``level_grid(z)``: (images, ncols, titles): per z one row of [x_0, h_1, x_1, ..., h_L, x_L], all at
  data.image_size (nearest-neighbour enlarged, residuals amplified by RESIDUAL_GAIN around grey), for
  a grid browser tab or a picture; tile it ``ncols`` to a row.
- ``evaluate()``: the image metrics of the final image, plus per level l: ``lap{l}_d_acc`` (D_l's
  accuracy telling real from generated inputs at its decision threshold, 0.5 = chance; residuals for
  l >= 1), ``lap{l}_d_auc`` (P(D_l(real) > D_l(fake)), threshold-free, 0.5 = chance), and for l >= 1
  ``lap{l}_res_real`` / ``lap{l}_res_fake`` (mean |residual| of real images and of G_l's).

Networks: small convolutional nets that work at 4 to 64 px (DCGAN's layers start at 16 px). model.ngf
and model.ndf are the finest level's widths, doubled at each coarser level (``level_widths``: the
levels then cost about the same; ``lapgan.ngf0`` / ``lapgan.ndf0`` set level 0's apart); model.arch
is not used. Ds have no batch norm; real and fake go through them in separate passes (level 0's D
adds the minibatch standard deviation). Losses: all but wgan-gp; tricks: label_smoothing, g_ema (every
level's G averaged for sampling: pictures, level statistics and metrics) and
two_time_scale.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gan_studio.core.config import Config, opt
from gan_studio.core.errors import ConfigError
from gan_studio.core.families.registry import register_family
from gan_studio.core.family_spec import FamilySpec, Grid, Plot
from gan_studio.core.nets.dcgan import init_weights
from gan_studio.core.training import losses
from gan_studio.core.training.trainer import StepMetrics, Trainer

#: residuals are small; the level grid shows 0.5 + RESIDUAL_GAIN * h / 2 so their detail is visible
RESIDUAL_GAIN = 3.0
N_EVAL_LEVELS = 500
#: latents (one per row) of the pyramid the window's grid shows
LEVEL_ROWS = 8


@dataclass
class LapganConfig:
    """LAPGAN (Denton et al. 2015): a Laplacian pyramid of GANs, coarse to fine."""
    base_size: int = opt(8, "side of the coarsest level, drawn from noise", choices=(4, 8, 16))
    # bounded as model.ngf's widest level is (1024 doubled three times): a run's config.json or
    # checkpoint naming 10**9 is refused by the config check, never built into a network of many GB
    ngf0: int = opt(0, "level 0's G width (0: model.ngf doubled at each coarser level)", lo=0, hi=8192)
    ndf0: int = opt(0, "level 0's D width (0: model.ndf doubled at each coarser level)", lo=0, hi=8192)
    d_input: str = opt("residual", "what D_l (l >= 1) judges next to the blown-up coarser image: the residual, or "
                                   "the image (coarse + residual, as Denton et al. add them before D's first layer)",
                       choices=("residual", "image"))
    base_steps: int = opt(1, "updates of level 0's D and G per training step (level 0 is the cheapest level and "
                             "every finer level builds on its samples)", lo=1, hi=16)
    noise_plane: str = opt("learned", "how a finer level's G gets z: as one input plane, a learned linear map of z "
                                      "(it can learn patterns that span the picture), a fixed random one "
                                      "(unit variance per pixel, not trained: noise as Denton et al. feed it, "
                                      "and still a function of z), or none (the plane is zero: the residual is "
                                      "a function of the coarser image alone)", choices=("learned", "fixed", "none"))
    r1: float = opt(0.0, "weight gamma of the R1 penalty (Mescheder et al. 2018: gamma/2 E|grad D_l(real)|^2, the "
                         "gradient in what D_l judges) on the finer levels' Ds; 0 = off (Denton et al.)", lo=0.0, hi=1e4)


FAMILY = FamilySpec(
    name="lapgan", summary="LAPGAN", section=LapganConfig, live=(),
    tricks=("label_smoothing", "two_time_scale", "g_ema"), losses=tuple(l for l in losses.D_LOSS if l != "wgan-gp"),
    plot=Plot("Level D AUC (0.5: G fools D)", tuple((f"lap{l}_d_auc", f"level {l}") for l in range(4))),
    grid=Grid(rows="levels", per_row=0), capabilities={"levels"})


# -- the pyramid -------------------------------------------------------------------------------------
def down(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2)


def up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def base_image(x: torch.Tensor, levels: int) -> torch.Tensor:
    """The coarsest level of ``x``'s pyramid (``laplacian_pyramid(x, levels)[0][0]``) without the
    finer levels' residuals."""
    for _ in range(levels - 1):
        x = down(x)
    return x


def laplacian_pyramid(x: torch.Tensor, levels: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(images, residuals): images[l] is x at level l (coarse to fine, images[-1] is x);
    residuals[l] = images[l] - up(images[l-1]) for l >= 1 (residuals[0] is None)."""
    images = [x]
    for _ in range(levels - 1):
        images.insert(0, down(images[0]))
    residuals = [None] + [images[l] - up(images[l - 1]) for l in range(1, levels)]
    return images, residuals


def reconstruct(base: torch.Tensor, residuals: list[torch.Tensor | None]) -> torch.Tensor:
    """x_L from x_0 and the residuals: x_l = up(x_{l-1}) + h_l."""
    x = base
    for h in residuals[1:]:
        x = up(x) + h
    return x


# -- networks ----------------------------------------------------------------------------------------
def _down_convs(c_in: int, ndf: int, size: int) -> tuple[nn.Sequential, int]:
    """Strided 4x4 convolutions (LeakyReLU 0.2, no norm) from size down to 4 x 4; (body, channels)."""
    layers: list[nn.Module] = []
    ch, side = c_in, size
    if side <= 4:  # a 4 px level: one unstrided layer
        layers += [nn.Conv2d(ch, ndf, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True)]
        ch = ndf
    mult = 1
    while side > 4:
        layers += [nn.Conv2d(ch, ndf * mult, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        ch, side = ndf * mult, side // 2
        mult = min(mult * 2, 4)
        # state: ch x side x side
    return nn.Sequential(*layers), ch


class BaseGenerator(nn.Module):
    """Level 0: z (N, nz) -> x_0 (N, C, s_0, s_0) in [-1, 1]."""

    def __init__(self, nz: int, ngf: int, nc: int, size: int):
        super().__init__()
        self.ch = ngf * 2
        self.fc = nn.Sequential(nn.Linear(nz, self.ch * 16), nn.BatchNorm1d(self.ch * 16), nn.ReLU(True))
        layers: list[nn.Module] = []
        ch, side = self.ch, 4
        # state: (ngf*2) x 4 x 4
        while side < size:
            layers += [nn.ConvTranspose2d(ch, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True)]
            ch, side = ngf, side * 2
            # state: ngf x side x side
        layers += [nn.Conv2d(ch, nc, 3, 1, 1), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(self.fc(z).view(len(z), self.ch, 4, 4))


class ResidualGenerator(nn.Module):
    """Level l >= 1: (z, up(x_{l-1}) (N, C, s, s)) -> residual h_l (N, C, s, s).

    The noise enters as one extra input plane, a learned linear map of z (Denton et al. also feed
    noise as an extra channel); three 3x3 convolutions keep the map local, as a residual is."""

    def __init__(self, nz: int, ngf: int, nc: int, size: int, noise_plane: str = "learned"):
        super().__init__()
        self.size = size
        self.noise = nn.Linear(nz, size * size)
        self.main = nn.Sequential(
            # input: (C + 1) x s x s
            nn.Conv2d(nc + 1, ngf, 3, 1, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.Conv2d(ngf, ngf, 3, 1, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            # state: ngf x s x s
            nn.Conv2d(ngf, nc, 3, 1, 1),
            # state: C x s x s, unbounded: a residual is a signed difference
        )
        self.apply(init_weights)
        # the level starts as "add nothing" (the blurred coarse image) and learns to add edges, instead
        # of starting with residual noise several times the size of real residuals
        nn.init.zeros_(self.main[-1].weight)
        if noise_plane in ("fixed", "none"):   # not trained: N(0, 1) per pixel for z ~ N(0, I), or zero
            with torch.no_grad():
                self.noise.weight.normal_(0.0, nz ** -0.5) if noise_plane == "fixed" else self.noise.weight.zero_()
                self.noise.bias.zero_()
            self.noise.requires_grad_(False)

    def forward(self, z: torch.Tensor, coarse_up: torch.Tensor) -> torch.Tensor:
        plane = self.noise(z).view(len(z), 1, self.size, self.size)
        return self.main(torch.cat([coarse_up, plane], 1))


class LevelDiscriminator(nn.Module):
    """D_l: (residual, up(x_{l-1})) -> logit (N,); level 0: (x_0, None) -> logit.

    Level 0's D (unconditional, from noise) also sees the minibatch standard deviation of its last
    features as one more 4 x 4 plane (Karras et al. 2018): without it, level 0 drew one colour at a
    time and hopped between colours (lapgan-shapes, 2,000 steps). Real and fake batches then need
    separate passes, which ``step`` makes for every level."""

    def __init__(self, ndf: int, nc: int, size: int, conditional: bool, sees: str = "residual"):
        super().__init__()
        self.conditional = conditional
        #: "residual": D sees (h, coarse); "image": (coarse + h, coarse), Denton et al.'s sum
        self.sees = sees
        self.minibatch_std = not conditional
        self.body, ch = _down_convs(nc * (2 if conditional else 1), ndf, size)
        self.head = nn.Linear((ch + self.minibatch_std) * 16, 1)
        self.apply(init_weights)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditional:
            x = torch.cat([cond + x if self.sees == "image" else x, cond], 1)
        h = self.body(x)                                        # (N, ch, 4, 4)
        if self.minibatch_std:
            sd = h.std(0, unbiased=False).mean() if len(h) > 1 else h.new_zeros(())
            h = torch.cat([h, sd.expand(len(h), 1, 4, 4)], 1)
        return self.head(h.flatten(1)).squeeze(1)


class LaplacianGenerator(nn.Module):
    """All levels' generators; ``forward(z)`` composes them coarse to fine into the final image."""

    def __init__(self, nz: int, ngf: int, nc: int, sizes: list[int], ngf0: int = 0, noise_plane: str = "learned"):
        super().__init__()
        self.sizes = list(sizes)
        w = level_widths(ngf, len(sizes), ngf0)
        self.levels = nn.ModuleList([BaseGenerator(nz, w[0], nc, sizes[0])] +
                                    [ResidualGenerator(nz, w[l], nc, s, noise_plane)
                                     for l, s in enumerate(sizes) if l > 0])

    def compose(self, z: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
        """(images, residuals) of every level, coarse to fine."""
        x = self.levels[0](z)
        images, residuals = [x], [None]
        for g in self.levels[1:]:
            cond = up(x)
            h = g(z, cond)
            x = (cond + h).clamp(-1, 1)
            images.append(x)
            residuals.append(h)
        return images, residuals

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.compose(z)[0][-1]


def level_widths(width: int, levels: int, width0: int = 0) -> list[int]:
    """Feature maps per level: ``width`` at the finest, doubling towards the coarsest, so every level
    costs about the same (a level has 4x the pixels of the one below it); ``width0`` > 0 sets level 0's."""
    w = [width * 2 ** (levels - 1 - l) for l in range(levels)]
    return [width0 or w[0]] + w[1:]


def pyramid_sizes(base: int, image_size: int) -> list[int]:
    if base >= image_size:
        raise ConfigError(f"lapgan.base_size = {base} must be smaller than data.image_size = {image_size}; "
                          f"choose a base_size below it (allowed: 4, 8, 16)")
    sizes = [base]
    while sizes[-1] < image_size:
        sizes.append(sizes[-1] * 2)
    if sizes[-1] != image_size:
        raise ConfigError(f"data.image_size = {image_size} is not lapgan.base_size = {base} doubled; "
                          f"use an image size of {', '.join(str(base * 2 ** k) for k in range(1, 4))}")
    return sizes


# -- the trainer -------------------------------------------------------------------------------------
class LapganTrainer(Trainer):
    """The plain Trainer's interface for a Laplacian pyramid of GANs. One Adam over all levels'
    G and one over their Ds: its update is per parameter, so this equals one Adam per level."""

    FAMILY = FAMILY

    def build_networks(self, cfg: Config, data) -> tuple[nn.Module, nn.Module]:
        if data.kind != "image":
            raise ConfigError(f"model.family = 'lapgan' needs an image data set; {cfg.data.name!r} is 2-D")
        c = data.shape[0]
        self.level_sizes = pyramid_sizes(cfg.lapgan.base_size, data.shape[1])
        m = cfg.model
        torch.manual_seed(cfg.train.seed)      # the pyramid's initialisation
        lc = cfg.lapgan
        L = len(self.level_sizes)
        G = LaplacianGenerator(m.latent_dim, m.ngf, c, self.level_sizes, lc.ngf0, lc.noise_plane)
        dw = level_widths(m.ndf, L, lc.ndf0)
        D = nn.ModuleList([LevelDiscriminator(dw[l], c, s, conditional=l > 0, sees=lc.d_input)
                           for l, s in enumerate(self.level_sizes)])
        return G, D

    @property
    def num_levels(self) -> int:
        return len(self.level_sizes)

    # -- what the window shows ---------------------------------------------------------------
    @property
    def grid_nrow(self) -> int:
        return 2 * self.num_levels - 1

    def grid_images(self) -> tuple[torch.Tensor, int, str]:
        """The pyramid of LEVEL_ROWS grid latents, one per row: each level and residual."""
        tiles, ncols, titles = self.level_grid(self.fixed_z[:LEVEL_ROWS])
        return tiles, ncols, "columns: " + " | ".join(titles)

    def plot(self) -> Plot:
        """One D AUC curve per level this pyramid has."""
        return Plot(FAMILY.plot.title, tuple((f"lap{l}_d_auc", f"level {l} ({size} px)")
                                             for l, size in enumerate(self.level_sizes)))

    # -- training ---------------------------------------------------------------------------
    def step(self) -> StepMetrics:
        """For every level at once: D_l updates on real vs generated inputs (d_steps times), then one
        G update of every G_l against the updated D_l; each level conditions on the real coarser image."""
        self.begin_step()
        cfg, t, tk = self.cfg, self.cfg.train, self.tricks
        B, L = t.batch_size, self.num_levels
        d_loss_fn, g_loss_fn = losses.D_LOSS[cfg.loss], losses.G_LOSS[cfg.loss]
        _, _, d_steps = tk.two_time_scale.hyper(self)
        targets = tk.label_smoothing.targets(self)

        for _ in range(cfg.lapgan.base_steps - 1):
            self._base_update(B, d_loss_fn, g_loss_fn, targets)
        for i in range(d_steps):
            images, residuals = laplacian_pyramid(self.data.sample(B, self.rng), L)
            conds = [None] + [up(images[l - 1]) for l in range(1, L)]
            reals = [images[0]] + residuals[1:]            # what D_l sees as real: x_0, then h_l
            zs = [self.sample_z(B) for _ in range(L)]
            with torch.set_grad_enabled(i == d_steps - 1):  # keep G's graph for the G step below
                fakes = [self.G.levels[0](zs[0])] + [self.G.levels[l](zs[l], conds[l]) for l in range(1, L)]
            loss_d, outs = 0.0, []
            gamma = cfg.lapgan.r1
            for l in range(L):
                # separate passes: level 0's D looks at its batch's spread (minibatch std)
                real_l = reals[l].requires_grad_(True) if gamma and l > 0 else reals[l]
                d_real, d_fake = self.D[l](real_l, conds[l]), self.D[l](fakes[l].detach(), conds[l])
                outs.append((d_real, d_fake))
                loss_d = loss_d + d_loss_fn(d_real, d_fake, *targets)
                if gamma and l > 0:   # R1: D_l flat around the real residuals
                    grad, = torch.autograd.grad(d_real.sum(), real_l, create_graph=True)
                    loss_d = loss_d + 0.5 * gamma * grad.pow(2).flatten(1).sum(1).mean()
            grad_norm_d = self.d_backward(loss_d)
            self.opt_d.step()
            self.clip_critic()

        loss_g = sum(g_loss_fn(self.D[l](fakes[l], conds[l])) for l in range(L))
        grad_norm_g = self.g_backward(loss_g)
        self.opt_g.step()
        self.step_count += 1

        dr, df = self.d_means(outs)
        return self.record_metrics(loss_d, loss_g, dr, df, grad_norm_d, grad_norm_g)

    def _base_update(self, B: int, d_loss_fn, g_loss_fn, targets) -> None:
        """One extra update of level 0 alone (``lapgan.base_steps``): D_0 on a fresh real batch
        against G_0's samples, then G_0 against the updated D_0. The other levels get no gradient,
        so Adam leaves them (and their moments) as they are."""
        x0 = base_image(self.data.sample(B, self.rng), self.num_levels)
        fake0 = self.G.levels[0](self.sample_z(B))
        self.d_backward(d_loss_fn(self.D[0](x0), self.D[0](fake0.detach()), *targets))
        self.opt_d.step()
        self.clip_critic()
        self.g_backward(g_loss_fn(self.D[0](fake0)))
        self.opt_g.step()

    # -- sampling ---------------------------------------------------------------------------
    @torch.no_grad()
    def _compose(self, z: torch.Tensor):
        """G's levels with batch norm's running statistics: one picture per z, whatever the batch
        (a grid of 64 and a strip of 2 show the same z alike)."""
        self.G.eval()
        try:
            with self.tricks.g_ema.averaged(self):   # G's moving average, with tricks.g_ema on
                return self.G.compose(z.to(self.device, torch.float32))
        finally:
            self.G.train()

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """The final (summed) image for latents z."""
        if len(z) == 0:
            return torch.empty(0, *self.data.shape, device=self.device)
        return torch.cat([self._compose(chunk)[0][-1] for chunk in z.split(4096)])

    def render_levels(self, z: torch.Tensor) -> list[torch.Tensor]:
        """Each level's composed image for latents z, coarse (s_0) to fine (the final image)."""
        return self._compose(z)[0]

    def render_residuals(self, z: torch.Tensor) -> list[torch.Tensor]:
        """The residual G_l drew at each finer level l = 1..L for latents z."""
        return self._compose(z)[1][1:]

    @torch.no_grad()
    def level_grid(self, z: torch.Tensor) -> tuple[torch.Tensor, int, list[str]]:
        """(tiles (N * (2L + 1), C, S, S) in [-1, 1], ncols, column titles): per latent one row
        x_0 | h_1 | x_1 | ... | h_L | x_L at the final size; residuals amplified around grey."""
        images, residuals = self._compose(z)
        S = self.level_sizes[-1]

        def big(x):
            return F.interpolate(x, size=(S, S), mode="nearest")

        cols, titles = [big(images[0])], [f"level 0 ({self.level_sizes[0]} px)"]
        for l in range(1, self.num_levels):
            cols += [big((RESIDUAL_GAIN * residuals[l]).clamp(-1, 1)), big(images[l])]
            titles += [f"residual {l} (x{RESIDUAL_GAIN:g})", f"level {l} ({self.level_sizes[l]} px)"]
        tiles = torch.stack(cols, 1).flatten(0, 1)
        return tiles, len(cols), titles

    # -- evaluation -------------------------------------------------------------------------
    @torch.no_grad()
    def level_stats(self, n: int = N_EVAL_LEVELS, sampling: bool = False, live: bool = False) -> dict[str, float]:
        """Per level: D_l's accuracy on real vs generated inputs; mean |residual| of real and generated.
        G's batch norm uses the batch's own statistics, as in training, or with ``sampling`` its
        running statistics, as when sampling; either way the running statistics stay as they were
        (measuring never changes what G draws). G is the one that samples (its moving average with
        tricks.g_ema on), or with ``live`` the live G, the one D_l is trained against."""
        g = self.eval_generator(salt=11)
        L = self.num_levels
        images, residuals = laplacian_pyramid(self.data.sample(n, g), L)
        out: dict[str, float] = {}
        kept = [(buf, buf.clone()) for buf in self.G.buffers()]
        if sampling:
            self.G.eval()
        try:
            with contextlib.nullcontext() if live else self.tricks.g_ema.averaged(self):
                self._level_stats(images, residuals, g, out)   # (averaged: the G that samples)
        finally:
            self.G.train()
            for buf, value in kept:
                buf.copy_(value)
        return out

    def _level_stats(self, images, residuals, g, out: dict[str, float]) -> None:
        n, L = len(images[0]), self.num_levels
        for l in range(L):
            z = torch.randn(n, self.cfg.model.latent_dim, generator=g, device=self.device)
            if l == 0:
                real, fake, cond = images[0], self.G.levels[0](z), None
            else:
                cond = up(images[l - 1])
                real, fake = residuals[l], self.G.levels[l](z, cond)
                out[f"lap{l}_res_real"] = round(float(real.abs().mean()), 5)
                out[f"lap{l}_res_fake"] = round(float(fake.abs().mean()), 5)
            d_real, d_fake = self.D[l](real, cond), self.D[l](fake, cond)
            out[f"lap{l}_d_acc"] = round(d_accuracy(d_real, d_fake, self.cfg.loss), 4)
            out[f"lap{l}_d_auc"] = round(d_auc(d_real, d_fake), 4)

    def evaluate(self, n: int = 2500) -> dict[str, Any]:
        """The plain image metrics of the final image, plus the per-level statistics."""
        out = super().evaluate(n)
        out.update(self.level_stats())
        return out


def d_accuracy(d_real: torch.Tensor, d_fake: torch.Tensor, loss: str) -> float:
    """Share of inputs D puts on the right side of its decision threshold, real and fake weighted
    equally (0.5 = chance). Threshold: logit 0 (probabilistic, hinge), 0.5 (least squares: targets
    1 and 0), the midpoint of the two means (Wasserstein: a critic has no fixed threshold)."""
    if loss == "least-squares":
        thr = 0.5
    elif loss == "wgan":
        thr = float(d_real.mean() + d_fake.mean()) / 2
    else:
        thr = 0.0
    return 0.5 * float((d_real > thr).float().mean()) + 0.5 * float((d_fake < thr).float().mean())


def d_auc(d_real: torch.Tensor, d_fake: torch.Tensor) -> float:
    """P(D(real) > D(fake)) over all real-fake pairs (ties count 1/2): how well D's outputs separate
    the two, whatever its threshold (0.5 = chance, 1 = every real above every fake)."""
    diff = d_real[:, None] - d_fake[None, :]
    return float((diff > 0).float().mean() + 0.5 * (diff == 0).float().mean())


register_family(LapganTrainer)
