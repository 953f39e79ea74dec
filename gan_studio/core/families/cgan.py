"""Conditional GAN (Mirza & Osindero 2014): G and D both see the class label y.

    G(z, y) = G([z, e_G(y)])           e: a learned embedding of y (cgan.embed_dim)
    D(x, y) = D([x, e_D(y)])           cgan.d_condition = input: e_D(y) as extra input channels
                                       (one value per map; the MLP D always does this, beside x)
    D(x, y) = h(f(x)) + <e_D(y), f(x)> cgan.d_condition = projection (DCGAN D; the presets' choice)
    D minimises  loss(D(x, y), D(G(z, y')))     (x, y) from the data, y' uniform over the classes
    G minimises  loss(D(G(z, y'), y'))

Labels are the data set's ``labels`` (digits: the digit; shapes: the 12 colour+shape pairs;
MNIST, Fashion-MNIST, CIFAR-10, a class folder: the class). A set without labels (2-D toys, a flat
folder) is refused with a ConfigError.

API for the window and the latent lab (everything the plain Trainer has, plus):

- ``class_names`` (list[str]) and ``num_classes``: the labels G understands. Checkpoints keep the
  names (``extra.class_names``), so a run whose pictures moved still draws a class by name
  (``gan-studio sample DIR --label cats``); one saved before they were kept names its classes by
  index there, which ``class_names_note`` says ("" otherwise).
- ``fixed_z`` (K * GRID_PER_CLASS, latent) and ``fixed_labels``: the grid latents, class-major,
  ``GRID_PER_CLASS`` (8) per class, so ``generate(fixed_z)`` tiled 8 to a row has one row per
  class (``grid_nrow``). The same z column is repeated in every row: a column shows one style
  in every class.
- ``generate(z, labels=None)``: G(z, y). ``labels`` is an int, a sequence or a tensor of class
  indices (one per z, or one for all: holds the label fixed); None gives balanced class-major
  labels ``default_labels(len(z))``, so K * m latents tiled m to a row show one row per class
  (``gan-studio sample DIR --n 100`` on digits: row k is digit k; ``--label 7``: all sevens).
- ``evaluate()``: the plain image metrics plus ``cond_accuracy``, the share of generated images
  the data set's metric classifier assigns to the label they were drawn for (chance: 1/K).

Tricks: label_smoothing, instance_noise and two_time_scale work as in the plain GAN; the other
tricks need the plain family's MLP networks or its unlabelled batches and are refused (the
declaration below). Losses: all but wgan-gp (its penalty would need D(x, y) at interpolates
between images of different labels).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gan_studio.core.config import Config, opt
from gan_studio.core.data.images import to_float
from gan_studio.core.errors import CheckpointError, ConfigError
from gan_studio.core.families.registry import labelled_classes, register_family
from gan_studio.core.family_spec import FamilySpec, Grid, Plot
from gan_studio.core.training import losses
from gan_studio.core.training.trainer import StepMetrics, Trainer

GRID_PER_CLASS = 8
#: the most class names a checkpoint may hold, and the longest name (a folder's name: 255 bytes at most)
MAX_CLASSES = 65_536
MAX_CLASS_NAME = 255


@dataclass
class CganConfig:
    """Conditional GAN (Mirza & Osindero): G and D both see the class label."""
    embed_dim: int = opt(16, "size of the learned label embedding fed to G and D", lo=1, hi=1024)
    d_condition: str = opt("input", "how the DCGAN D sees the label: input (its embedding as extra input "
                           "channels, Mirza & Osindero) or projection (<e(y), features>, Miyato & Koyama)",
                           choices=("input", "projection"))


FAMILY = FamilySpec(
    name="cgan", summary="conditional GAN", section=CganConfig, live=(),
    tricks=("label_smoothing", "instance_noise", "two_time_scale"),
    losses=tuple(l for l in losses.D_LOSS if l != "wgan-gp"), archs=("dcgan", "mlp"),
    plot=Plot("Conditional accuracy (chance 1/K)", (("cond_accuracy", "classified as its label"),)),
    grid=Grid(rows="classes", per_row=GRID_PER_CLASS), capabilities={"conditioned", "labels"})


# -- networks ---------------------------------------------------------------------------------------
class CondGenerator(nn.Module):
    """(z (N, nz), y (N,)) -> images: the plain generator fed [z, e(y)]."""

    def __init__(self, base: nn.Module, num_classes: int, embed_dim: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.base = base

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.base(torch.cat([z.flatten(1), self.embed(y)], 1))


class CondConvDiscriminator(nn.Module):
    """(x (N, C, S, S), y) -> logit (N,) from a DCGAN D.

    ``input``: D sees C + e channels, the label's embedding broadcast to every pixel (Mirza &
    Osindero concatenate y to D's input). ``projection`` (Miyato & Koyama 2018): D sees the image
    alone and its logit gains <e(y), f(x)>, the inner product of a per-class vector with D's features.
    """

    def __init__(self, base: nn.Module, num_classes: int, embed_dim: int, mode: str = "input"):
        super().__init__()
        self.mode = mode
        self.embed = nn.Embedding(num_classes, base.feature_dim if mode == "projection" else embed_dim)
        if mode == "projection":
            nn.init.normal_(self.embed.weight, 0.0, 0.02)
        self.base = base

    def _input(self, x, y):
        if self.mode == "projection":
            return x
        e = self.embed(y)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return torch.cat([x, e], 1)

    def features(self, x, y):
        return self.base.features(self._input(x, y))

    def forward(self, x, y):
        f = self.features(x, y)
        out = self.base.head(f).squeeze(1)
        if self.mode == "projection":
            out = out + (self.embed(y) * f).sum(1)
        return out


class CondMLPDiscriminator(nn.Module):
    """(x, y) -> logit (N,): an MLP D over [flatten(x), e(y)]."""

    def __init__(self, base: nn.Module, num_classes: int, embed_dim: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.base = base

    def features(self, x, y):
        return self.base.features(torch.cat([x.flatten(1), self.embed(y)], 1))

    def forward(self, x, y):
        return self.base(torch.cat([x.flatten(1), self.embed(y)], 1))


def build_conditional(cfg: Config, data, num_classes: int) -> tuple[nn.Module, nn.Module]:
    m, e, fused = cfg.model, cfg.cgan.embed_dim, cfg.train.fast_paths
    c, size = data.shape[0], data.shape[1]
    if m.arch == "dcgan":
        from gan_studio.core.nets.dcgan import DCGANDiscriminator, DCGANGenerator
        g = DCGANGenerator(m.latent_dim + e, m.ngf, c, size, upsample=m.g_upsample)
        mode = cfg.cgan.d_condition
        d = DCGANDiscriminator(m.ndf, c + (e if mode == "input" else 0), size, norm=m.d_norm)
        return CondGenerator(g, num_classes, e), CondConvDiscriminator(d, num_classes, e, mode)
    if m.arch == "mlp":
        from gan_studio.core.nets.mlp import MLPDiscriminator, MLPGenerator
        g = MLPGenerator(m.latent_dim + e, data.shape, m.g_depth, m.g_width, m.g_activation, tanh_out=True,
                         fused=fused)
        in_dim = int(torch.tensor(data.shape).prod())
        d = MLPDiscriminator((in_dim + e,), m.d_depth, m.d_width, m.d_activation, fused=fused)
        return CondGenerator(g, num_classes, e), CondMLPDiscriminator(d, num_classes, e)
    raise ConfigError(f"model.arch = {m.arch!r} does not fit model.family = 'cgan'; choose one of: dcgan, mlp")


# -- the trainer ------------------------------------------------------------------------------------
class ConditionalTrainer(Trainer):
    """The plain Trainer's interface (step, evaluate, commands, checkpoints) for a label-conditioned G, D."""

    FAMILY = FAMILY

    def __init__(self, cfg: Config, device=None, data=None):
        super().__init__(cfg, device=device, data=data)
        self.fixed_labels = self.default_labels(len(self.fixed_z))

    def build_networks(self, cfg: Config, data) -> tuple[nn.Module, nn.Module]:
        if getattr(data, "labels", None) is None and getattr(data, "class_names", None):
            # the stand-in for pictures that moved, with the classes the run saved: drawing only
            self.labels, self.class_names = None, list(data.class_names)
        else:
            self.labels, self.class_names = labelled_classes(data, "cgan")
        self.num_classes = len(self.class_names)
        self.class_names_note = ""
        torch.manual_seed(cfg.train.seed)      # the conditional networks' initialisation
        return build_conditional(cfg, data, self.num_classes)

    def grid_latents(self) -> torch.Tensor:
        """GRID_PER_CLASS columns of z, repeated in every class row."""
        g = torch.Generator().manual_seed(self.cfg.train.seed + 1)
        z = torch.randn(GRID_PER_CLASS, self.cfg.model.latent_dim, generator=g)
        return z.repeat(self.num_classes, 1)

    @property
    def grid_row_names(self) -> list[str]:
        return [str(c) for c in self.class_names]

    # -- labels -----------------------------------------------------------------------------
    def default_labels(self, n: int) -> torch.Tensor:
        """Balanced class-major labels: sample i gets class floor(i * K / n)."""
        return (torch.arange(n, device=self.device) * self.num_classes // max(n, 1)).long()

    def _labels_for(self, n: int, labels) -> torch.Tensor:
        if labels is None:
            return self.default_labels(n)
        y = torch.as_tensor(labels, device=self.device).long().reshape(-1)
        if y.numel() == 1:
            y = y.expand(n)
        if y.numel() != n:
            raise ConfigError(f"labels: got {y.numel()} labels for {n} latents; give one, or one per latent")
        if n and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise ConfigError(f"labels: class {int(y.max()) if int(y.max()) >= self.num_classes else int(y.min())} "
                              f"is out of range; allowed 0..{self.num_classes - 1} ({', '.join(self.class_names)})")
        return y

    def sample_labelled(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n real images with their labels (the same RNG draws as ``data.sample``)."""
        if self.labels is None:   # built without its pictures: the stand-in says why there are none
            self.data.sample(n, self.rng)
        idx = torch.randint(len(self.data.pixels), (n,), generator=self.rng, device=self.device)
        return to_float(self.data.pixels[idx]), self.labels[idx]

    def sample_y(self, n: int) -> torch.Tensor:
        return torch.randint(self.num_classes, (n,), generator=self.rng, device=self.device)

    # -- training ---------------------------------------------------------------------------
    def step(self) -> StepMetrics:
        """D updates on (x, y) real and (G(z, y'), y') fake, then one G update on the last fake batch."""
        self.begin_step()
        cfg, t, tk = self.cfg, self.cfg.train, self.tricks
        B = t.batch_size
        d_loss_fn, g_loss_fn = losses.D_LOSS[cfg.loss], losses.G_LOSS[cfg.loss]
        _, _, d_steps = tk.two_time_scale.hyper(self)
        targets = tk.label_smoothing.targets(self)
        sigma = tk.instance_noise.sigma(self)
        noisy = tk.instance_noise.add

        # --- D: minimise d_loss(D(x, y), D(G(z, y'), y')) ---
        for i in range(d_steps):
            real, y_real = self.sample_labelled(B)
            z, y_fake = self.sample_z(B), self.sample_y(B)
            last = i == d_steps - 1
            if last:
                fake = self.G(z, y_fake)  # keep G's graph for the G step below
                fake_d = fake.detach()
            else:
                with torch.no_grad():
                    fake_d = self.G(z, y_fake)
            # separate passes: the DCGAN D's batch norm must not mix real and fake statistics
            d_real = self.D(noisy(self, real, sigma), y_real)
            d_fake = self.D(noisy(self, fake_d, sigma), y_fake)
            loss_d = d_loss_fn(d_real, d_fake, *targets)
            grad_norm_d = self.d_backward(loss_d)
            self.opt_d.step()
            self.clip_critic()

        # --- G: minimise g_loss(D(G(z, y'), y')) against the updated D ---
        loss_g = g_loss_fn(self.D(noisy(self, fake, sigma), y_fake))
        grad_norm_g = self.g_backward(loss_g)
        self.opt_g.step()
        self.step_count += 1
        tk.instance_noise.after_step(self)

        dr, df = self.d_means([(d_real, d_fake)])
        return self.record_metrics(loss_d, loss_g, dr, df, grad_norm_d, grad_norm_g)

    # -- sampling and evaluation --------------------------------------------------------------
    @torch.no_grad()
    def generate(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        """G(z, y) for given latents; ``labels``: None (balanced, class-major), one class for all, or one per z."""
        z = z.to(self.device, torch.float32)
        y = self._labels_for(len(z), labels)
        out = [self.G(zc, yc) for zc, yc in zip(z.split(4096), y.split(4096))]
        return torch.cat(out) if out else torch.empty(0, *self.data.shape, device=self.device)

    def evaluate(self, n: int = 2500) -> dict[str, Any]:
        """The plain image metrics of balanced labels, plus ``cond_accuracy`` (chance: 1/K)."""
        from gan_studio.core.metrics.images import N_IMAGE_EVAL, get_metric_model, image_report
        model = get_metric_model(self.data)
        k = min(n, N_IMAGE_EVAL)
        z = torch.randn(k, self.cfg.model.latent_dim, generator=self.eval_generator(), device=self.device)
        y = self.default_labels(k)
        fake = self.generate(z, y)
        out = image_report(model, fake)
        _, probs = model.predict(fake)
        out["cond_accuracy"] = round(float((probs["class"].argmax(1) == y.cpu()).float().mean()), 4)
        return out

    # -- state ------------------------------------------------------------------------------
    def extra_state_dict(self) -> dict:
        return {**super().extra_state_dict(), "class_names": [str(c) for c in self.class_names]}

    def load_state_dict(self, state: dict, copy: bool = False) -> None:
        # damaged names are refused before anything of the state is loaded
        saved = saved_class_names(state, classes_in(state) or self.num_classes)
        super().load_state_dict(state, copy)
        if saved is None and self.labels is None:
            self.class_names_note = (f"the checkpoint holds no class names (it was saved before runs kept them) "
                                     f"and the run's pictures cannot be read: its classes are named by index, "
                                     f"0..{self.num_classes - 1}")

    @classmethod
    def classes_without_data(cls, state: dict) -> list[str] | None:
        """The names the checkpoint saved; for one saved before names were kept, the indices
        "0".."K-1" of the K classes its G's label embedding has rows for (None without one)."""
        classes = classes_in(state)
        if classes is None:
            return None
        saved = saved_class_names(state, classes)
        return saved if saved is not None else [str(k) for k in range(classes)]


def classes_in(state: dict) -> int | None:
    """The number of classes a checkpoint's G draws: the rows of its label embedding (read from the
    tensor's header, never its bytes); None when its G has none."""
    g = state.get("G")
    weight = g.get("embed.weight") if isinstance(g, dict) else None
    if not isinstance(weight, torch.Tensor) or weight.ndim != 2 or not 1 <= weight.shape[0] <= MAX_CLASSES:
        return None
    return int(weight.shape[0])


def saved_class_names(state: dict, classes: int) -> list[str] | None:
    """The class names a checkpoint's ``extra`` holds, checked to be ``classes`` distinct short texts;
    None when it holds none (saved before they were kept). CheckpointError in one line otherwise."""
    extra = state.get("extra")
    names = extra.get("class_names") if isinstance(extra, dict) else None
    if names is None:
        return None
    problem = class_names_problem(names, classes)
    if problem is not None:
        raise CheckpointError(f"the checkpoint's class names are damaged ({problem}): it was damaged or edited")
    return names


def class_names_problem(names, classes: int) -> str | None:
    """What is wrong with saved class names for a G of ``classes`` classes, in a few words; None
    when they fit. Nothing of a bad value is shown whole: it may be anything a file can hold."""
    if not isinstance(names, list):
        return f"not a list of names but {type(names).__name__}"
    if len(names) > MAX_CLASSES:
        return f"{len(names):,} names, more than the {MAX_CLASSES:,} a run may have"
    if len(names) != classes:
        return f"{len(names):,} name{'s' if len(names) != 1 else ''} for the {classes:,} classes its generator draws"
    seen = set()
    for i, name in enumerate(names):
        if not isinstance(name, str):
            return f"name {i} is not text but {type(name).__name__}"
        if not 1 <= len(name) <= MAX_CLASS_NAME:
            return f"name {i} has {len(name):,} characters; a name has 1 to {MAX_CLASS_NAME}"
        if name in seen:
            shown = repr(name) if len(name) <= 40 else repr(name[:37]) + "..."
            return f"name {i}, {shown}, names another class too"
        seen.add(name)
    return None


register_family(ConditionalTrainer)
