"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation between two domains A and B.

The domains are two parts of one image set picked by filters (``data.domain_a``, ``data.domain_b``;
core/data/domains.py): e.g. the circles and the squares of ``shapes``, drawn independently, so no
image has a partner in the other domain; or two sub-folders of a folder of pictures.

    G_AB: A -> B,  G_BA: B -> A          ResNet image-to-image nets (Johnson et al. 2016)
    D_A, D_B                             PatchGANs: a map of logits, each judging one patch
    least-squares adversarial loss       L_D = 1/2 E(D(y) - 1)^2 + 1/2 E D(G(x))^2,  L_G = E(D(G(x)) - 1)^2
    cycle consistency                    L_cyc = E|G_BA(G_AB(a)) - a| + E|G_AB(G_BA(b)) - b|
    identity                             L_idt = E|G_AB(b) - b| + E|G_BA(a) - a|
    G minimises  L_G(D_B, G_AB) + L_G(D_A, G_BA) + lambda L_cyc + lambda_identity * lambda * L_idt
    D_B sees real b against fakes drawn from an image pool of past G_AB(a) (50; Shrivastava et al.
    2017): while the pool fills, each new fake is stored and shown; then, with probability 1/2, a
    new fake replaces a random stored one, which D sees instead.

Each step is the paper's: one update of both generators (one Adam), then one of both Ds (one Adam:
Adam is per parameter, so this equals the paper's two), with D's loss halved as in the paper. The
L_G above is the paper's MSE(D(G(x)), 1), twice the studio's ``g_least_squares``; the weights lambda
are relative to it.

API for the window and the CLI (everything the plain Trainer has, plus capability "translation"):

- ``domain_names``: (A's filter, B's filter); ``real_images(domain, n)``: n real images of domain
  "a" or "b" (held out from training on shapes; the first of the domain otherwise), in [-1, 1];
- ``translate(x, direction)``: (translation, reconstruction) for images x (N, C, S, S) in [-1, 1] of
  data.shape, direction "a2b" or "b2a"; another size is a one-line ConfigError;
- ``evaluate()``: on shapes, per direction the share of translations that the shapes classifiers
  call right: every attribute that all images of the target domain share (the shape) is the target
  domain's, every other one (colour, size, position) the input's own: ``a2b_right``, ``b2a_right``,
  and per attribute ``a2b_<attribute>``; for every set, the cycle reconstruction error
  ``a2b_cycle_l1`` (mean |G_BA(G_AB(a)) - a|, pixels in [0, 1]) and ``b2a_cycle_l1``.
- the grid: 8 real images of A, their translations and reconstructions, then the same for B, one
  row each. CycleGAN draws nothing from noise: its "latents" ``fixed_z`` are (row, image) codes of
  that grid, and ``generate`` refuses any other z with one line (use translate).

Networks: model.ngf and model.ndf are the widths (model.arch and model.latent_dim are not used);
instance norm without learned scale, as the paper's code. Loss: least-squares; no tricks.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
from torch import nn

from gan_studio.core.config import Config, opt
from gan_studio.core.data.domains import split_domains
from gan_studio.core.data.images import make_shapes, to_float
from gan_studio.core.errors import CheckpointError, ConfigError
from gan_studio.core.families.registry import register_family
from gan_studio.core.family_spec import FamilySpec, Grid, Plot
from gan_studio.core.nets.dcgan import init_weights
from gan_studio.core.training.trainer import StepMetrics, Trainer, load_generator_state

DIRECTIONS = {"a2b": ("a", "b"), "b2a": ("b", "a")}
#: real images per domain the evaluation translates
N_EVAL = 500
#: shapes drawn (with another seed than the training set's) for the held-out images of each domain
HELDOUT_SHAPES, HELDOUT_SEED = 6000, 1
#: real images per domain in the grid (one row each: input, translation, reconstruction)
GRID_IMAGES = 8
GRID_ROW_NAMES = ("A", "A -> B", "A -> B -> A", "B", "B -> A", "B -> A -> B")


@dataclass
class CycleganConfig:
    """CycleGAN (Zhu et al. 2017): unpaired translation between data.domain_a and data.domain_b."""
    lambda_cycle: float = opt(10.0, "lambda: weight of the cycle-consistency L1 |G_BA(G_AB(a)) - a| + "
                              "|G_AB(G_BA(b)) - b| in G's loss (Zhu et al.: 10)", lo=0.0, hi=1000.0)
    lambda_identity: float = opt(0.5, "weight of the identity L1 |G_AB(b) - b| + |G_BA(a) - a|, times lambda "
                                 "(Zhu et al.: 0.5; 0: off)", lo=0.0, hi=100.0)
    pool_size: int = opt(50, "past generated images kept per domain; D sees them in place of half the new "
                         "fakes (Zhu et al.: 50; 0: no pool)", lo=0, hi=10_000)
    res_blocks: int = opt(3, "residual blocks of each generator (Zhu et al.: 6 at 128 px, 9 at 256 px)",
                          lo=0, hi=32)
    downsamplings: int = opt(2, "stride-2 convolutions of each generator before its residual blocks, "
                             "each undone by a transposed one after them (Zhu et al.: 2)", choices=(1, 2, 3))
    d_layers: int = opt(2, "stride-2 convolutions of each PatchGAN D (Zhu et al.'s 70x70 PatchGAN: 3); "
                        "fewer: smaller patches", choices=(1, 2, 3, 4))


FAMILY = FamilySpec(
    name="cyclegan", summary="CycleGAN", section=CycleganConfig, live=("lambda_cycle", "lambda_identity"),
    image_metrics=False,   # evaluate() reports its own numbers only (see its plot)
    tricks=(), losses=("least-squares",),
    plot=Plot("Translations right (shapes classifiers)", (("a2b_right", "A -> B"), ("b2a_right", "B -> A"))),
    grid=Grid(rows="translations", per_row=GRID_IMAGES), capabilities={"translation"})


# -- networks -------------------------------------------------------------------------------------------
class ResnetBlock(nn.Module):
    """x + F(x), F = reflect-pad, 3x3 conv, IN, ReLU, reflect-pad, 3x3 conv, IN."""

    def __init__(self, ch: int):
        super().__init__()
        self.main = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch), nn.ReLU(True),
                                  nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)


class ResnetGenerator(nn.Module):
    """x (N, C, S, S) in [-1, 1] -> y (N, C, S, S) in [-1, 1]; the paper's c7s1-k, d2k, d4k, R4k x
    blocks, u2k, uk, c7s1-C with k = ngf and ``downs`` down/up steps."""

    def __init__(self, nc: int, ngf: int, blocks: int, downs: int):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(nc, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        ch = ngf
        # state: ngf x S x S
        for _ in range(downs):
            layers += [nn.Conv2d(ch, 2 * ch, 3, 2, 1), nn.InstanceNorm2d(2 * ch), nn.ReLU(True)]
            ch *= 2
            # state: ch x S/2^i x S/2^i
        layers += [ResnetBlock(ch) for _ in range(blocks)]
        for _ in range(downs):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(ch // 2),
                       nn.ReLU(True)]
            ch //= 2
        # state: ngf x S x S
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, nc, 7), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class PatchDiscriminator(nn.Module):
    """x (N, C, S, S) -> logits (N, 1, s, s), one per patch: 4x4 convolutions, ``layers`` of them
    strided (the first without norm), one more unstrided, then one to a single channel (pix2pix's
    PatchGAN; the paper's 70x70 one has 3 strided layers)."""

    def __init__(self, nc: int, ndf: int, layers: int):
        super().__init__()
        seq: list[nn.Module] = [nn.Conv2d(nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for _ in range(1, layers):
            seq += [nn.Conv2d(ch, 2 * ch, 4, 2, 1), nn.InstanceNorm2d(2 * ch), nn.LeakyReLU(0.2, True)]
            ch *= 2
            # state: ch x S/2^i x S/2^i
        seq += [nn.Conv2d(ch, 2 * ch, 4, 1, 1), nn.InstanceNorm2d(2 * ch), nn.LeakyReLU(0.2, True),
                nn.Conv2d(2 * ch, 1, 4, 1, 1)]
        # state: 1 x (S/2^layers - 2) x (S/2^layers - 2)
        self.main = nn.Sequential(*seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


def check_sizes(image_size: int, downs: int, d_layers: int) -> None:
    """One-line ConfigErrors for networks that cannot work at ``image_size``."""
    if image_size // 2 ** downs < 2:
        raise ConfigError(f"cyclegan.downsamplings = {downs} leaves less than 2 x 2 pixels of a {image_size} px "
                          f"image; use at most {max(1, (image_size // 2).bit_length() - 1)}")
    if image_size // 2 ** d_layers - 2 < 1:
        most = max(k for k in (1, 2, 3, 4) if image_size // 2 ** k - 2 >= 1) if image_size >= 8 else None
        raise ConfigError(f"cyclegan.d_layers = {d_layers} leaves no patch to judge in a {image_size} px image; "
                          + (f"use at most {most}" if most else "use data.image_size of 8 or more"))


# -- the image pool ---------------------------------------------------------------------------------------
class ImagePool:
    """The history of generated images that D sees (see the module docstring). ``query`` takes a batch
    of new fakes and returns what D judges in their place. Its random draws come from its own
    generator, saved with it, so a resumed run sees the same images."""

    def __init__(self, size: int, device: torch.device, seed: int):
        self.size = size
        self.images: torch.Tensor | None = None   # (size, C, H, W) once the first batch arrives
        self.count = 0
        self.rng = torch.Generator(device=device).manual_seed(seed)
        self.seed = seed
        self.device = device

    @torch.no_grad()
    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        fakes = fakes.detach()
        if self.size == 0:
            return fakes
        if self.images is None:
            self.images = torch.zeros(self.size, *fakes.shape[1:], device=fakes.device)
        n = len(fakes)
        # every call draws the same numbers whatever the pool holds: its state is (images, count, rng)
        swap = torch.rand(n, generator=self.rng, device=self.device) > 0.5
        slot = torch.randint(self.size, (n,), generator=self.rng, device=self.device).tolist()
        out = fakes.clone()
        for i, (s, j) in enumerate(zip(swap.tolist(), slot)):
            if self.count < self.size:      # filling: keep it and show it
                self.images[self.count] = fakes[i]
                self.count += 1
            elif s:                         # show a stored one, keep the new one in its place
                out[i] = self.images[j]
                self.images[j] = fakes[i]
        return out

    def state_dict(self) -> dict:
        held = self.images[:self.count].clone() if self.images is not None else torch.zeros(0)
        return {"images": held, "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict) -> None:
        held = state["images"].to(self.device)
        self.count = min(len(held), self.size)
        self.images = None
        if self.count:
            self.images = torch.zeros(self.size, *held.shape[1:], device=self.device)
            self.images[:self.count] = held[:self.count]
        load_generator_state(self.rng, state["rng"], (self.seed, self.count))   # a GPU's state on the CPU: afresh


def check_pool_sizes(pools, size: int, image_shape: tuple[int, ...]) -> None:
    """CheckpointError in one line when a saved pool (extra.pools) holds more images than the config's
    cyclegan.pool_size or images of another shape than the run's: ImagePool.load_state_dict allocates
    pool_size images of the shape it reads from the file, so a damaged or hostile file naming a
    2048x2048 picture (a few bytes, stored with stride 0) asked for gigabytes before anything compared."""
    for d, p in (pools.items() if isinstance(pools, dict) else ()):
        held = p.get("images") if isinstance(p, dict) else None
        if not isinstance(held, torch.Tensor) or (held.ndim and not len(held)):
            continue   # another structure (refused when loaded) or an empty pool (saved as zeros(0)): nothing built
        if held.ndim != 4 or tuple(held.shape[1:]) != tuple(image_shape):
            said = "x".join(map(str, held.shape[1:])) or "no shape"
            why = f"it holds pictures of {said} where this run's are {'x'.join(map(str, image_shape))}"
        elif len(held) > size:
            why = f"it holds {len(held)} pictures where cyclegan.pool_size = {size}"
        else:
            continue
        raise CheckpointError(f"the checkpoint's image pool of domain {d} does not fit its own config ({why}): "
                              "it was damaged or edited")


def mse_to(x: torch.Tensor, target: float) -> torch.Tensor:
    return ((x - target) ** 2).mean()


# -- the trainer ----------------------------------------------------------------------------------------
class CycleganTrainer(Trainer):
    """The plain Trainer's interface for two generators and two PatchGAN Ds trained by cycle consistency."""

    FAMILY = FAMILY

    def build_networks(self, cfg: Config, data) -> tuple[nn.Module, nn.Module]:
        """The two domains of the set, both generators (``G.a2b``, ``G.b2a``), both Ds (``D.a``, ``D.b``)
        and the image pools."""
        c = cfg.cyclegan
        if data.kind != "image":
            raise ConfigError(f"model.family = 'cyclegan' needs an image set; {cfg.data.name!r} is 2-D")
        if cfg.train.d_steps != 1:
            raise ConfigError(f"train.d_steps = {cfg.train.d_steps}: cyclegan updates each D once per "
                              f"generator update, as Zhu et al.; set 1")
        check_sizes(data.shape[1], c.downsamplings, c.d_layers)
        self.domains = dict(zip("ab", split_domains(data, cfg.data.domain_a, cfg.data.domain_b)))
        self.domain_pixels = {d: data.pixels[dom.index] for d, dom in self.domains.items()}
        m, nc = cfg.model, data.shape[0]
        torch.manual_seed(cfg.train.seed)     # both generators' and both Ds' initialisation
        G = nn.ModuleDict({"a2b": ResnetGenerator(nc, m.ngf, c.res_blocks, c.downsamplings),
                           "b2a": ResnetGenerator(nc, m.ngf, c.res_blocks, c.downsamplings)})
        D = nn.ModuleDict({"a": PatchDiscriminator(nc, m.ndf, c.d_layers),
                           "b": PatchDiscriminator(nc, m.ndf, c.d_layers)})
        G.apply(init_weights)                 # N(0, 0.02), as the paper's code
        D.apply(init_weights)
        # pools of G_BA(b) (judged by D_A) and of G_AB(a) (judged by D_B), each with its own random draws
        self.pools = {d: ImagePool(c.pool_size, self.device, (cfg.train.seed * 1_000_003 + 17 + i) % 2**63)
                      for i, d in enumerate("ab")}
        return G, D

    # -- what the window shows ---------------------------------------------------------------
    @property
    def domain_names(self) -> tuple[str, str]:
        return self.domains["a"].name, self.domains["b"].name

    def grid_latents(self) -> torch.Tensor:
        """The grid's codes: (row, image) for each of its 6 rows of GRID_IMAGES (see generate)."""
        rows = torch.arange(len(GRID_ROW_NAMES)).repeat_interleave(GRID_IMAGES)
        return torch.stack([rows, torch.arange(GRID_IMAGES).repeat(len(GRID_ROW_NAMES))], 1).float()

    @property
    def grid_row_names(self) -> list[str]:
        a, b = self.domain_names
        return [f"{GRID_ROW_NAMES[0]} ({a})", GRID_ROW_NAMES[1], GRID_ROW_NAMES[2], f"{GRID_ROW_NAMES[3]} ({b})",
                GRID_ROW_NAMES[4], GRID_ROW_NAMES[5]]

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """The grid's pictures for (row, image) codes (``fixed_z``): row 0-2 real A, A -> B, A -> B -> A;
        rows 3-5 the same from B. Anything else is refused: CycleGAN translates images, it draws
        nothing from noise."""
        z = torch.as_tensor(z).to(self.device)
        codes = z.round().long() if z.is_floating_point() else z.long()
        if (z.ndim != 2 or z.shape[1] != 2 or not torch.equal(codes.to(z.dtype), z) or len(z) == 0
                or int(codes[:, 0].min()) < 0 or int(codes[:, 0].max()) >= len(GRID_ROW_NAMES)
                or int(codes[:, 1].min()) < 0 or int(codes[:, 1].max()) >= GRID_IMAGES):
            if z.ndim == 2 and len(z) == 0:
                return torch.empty(0, *self.data.shape, device=self.device)
            raise ConfigError("model.family = 'cyclegan' translates images and draws nothing from a latent z: "
                              "use `gan-studio translate RUN --in IMAGE.png --direction a2b --out OUT.png` or the "
                              "window's Image to image panel")
        rows = []
        for d, direction in (("a", "a2b"), ("b", "b2a")):
            x = self.real_images(d, GRID_IMAGES)
            y, rec = self.translate(x, direction)
            rows += [x, y, rec]
        table = torch.stack(rows)            # (6, GRID_IMAGES, C, S, S)
        return table[codes[:, 0], codes[:, 1]]

    def grid_images(self) -> tuple[torch.Tensor, int, str]:
        return self.generate(self.fixed_z), GRID_IMAGES, "rows: " + "; ".join(self.grid_row_names)

    # -- translation -------------------------------------------------------------------------
    @cached_property
    def heldout(self) -> dict[str, tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        """Per domain, (uint8 images, their attributes): real images the networks never trained on
        (shapes drawn with another seed, N_EVAL at most); for other sets, the domain's first N_EVAL."""
        out = {}
        if self.data.name == "shapes":
            from gan_studio.core.data.domains import matches
            other = make_shapes(HELDOUT_SHAPES, self.data.shape[1], seed=HELDOUT_SEED).to(self.device)
            for d, dom in self.domains.items():
                idx = matches(other, dom.terms).nonzero().squeeze(1)[:N_EVAL]
                if len(idx):
                    out[d] = other.pixels[idx], {k: v[idx] for k, v in other.attributes.items()}
        for d, dom in self.domains.items():
            if d not in out:
                idx = dom.index[:N_EVAL]
                out[d] = self.data.pixels[idx], {k: v[idx] for k, v in self.data.attributes.items()}
        return out

    def real_images(self, domain: str, n: int = GRID_IMAGES) -> torch.Tensor:
        """The first n held-out real images of domain "a" or "b" (fewer if it has fewer), in [-1, 1]."""
        if domain not in self.domains:
            raise ConfigError(f"domain = {domain!r}: choose a or b")
        return to_float(self.heldout[domain][0][:max(0, int(n))])

    @torch.no_grad()
    def translate(self, x: torch.Tensor, direction: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(G(x), G'(G(x))) for images x (N, C, S, S) in [-1, 1]: the translation and its
        reconstruction, direction "a2b" (G_AB then G_BA) or "b2a"."""
        if direction not in DIRECTIONS:
            raise ConfigError(f"direction = {direction!r}: choose one of {', '.join(DIRECTIONS)}")
        x = torch.as_tensor(x)
        if x.ndim != 4 or tuple(x.shape[1:]) != tuple(self.data.shape):
            c, s = self.data.shape[0], self.data.shape[1]
            got = "x".join(str(v) for v in x.shape[-2:]) if x.ndim >= 2 else str(tuple(x.shape))
            raise ConfigError(f"this run translates {s}x{s} images with {c} channel(s) (data.image_size = {s}); "
                              f"got {got}{f' with {x.shape[1]} channel(s)' if x.ndim == 4 else ''}")
        x = x.to(self.device, torch.float32)
        fwd, back = self.G[direction], self.G["b2a" if direction == "a2b" else "a2b"]
        ys, recs = [], []
        for part in x.split(1024):   # instance norm: each image alone, whatever its batch
            y = fwd(part)
            ys.append(y)
            recs.append(back(y))
        if not ys:
            empty = torch.empty(0, *self.data.shape, device=self.device)
            return empty, empty.clone()
        return torch.cat(ys), torch.cat(recs)

    # -- training ---------------------------------------------------------------------------
    def sample_domain(self, domain: str, n: int) -> torch.Tensor:
        pixels = self.domain_pixels[domain]
        return to_float(pixels[torch.randint(len(pixels), (n,), generator=self.rng, device=self.device)])

    def step(self) -> StepMetrics:
        """One update of both generators, then one of both Ds on real images against pooled fakes."""
        self.begin_step()
        c, B = self.cfg.cyclegan, self.cfg.train.batch_size
        G, D = self.G, self.D
        real_a, real_b = self.sample_domain("a", B), self.sample_domain("b", B)

        # --- G: adversarial + lambda * cycle + lambda_identity * lambda * identity ---
        # one pass of each generator over its translation input and its identity input: instance norm
        # normalises every image alone, so the joint batch computes what two passes would, at less cost
        idt = c.lambda_identity > 0
        out_ab = G["a2b"](torch.cat([real_a, real_b]) if idt else real_a)    # G_AB(a) | G_AB(b)
        out_ba = G["b2a"](torch.cat([real_b, real_a]) if idt else real_b)    # G_BA(b) | G_BA(a)
        fake_b, fake_a = out_ab[:B], out_ba[:B]
        rec_a, rec_b = G["b2a"](fake_b), G["a2b"](fake_a)
        loss_g = mse_to(D["b"](fake_b), 1.0) + mse_to(D["a"](fake_a), 1.0)
        loss_g = loss_g + c.lambda_cycle * ((rec_a - real_a).abs().mean() + (rec_b - real_b).abs().mean())
        if idt:   # G_AB of a B image should leave it as it is (this keeps the colours)
            loss_g = loss_g + c.lambda_identity * c.lambda_cycle * (
                (out_ab[B:] - real_b).abs().mean() + (out_ba[B:] - real_a).abs().mean())
        grad_norm_g = self.g_backward(loss_g)   # G's parameters only: the Ds get no gradient
        self.opt_g.step()

        # --- D: least squares on real vs the pool's fakes, halved (the paper's D learns at half G's rate) ---
        outs = []
        loss_d = 0.0
        for d, real, fake in (("b", real_b, fake_b), ("a", real_a, fake_a)):
            out = D[d](torch.cat([real, self.pools[d].query(fake)]))   # no batch statistics: one pass
            d_real, d_fake = out[:B], out[B:]
            outs.append((d_real, d_fake))
            loss_d = loss_d + 0.5 * (mse_to(d_real, 1.0) + mse_to(d_fake, 0.0))
        grad_norm_d = self.d_backward(loss_d)
        self.opt_d.step()
        self.step_count += 1

        dr, df = self.d_means(outs)
        return self.record_metrics(loss_d, loss_g, dr, df, grad_norm_d, grad_norm_g)

    # -- evaluation -------------------------------------------------------------------------
    @cached_property
    def target_attributes(self) -> dict[str, dict[str, int]]:
        """Per domain, the attributes every one of its training images shares (what a translation into
        it must show), as value indices; the others a translation keeps from its input."""
        out: dict[str, dict[str, int]] = {}
        for d, dom in self.domains.items():
            out[d] = {}
            for k, v in self.data.attributes.items():
                values = v[dom.index].unique()
                if len(values) == 1:
                    out[d][k] = int(values[0])
        return out

    @torch.no_grad()
    def translation_scores(self, n: int = N_EVAL) -> dict[str, float]:
        """Per direction: the cycle reconstruction error and, on a set with attributes, the share of
        translations the classifiers call right (see the module docstring)."""
        out: dict[str, float] = {}
        model = None
        if self.data.attributes:
            from gan_studio.core.metrics.images import get_metric_model
            with torch.enable_grad():   # the first call trains the classifier
                model = get_metric_model(self.data)
        for direction, (src, dst) in DIRECTIONS.items():
            x = self.real_images(src, n)
            y, rec = self.translate(x, direction)
            out[f"{direction}_cycle_l1"] = round(float((rec - x).abs().mean()) / 2, 5)   # pixels in [0, 1]
            if model is None:
                continue
            _, probs = model.predict(y)
            truth = self.heldout[src][1]
            right = torch.ones(len(x), dtype=torch.bool)
            for k in self.data.attributes:
                want = self.target_attributes[dst].get(k)
                target = truth[k][:len(x)].cpu() if want is None else torch.full((len(x),), want)
                hit = probs[k].argmax(1) == target
                right &= hit
                out[f"{direction}_{k}"] = round(float(hit.float().mean()), 4)
            out[f"{direction}_right"] = round(float(right.float().mean()), 4)
        if model is not None:
            out["classifier_acc"] = round(min(model.accuracy.values()), 4)
        return out

    def evaluate(self, n: int = 2500) -> dict[str, Any]:
        return self.translation_scores(min(n, N_EVAL))

    # -- state ------------------------------------------------------------------------------
    def extra_state_dict(self) -> dict:
        return {**super().extra_state_dict(), "pools": {d: p.state_dict() for d, p in self.pools.items()}}

    def load_state_dict(self, state: dict, copy: bool = False) -> None:
        # the pools' sizes are compared before anything of the state is read, copied or allocated
        check_pool_sizes(state.get("extra", {}).get("pools", {}), self.cfg.cyclegan.pool_size, tuple(self.data.shape))
        super().load_state_dict(state, copy)

    def load_extra_state_dict(self, state: dict) -> None:
        super().load_extra_state_dict(state)
        for d, p in state.get("pools", {}).items():
            self.pools[d].load_state_dict(p)


# -- pictures -------------------------------------------------------------------------------------------
def sheet_png(rows: list[tuple[str, torch.Tensor]], scale: int = 4, title: str = "") -> bytes:
    """A PNG of labelled rows of images in [-1, 1] (N, C, H, W): the label left of each row, every image
    enlarged ``scale`` times (nearest neighbour, pixels kept sharp), 2 px apart; ``title`` above."""
    import io

    import numpy as np
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = 8 + max((probe.textbbox((0, 0), label, font=font)[2] for label, _ in rows), default=0)
    title_h = 18 if title else 0
    pad = 2
    n = max((len(x) for _, x in rows), default=0)
    h, w = (rows[0][1].shape[-2], rows[0][1].shape[-1]) if rows else (0, 0)
    cell_h, cell_w = h * scale + pad, w * scale + pad
    sheet = Image.new("RGB", (label_w + n * cell_w + pad, title_h + len(rows) * cell_h + pad), "white")
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((4, 3), title, fill=(0, 0, 0), font=font)
    for r, (label, x) in enumerate(rows):
        y0 = title_h + pad + r * cell_h
        draw.text((4, y0 + (h * scale - 11) // 2), label, fill=(0, 0, 0), font=font)
        tiles = (x.detach().float().cpu().clamp(-1, 1) * 127.5 + 127.5).round().to(torch.uint8)
        tiles = tiles.expand(-1, 3, -1, -1) if tiles.shape[1] == 1 else tiles
        for i, t in enumerate(tiles.permute(0, 2, 3, 1).numpy()):
            tile = Image.fromarray(np.ascontiguousarray(t)).resize((w * scale, h * scale), Image.NEAREST)
            sheet.paste(tile, (label_w + pad + i * cell_w, y0))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    return buf.getvalue()


register_family(CycleganTrainer)
