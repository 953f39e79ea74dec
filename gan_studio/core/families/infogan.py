"""InfoGAN (Chen et al. 2016): codes in G's input that come to mean something, learned without labels.

G's input is [z, one_hot(c_cat), c_cont]: noise z ~ N(0, I), a categorical code c_cat uniform over
``infogan.categories`` values, and ``infogan.continuous`` codes c_cont uniform in [-1, 1]. A Q head on
D's trunk (the same features as D's logit, then one hidden layer, as in the paper) predicts the codes
of a generated image. The mutual information I(c; G(z, c)) has the lower bound

    L_I = H(c) - E_{c, z} [ -log Q(c | G(z, c)) ]       (Chen et al., Sec. 5)
    -log Q(c_cat | x)  = cross-entropy of Q's K logits
    -log Q(c_cont | x) = Gaussian negative log-likelihood, summed over the codes: variance 1
                         (infogan.cont_variance = fixed) or a log-variance Q predicts (learned)

and, with  info = lambda_cat * CE + lambda_cont * NLL  (= -lambda L_I + const),

    D and Q minimise  loss_D(D(x), D(G(z, c))) + info        (info on the fake batch, G detached)
    G minimises       loss_G(D(G(z, c)))       + info        (through the same Q)

as the paper's code does (Q's weights are D's: one optimiser, one checkpoint entry).

``infogan.q_invariance`` (the studio's addition; "none" is the paper): Q reads the categorical code
from a copy of each fake rolled by a random number of pixels, made colour-blind at a random
brightness and/or zoomed (:func:`see_through`, a second pass through D's trunk; the gradient reaches G through
it), the continuous codes from the fake itself. The category can then carry only what those
transforms leave alone: on shapes, not where the shape is, which colour or how big. It is a prior about what
should count, given without a single label. ``canonical`` is the deterministic form: Q reads a colour- and
brightness-blind copy whose ink is centred and sized to one spread (:func:`canonical_view`, moment
normalisation), from the fake before instance noise; each picture's cross-entropy is weighted by its
ink as a share of a faint real picture's (:meth:`InfoGANTrainer.ink_weight`), the rest counted as
unreadable (log K), since such a view makes an empty picture as readable as a full one.

``infogan.self_condition = q`` (the studio's addition, after Liu et al. 2020's self-conditioned GAN): D's
logit gains a projection term <embed(c), features(x)> (Miyato & Koyama 2018); a fake is judged with the code
it was drawn with, a real picture with the code Q reads in it (:meth:`InfoGANTrainer.real_codes`: argmax,
no gradient, as Q reads a fake). G's pictures of code c must then pass for the real pictures Q puts in c,
not merely carry a mark Q can read. With ``tricks.g_ema`` on, every picture and measure is drawn by G's
moving average (:meth:`InfoGANTrainer._draw`). ``infogan.mismatch = w`` makes that D matching-aware, as
GAN-CLS's (Reed et al. 2016) is for captions: a share w of D's fake term goes to real pictures judged with a
wrong code (:meth:`InfoGANTrainer.d_gan_loss`), so D learns whether a picture fits its code, not only
whether it is real, and G's pictures of code c are judged by that.

``infogan.q_consistency = w`` (the studio's addition) makes Q blind to size: a term on real pictures in D/Q's loss,
the cross-entropy from Q's reading of each real picture as it is to its reading of the picture redrawn small
(:func:`drawn_small`, to the small real pictures' ink spread), as invariant information clustering (Ji et al.
2019) asks two views of one picture to be read alike. In the canonical view a large picture is a crisp outline and
a small one a blur, so without it the category can be the size (:meth:`InfoGANTrainer.consistency`).
``infogan.q_small`` instead has Q read a share of the fakes redrawn small (and ``q_small_real`` the real pictures).

Labels are never used in training. ``evaluate()`` measures with them when the set has them:
``code_accuracy`` draws ``EVAL_PER_CODE`` images per categorical value, classifies them with the
data set's metric classifier (the label set ``infogan.match``: digits' ``class``, shapes' ``shape``)
and counts the share that agree under the best one-to-one matching of code values to labels
(:mod:`gan_studio.core.metrics.codes`). ``q_accuracy`` is the paper's measure: Q's code of real
images against their labels, matched the same way. ``info_cat`` is L_I's categorical part as a
share of H(c_cat) = log K (1: Q reads the code back perfectly).

API for the window and the latent lab (capability "codes"; see family_spec.CAPABILITIES):

- ``code_sizes``: (categorical values, continuous codes).
- ``generate(z, codes=None)``: G(z, c). ``codes``: None (categorical values balanced, class-major,
  continuous codes 0: K * m latents tiled m to a row give one row per value), an int (that
  categorical value for all), or an array (1 + continuous,) for all or (N, 1 + continuous) per
  latent: the categorical value, then the continuous values. A value out of range is a one-line
  ConfigError. Batch norm in G uses the statistics of a fixed reference batch drawn from the prior,
  so an image depends on its own z and codes only (a batch of one code value is drawn as it is in
  training, among the others).
- ``traversal(z, code, values)``: the paper's figures: one row per categorical value; along a row
  continuous code ``code`` takes ``values`` (or, with ``code`` = None, the columns are the latents).
- the grid: ``fixed_z`` repeats GRID_PER_CODE latents in every row, one row per categorical value.
- ``infogan.extra_categories``: more categorical codes, drawn apart from z in training and read back by Q;
  outside training (generate, traversal, the grid) extra code j is set by z's coordinate j
  (:meth:`InfoGANTrainer.extra_from_z`), so ``codes`` above never holds them.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_studio.core.config import Config, opt, register_check
from gan_studio.core.data.images import to_float
from gan_studio.core.errors import ConfigError
from gan_studio.core.families.registry import register_family
from gan_studio.core.family_spec import FamilySpec, Grid, Plot
from gan_studio.core.training import losses
from gan_studio.core.training.trainer import StepMetrics, Trainer

GRID_PER_CODE = 8
#: continuous code values generate() accepts: traversals go past the prior's [-1, 1] (the paper
#: shows -2..2); far beyond, G draws what it never saw
CONT_LIMIT = 3.0
#: Q's learned log-variance is kept in this range: a variance near 0 would make the term explode
LOGVAR_RANGE = (-6.0, 4.0)
#: images per categorical value for code_accuracy; real images for q_accuracy
EVAL_PER_CODE = 100
EVAL_REAL = 2000
#: the reference batch whose statistics G's batch norm uses in generate()
REFERENCE_SIZE = 256
#: the transforms Q can be asked to see through (infogan.q_invariance)
INVARIANCES = ("none", "shift", "colour", "scale", "shift+colour", "shift+scale", "colour+scale",
               "shift+colour+scale", "canonical")
#: infogan.q_invariance = canonical: the ink's radius of gyration in Q's view, in grid units ([-1, 1] across)
CANON_SPREAD = 0.4
#: ... and the brightness below which a pixel does not count as ink when the view is placed and sized
CANON_FLOOR = 0.25
#: ... and the real pictures whose ink quantile a fake must reach to carry its category in full
INK_SAMPLE, INK_QUANTILE = 1000, 0.1
#: infogan.q_consistency and q_small: the real pictures' ink spread at this quantile is the size pictures are
#: redrawn at (drawn_small), and the supersampling (per side) with which they are redrawn
SMALL_QUANTILE, SMALL_SUPERSAMPLE = 0.25, 4
#: the random zoom of Q's view (infogan.q_invariance = scale): a factor from 1/SCALE_RANGE to SCALE_RANGE
SCALE_RANGE = 1.5
#: the random gain of Q's colour-blind view (infogan.q_invariance = colour)
COLOUR_GAIN = (0.6, 1.0)
#: label sets code_accuracy can be measured against (those of the data set at hand are allowed)
MATCH_CHOICES = ("class", "shape", "colour", "size", "position")


@dataclass
class InfoganConfig:
    """InfoGAN (Chen et al. 2016): a categorical and continuous codes in G's input, read back by Q."""
    categories: int = opt(10, "values of the categorical code (one-hot into G; Q predicts it): 10 on digits, "
                          "3 on shapes", lo=2, hi=256)
    continuous: int = opt(2, "continuous codes, each uniform in [-1, 1] (Chen et al.: 2 on MNIST)", lo=0, hi=32)
    lambda_cat: float = opt(1.0, "weight of the categorical mutual-information term (cross-entropy of Q) "
                            "in G's and D/Q's loss (Chen et al.: 1)", lo=0.0, hi=100.0)
    lambda_cont: float = opt(0.1, "weight of the continuous term (Gaussian negative log-likelihood of Q), "
                             "smaller so it stays on the scale of the GAN loss", lo=0.0, hi=100.0)
    cont_variance: str = opt("fixed", "Q's variance of the continuous codes: fixed (1; the term is half a "
                             "squared error) or learned (Q predicts a log-variance per code)",
                             choices=("fixed", "learned"))
    q_width: int = opt(128, "hidden units of the Q head on D's features (Chen et al.: 128)", lo=1, hi=4096)
    q_invariance: str = opt("none", "what Q must see through to read a fake's categorical code: none (Chen et "
                            "al.), or shift (the fake rolled by a random number of pixels, wrapping round), colour "
                            "(a colour-blind copy at a random brightness), scale (zoomed by 1/1.5..1.5 about its "
                            "ink) joined by +, or canonical (colour- and brightness-blind, the ink centred and "
                            "sized to one spread: moment normalisation); the category can then mean only what "
                            "these leave unchanged (a shape, not where it is, which colour or how big)",
                            choices=INVARIANCES)
    q_reader: str = opt("shared", "the trunk Q reads the categorical code through when q_invariance is not none: "
                        "shared (D's, as the paper shares it) or own (a second trunk of D's shape with its own "
                        "weights, trained by the code loss alone, so that reading outlines in the invariant view "
                        "does not compete with telling real from fake)", choices=("shared", "own"))
    extra_categories: str = opt("", "more categorical codes beside the measured one, their sizes joined by commas "
                                "(e.g. '4,4' on shapes: codes for the four places and the four colours, so that the "
                                "measured code is not the only one that can take them); '' = none (Chen et al. on "
                                "digits). Q reads each back with the same weight lambda_cat. In pictures drawn "
                                "outside training (grids, the latent lab) each is set by one of z's coordinates")
    cat_entry: str = opt("input", "where the categorical code enters G (DCGAN G only): input (with z, as Chen et al.) "
                         "or late (as constant channels at G's 4x4 map, after z has laid out the picture: the code "
                         "can switch the features drawn everywhere more easily than it can move what z placed)",
                         choices=("input", "late"))
    q_small: float = opt(0.0, "with q_invariance = canonical: the share of fakes whose category Q reads from the "
                         "picture redrawn as small as the small real pictures (the 25 % quantile of their ink's "
                         "spread; anti-aliased, about the ink's centre; smaller pictures are left as they are), so "
                         "that the category cannot be what only a large picture shows, as a large shape's crisp "
                         "outline against a small one's blur. 0 = off", lo=0.0, hi=1.0)
    q_small_real: bool = opt(False, "with q_small: Q reads real pictures (the code D judges them with, q_accuracy) "
                             "as redrawn small too")
    q_consistency: float = opt(0.0, "with q_invariance = canonical: the weight of a term on real pictures in D/Q's "
                               "loss: Q's reading of each real picture redrawn small must agree with its reading of "
                               "the picture as it is (cross-entropy to the latter, no gradient through it), as "
                               "invariant clustering (IIC, Ji et al. 2019) asks of two views of one picture: the "
                               "category Q reads in real pictures cannot then be their size. 0 = off", lo=0.0, hi=100.0)
    self_condition: str = opt("off", "D judges a picture together with its categorical code (a projection term, "
                              "Miyato & Koyama 2018): off (Chen et al.), or q: fakes with the code they were drawn "
                              "with, real pictures with the code Q reads in them (argmax, no gradient; no label is "
                              "used), as in self-conditioned GANs (Liu et al. 2020). G's pictures of one code value "
                              "must then pass for the real pictures Q puts in that value, not merely carry a mark "
                              "Q can read", choices=("off", "q"))
    mismatch: float = opt(0.0, "with self_condition = q: the share of D's fake term given to real pictures judged "
                          "with a wrong code (Q's code shifted by 1..K-1), as the matching-aware D of GAN-CLS (Reed "
                          "et al. 2016) judges a real image with a wrong caption: D must then tell whether a "
                          "picture fits its code, not only whether it is real. 0 = off", lo=0.0, hi=1.0)
    mismatch_from: int = opt(0, "the training step from which mismatch applies (before it D's fake term is the "
                             "fakes' alone): Q's reading of real pictures is still settling early on, and a D "
                             "that already insists on it can hold G and Q to a first, wrong split", lo=0)
    match: str = opt("class", "labels that code_accuracy and q_accuracy match the categorical code against "
                     "(measured only, never trained on): class, or a shapes attribute",
                     choices=MATCH_CHOICES)


FAMILY = FamilySpec(
    name="infogan", summary="InfoGAN", section=InfoganConfig, live=("lambda_cat", "lambda_cont", "mismatch", "q_consistency"),
    tricks=("label_smoothing", "instance_noise", "two_time_scale", "g_ema"),
    losses=tuple(l for l in losses.D_LOSS if l != "wgan-gp"), archs=("dcgan", "mlp"),
    plot=Plot("Categorical code vs true class (best matching)",
              (("code_accuracy", "generated per code value"), ("q_accuracy", "Q's code of real images"),
               ("info_cat", "MI bound / log K"))),
    grid=Grid(rows="codes", per_row=GRID_PER_CODE), capabilities={"conditioned", "codes"})


# -- networks ---------------------------------------------------------------------------------------
class InfoDiscriminator(nn.Module):
    """x -> D's logit (N,); ``judge(x)`` -> (logit, Q's outputs) from one pass through the trunk.

    Q: Linear(features, q_width), batch norm (the DCGAN D's), LeakyReLU(0.2), Linear(q_width, out),
    where out = K logits, then the continuous means, then (learned variance) their log-variances,
    then the logits of each extra categorical code (infogan.extra_categories)."""

    def __init__(self, base: nn.Module, feature_dim: int, q_width: int, q_out: int, norm: bool,
                 reader: nn.Module | None = None, conditioned: int = 0):
        super().__init__()
        self.base = base
        self.q = _q_head(feature_dim, q_width, q_out, norm)
        #: infogan.self_condition = q: the projection term's class embeddings (one per categorical value),
        #: zero at the start so that D begins as the unconditional one
        self.embed = nn.Embedding(conditioned, feature_dim) if conditioned else None
        if self.embed is not None:
            nn.init.zeros_(self.embed.weight)
        #: infogan.q_reader = own: a trunk and Q head of their own for the invariant view (read())
        self.reader = reader
        if reader is not None:
            self.reader_q = _q_head(feature_dim, q_width, q_out, norm)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.base.features(x)

    def forward(self, x: torch.Tensor, cat: torch.Tensor | None = None) -> torch.Tensor:
        return self.logit(self.features(x), cat)

    def logit(self, f: torch.Tensor, cat: torch.Tensor | None = None) -> torch.Tensor:
        """D's logit from trunk features f; with ``cat`` (N,) and a conditioned D, plus the projection
        <embed(cat), f> (without ``cat`` the unconditional part alone)."""
        out = self.base.head(f).squeeze(1)
        if cat is not None and self.embed is not None:
            out = out + (self.embed(cat) * f).sum(1)
        return out

    def judge(self, x: torch.Tensor, cat: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(D's logit of x (with code ``cat`` where D is conditioned), Q's outputs) from one pass through the trunk."""
        f = self.features(x)
        return self.logit(f, cat), self.q(f)

    def read(self, x: torch.Tensor) -> torch.Tensor:
        """Q's outputs alone (through Q's own trunk where it has one: the invariant view's reader)."""
        if self.reader is not None:
            return self.reader_q(self.reader.features(x))
        return self.q(self.features(x))


def _q_head(feature_dim: int, q_width: int, q_out: int, norm: bool) -> nn.Sequential:
    return nn.Sequential(
        # input: the trunk's features
        nn.Linear(feature_dim, q_width),
        nn.BatchNorm1d(q_width) if norm else nn.Identity(),
        nn.LeakyReLU(0.2, inplace=True),
        # state: q_width
        nn.Linear(q_width, q_out),
    )


#: most extra categorical codes (infogan.extra_categories); each takes one of z's coordinates in pictures
MAX_EXTRA = 8


def extra_sizes(ic, latent_dim: int | None = None) -> tuple[int, ...]:
    """The sizes in ``infogan.extra_categories`` ('' -> ()); a one-line ConfigError for anything else
    than 1..MAX_EXTRA whole numbers from 2 to 256 (and no more codes than z has coordinates)."""
    text = str(ic.extra_categories).strip()
    if not text:
        return ()
    parts = [p.strip() for p in text.split(",")]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        sizes = ()
    if not sizes or any(not 2 <= k <= 256 for k in sizes) or len(sizes) > MAX_EXTRA:
        raise ConfigError(f"infogan.extra_categories = {text!r}: expected up to {MAX_EXTRA} sizes of categorical "
                          "codes, whole numbers from 2 to 256 joined by commas (e.g. '4,4'), or '' for none")
    if latent_dim is not None and len(sizes) > latent_dim:
        raise ConfigError(f"infogan.extra_categories = {text!r}: {len(sizes)} codes, but z has only {latent_dim} "
                          "coordinates to set them by in pictures (model.latent_dim)")
    return sizes


def build_info_networks(cfg: Config, data) -> tuple[nn.Module, nn.Module]:
    m, ic, fused = cfg.model, cfg.infogan, cfg.train.fast_paths
    extra = sum(extra_sizes(ic, m.latent_dim))
    g_in = m.latent_dim + ic.categories + ic.continuous + extra
    q_out = ic.categories + ic.continuous * (2 if ic.cont_variance == "learned" else 1) + extra
    own_reader = ic.q_reader == "own" and ic.q_invariance != "none"
    cond = ic.categories if ic.self_condition == "q" else 0
    if data.kind != "image":
        raise ConfigError(f"model.family = 'infogan' draws images; data.name = {data.name!r} is not an image set "
                          "(choose digits, shapes, mnist, fashion-mnist, cifar10 or folder)")
    if m.arch == "dcgan":
        from gan_studio.core.nets.dcgan import DCGANDiscriminator, DCGANGenerator
        c, size = data.shape[0], data.shape[1]
        G = (LateCodeGenerator(g_in, m.latent_dim, ic.categories, m.ngf, c, size, m.g_upsample)
             if ic.cat_entry == "late" else DCGANGenerator(g_in, m.ngf, c, size, upsample=m.g_upsample))
        base = DCGANDiscriminator(m.ndf, c, size, norm=m.d_norm)
        reader = DCGANDiscriminator(m.ndf, c, size, norm=m.d_norm) if own_reader else None
        return G, InfoDiscriminator(base, base.feature_dim, ic.q_width, q_out, norm=True, reader=reader,
                                 conditioned=cond)
    if m.arch == "mlp":
        if ic.cat_entry != "input":
            raise ConfigError("infogan.cat_entry = 'late' needs model.arch = 'dcgan' (its 4x4 map); "
                              "with model.arch = 'mlp' use 'input'")
        from gan_studio.core.nets.mlp import MLPDiscriminator, MLPGenerator
        G = MLPGenerator(g_in, data.shape, m.g_depth, m.g_width, m.g_activation, tanh_out=True, fused=fused)
        base = MLPDiscriminator(data.shape, m.d_depth, m.d_width, m.d_activation, fused=fused)
        reader = MLPDiscriminator(data.shape, m.d_depth, m.d_width, m.d_activation, fused=fused) if own_reader else None
        return G, InfoDiscriminator(base, m.d_width, ic.q_width, q_out, norm=False, reader=reader,
                                 conditioned=cond)
    raise ConfigError(f"model.arch = {m.arch!r} does not fit model.family = 'infogan'; choose one of: dcgan, mlp")


class LateCodeGenerator(nn.Module):
    """A DCGAN G whose categorical code enters at the 4x4 map: G's input is the family's usual
    [z, one_hot(cat), cont, extras]; z, the continuous and extra codes go through G's first layer as
    usual, and the one-hot code joins its 4x4 output as K constant channels, read by the next layer."""

    def __init__(self, g_in: int, latent_dim: int, categories: int, ngf: int, nc: int, image_size: int,
                 upsample: str = "transpose"):
        super().__init__()
        from gan_studio.core.nets.dcgan import DCGANGenerator, init_weights
        self.code_at, self.k = latent_dim, categories
        base = DCGANGenerator(g_in - categories, ngf, nc, image_size, upsample=upsample)
        layers = list(base.main)
        self.early = nn.Sequential(*layers[:3])        # ConvTranspose, BatchNorm, ReLU: the 4x4 map
        rest = layers[3:]
        at = next(i for i, layer in enumerate(rest) if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)))
        conv = rest[at]                                 # the first doubling's convolution
        wider = type(conv)(conv.in_channels + categories, conv.out_channels, conv.kernel_size,
                           conv.stride, conv.padding, bias=False)
        init_weights(wider)
        self.late = nn.Sequential(*rest[:at], wider, *rest[at + 1:])

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        inputs = inputs.flatten(1)
        a, b = self.code_at, self.code_at + self.k
        code = inputs[:, a:b]
        h = self.early(torch.cat([inputs[:, :a], inputs[:, b:]], 1)[:, :, None, None])
        return self.late(torch.cat([h, code[:, :, None, None].expand(-1, -1, *h.shape[2:])], 1))


def info_terms(q: torch.Tensor, cat: torch.Tensor, cont: torch.Tensor, learned_var: bool,
               weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(-E log Q(c_cat | x), -E log Q(c_cont | x)): the cross-entropy of Q's categorical logits and
    the Gaussian negative log-likelihood of the continuous codes (summed over codes; 0 without any).
    ``weight`` (N,) in [0, 1]: how far each picture can carry the category at all (an empty picture
    carries none, canonical view); the cross-entropy of picture i is then w_i CE_i + (1 - w_i) log K,
    so that a code value cannot be read from a picture by its having nothing in it."""
    k, n = q.shape[1] - cont.shape[1] * (2 if learned_var else 1), cont.shape[1]
    if weight is None:
        loss_cat = F.cross_entropy(q[:, :k], cat)
    else:   # a picture counts in proportion to its weight; the rest of it is unreadable (log K)
        loss_cat = (weight * F.cross_entropy(q[:, :k], cat, reduction="none") + (1 - weight) * math.log(k)).mean()
    if n == 0:
        return loss_cat, q.new_zeros(())
    mean = q[:, k:k + n]
    if learned_var:
        logvar = q[:, k + n:].clamp(*LOGVAR_RANGE)
        nll = 0.5 * (math.log(2 * math.pi) + logvar + (cont - mean) ** 2 * torch.exp(-logvar))
    else:
        nll = 0.5 * (math.log(2 * math.pi) + (cont - mean) ** 2)
    return loss_cat, nll.sum(1).mean()


def extra_terms(q: torch.Tensor, extra: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """The cross-entropies of the extra categorical codes, summed: ``q`` holds their logits last
    (sum(sizes) columns), ``extra`` (N, len(sizes)) their values; 0 without any."""
    if not sizes:
        return q.new_zeros(())
    logits = q[:, q.shape[1] - sum(sizes):]
    total, start = q.new_zeros(()), 0
    for j, k in enumerate(sizes):
        total = total + F.cross_entropy(logits[:, start:start + k], extra[:, j])
        start += k
    return total


def see_through(x: torch.Tensor, invariance: str, generator: torch.Generator) -> torch.Tensor | None:
    """What Q reads under ``infogan.q_invariance``: x (N, C, H, W) in [-1, 1] made colour-blind
    (each pixel's brightest channel in every channel, times a random gain per image, so neither hue
    nor brightness tells anything: IIC and DeepCluster remove colour before clustering for the same
    reason) and/or rolled by a random whole number of pixels in each direction (wrapping round, so
    that no place is special). Differentiable in x; None for "none"."""
    if invariance == "none":
        return None
    if invariance == "canonical":
        return canonical_view(x)
    n, c, h, w = x.shape
    if "colour" in invariance and c > 1:
        # colour-blind and brightness-blind: each pixel's brightest channel, times a random gain
        gain = COLOUR_GAIN[0] + (COLOUR_GAIN[1] - COLOUR_GAIN[0]) * torch.rand(n, 1, 1, 1, generator=generator,
                                                                               device=x.device)
        x = (((x + 1) * 0.5).amax(1, keepdim=True) * gain * 2 - 1).expand(n, c, h, w)
    if "scale" in invariance:
        x = _zoom(x, generator)
    if "shift" in invariance:
        dy = torch.randint(h, (n, 1), generator=generator, device=x.device)
        dx = torch.randint(w, (n, 1), generator=generator, device=x.device)
        rows = (torch.arange(h, device=x.device) - dy) % h       # (n, h): row i shows row i - dy
        cols = (torch.arange(w, device=x.device) - dx) % w
        x = x.gather(2, rows[:, None, :, None].expand(n, c, h, w))
        x = x.gather(3, cols[:, None, None, :].expand(n, c, h, w))
    return x


def _ink_centre(ink: torch.Tensor):
    """For ink (N, H, W) >= 0: (pixel centres ys (H,), xs (W,) in [-1, 1] as affine_grid places them, the
    ink's centre cy, cx (N,), its total (N,))."""
    _, h, w = ink.shape
    total = ink.sum((1, 2)).clamp_min(1e-6)
    ys = torch.linspace(-1 + 1 / h, 1 - 1 / h, h, device=ink.device, dtype=ink.dtype)
    xs = torch.linspace(-1 + 1 / w, 1 - 1 / w, w, device=ink.device, dtype=ink.dtype)
    return ys, xs, (ink.sum(2) * ys).sum(1) / total, (ink.sum(1) * xs).sum(1) / total, total


def canonical_view(x: torch.Tensor) -> torch.Tensor:
    """x (N, C, H, W) in [-1, 1] as Q reads it under ``q_invariance = canonical``: colour-blind (each
    pixel's brightest channel), brightness-blind (divided by the image's brightest pixel), and moved
    and sized so that its ink is centred with radius of gyration CANON_SPREAD (moment normalisation, the
    classic way a character reader makes a glyph's place and size irrelevant). What is left is the
    outline: on shapes, which shape. The place and size are measured without gradient (pixels dimmer
    than CANON_FLOOR do not count); the view is differentiable in x through the resampling."""
    n, c, h, w = x.shape
    ink = ((x + 1) * 0.5).amax(1)                                             # (n, h, w) in [0, 1]
    ink = ink / ink.detach().amax((1, 2), keepdim=True).clamp_min(1e-3)
    with torch.no_grad():
        cy, cx, spread = _ink_frame(ink)
        k = spread.clamp(1 / max(h, w), 2.0) / CANON_SPREAD                   # output -> input scale
        theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
        theta[:, 0, 0] = theta[:, 1, 1] = k
        theta[:, 0, 2], theta[:, 1, 2] = cx, cy
        grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
    view = F.grid_sample(ink[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return (view * 2 - 1).expand(n, c, h, w)


@torch.no_grad()
def _ink_frame(ink: torch.Tensor):
    """For ink (N, H, W) in [0, 1] (brightest pixel 1): the centre cy, cx (N,) and the radius of gyration
    (N,) of the pixels brighter than CANON_FLOOR, in affine_grid's units ([-1, 1] across)."""
    wgt = (ink - CANON_FLOOR).clamp_min(0)
    ys, xs, cy, cx, total = _ink_centre(wgt)
    var = (wgt * ((ys[None, :, None] - cy[:, None, None]) ** 2 + (xs[None, None, :] - cx[:, None, None]) ** 2)
           ).sum((1, 2)) / total
    return cy, cx, var.sqrt()


@torch.no_grad()
def _picture_frame(x: torch.Tensor):
    """:func:`_ink_frame` of pictures x (N, C, H, W) in [-1, 1]: their brightest channel, scaled to a brightest pixel of 1."""
    ink = ((x + 1) * 0.5).amax(1)
    return _ink_frame(ink / ink.amax((1, 2), keepdim=True).clamp_min(1e-3))


def ink_spread(x: torch.Tensor) -> torch.Tensor:
    """(N,): the radius of gyration of pictures x's ink (N, C, H, W in [-1, 1]), as canonical_view measures it."""
    return _picture_frame(x)[2]


def drawn_small(x: torch.Tensor, spread: float) -> torch.Tensor:
    """Pictures x (N, C, H, W) in [-1, 1] redrawn smaller about the centre of their ink, so that the ink's
    radius of gyration is at most ``spread`` (a picture already that small is left as it is, pixel for
    pixel), anti-aliased: each pixel is a square of one colour, and each output pixel averages
    SMALL_SUPERSAMPLE^2 samples of them, about the share of each it covers, as a picture drawn small at
    this resolution would be. What the smallest pictures cannot show at this resolution is then lost for every
    picture: infogan.q_small. Differentiable in x; the scale is measured without gradient."""
    n, c, h, w = x.shape
    ss = SMALL_SUPERSAMPLE
    with torch.no_grad():
        cy, cx, have = _picture_frame(x)
        inv = (have / spread).clamp_min(1.0)                                  # output -> input: divide by s <= 1
        theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
        theta[:, 0, 0] = theta[:, 1, 1] = inv
        theta[:, 0, 2], theta[:, 1, 2] = cx * (1 - inv), cy * (1 - inv)       # the ink's centre stays put
        grid = F.affine_grid(theta, [n, c, h * ss, w * ss], align_corners=False)
    fine = F.grid_sample(x + 1, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return F.avg_pool2d(fine, ss) - 1


def picture_ink(x: torch.Tensor) -> torch.Tensor:
    """(N,): the ink of pictures x (N, C, H, W) in [-1, 1]: each pixel's brightest channel in [0, 1], above
    CANON_FLOOR (faint specks are not ink), summed."""
    return (((x + 1) * 0.5).amax(1) - CANON_FLOOR).clamp_min(0).flatten(1).sum(1) / (1 - CANON_FLOOR)


def _zoom(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """x zoomed by a random factor per image (log-uniform in 1/SCALE_RANGE..SCALE_RANGE) about the
    centre of its ink, so the thing drawn keeps its place; bilinear, black outside."""
    n = len(x)
    _, _, cy, cx, _ = _ink_centre(((x + 1) * 0.5).sum(1))
    log_s = (torch.rand(n, generator=generator, device=x.device) * 2 - 1) * math.log(SCALE_RANGE)
    inv = torch.exp(-log_s)                                                   # output -> input: divide by s
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = inv
    theta[:, 0, 2], theta[:, 1, 2] = cx * (1 - inv), cy * (1 - inv)           # the ink's centre stays put
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1


@contextmanager
def batch_norm_state_kept(net: nn.Module):
    """Inside the block ``net``'s batch norm layers may run and change their running statistics;
    afterwards they are exactly as before (buffers, momentum, train/eval). Yields the layers."""
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    saved = [(m.training, m.momentum, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
             for m in bns]
    try:
        yield bns
    finally:
        for m, (training, momentum, mean, var, count) in zip(bns, saved):
            m.train(training)
            m.momentum = momentum
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(count)


# -- the trainer ------------------------------------------------------------------------------------
class InfoGANTrainer(Trainer):
    """The plain Trainer's interface (step, evaluate, commands, checkpoints) for G(z, c) and D with a Q head."""

    FAMILY = FAMILY

    def __init__(self, cfg: Config, device=None):
        super().__init__(cfg, device=device)
        # the prior's sample whose statistics G's batch norm uses in generate(): fixed per run,
        # drawn apart from the training RNG so that drawing pictures never changes training
        g = torch.Generator().manual_seed(cfg.train.seed + 2)
        k, n = self.code_sizes
        self.reference_input = self.g_input(
            torch.randn(REFERENCE_SIZE, cfg.model.latent_dim, generator=g),
            torch.arange(REFERENCE_SIZE) % k, torch.rand(REFERENCE_SIZE, n, generator=g) * 2 - 1).to(self.device)

    def build_networks(self, cfg: Config, data) -> tuple[nn.Module, nn.Module]:
        ic = cfg.infogan
        #: canonical view: the ink of a faint real picture (INK_QUANTILE of INK_SAMPLE real ones, drawn
        #: apart from the training RNG), the ink at which a fake fully carries its category
        self.ink_ref = None
        if ic.q_invariance == "canonical":
            real = data.sample(INK_SAMPLE, torch.Generator(device=data.device).manual_seed(cfg.train.seed + 3))
            self.ink_ref = float(picture_ink(real).quantile(INK_QUANTILE).clamp_min(1e-3))
            #: infogan.q_consistency / q_small: the ink spread of the small real pictures, the size pictures are redrawn at
            self.small_spread = float(ink_spread(real).quantile(SMALL_QUANTILE).clamp_min(1e-3))
        self.code_sizes = (ic.categories, ic.continuous)
        self.extra_sizes = extra_sizes(ic, cfg.model.latent_dim)
        self.match_labels, self.match_names = _match_labels(data, ic.match)
        torch.manual_seed(cfg.train.seed)      # the networks' initialisation
        return build_info_networks(cfg, data)

    def grid_latents(self) -> torch.Tensor:
        """GRID_PER_CODE columns of z, repeated in every row (one row per categorical value)."""
        g = torch.Generator().manual_seed(self.cfg.train.seed + 1)
        z = torch.randn(GRID_PER_CODE, self.cfg.model.latent_dim, generator=g)
        return z.repeat(self.code_sizes[0], 1)

    @property
    def grid_row_names(self) -> list[str]:
        return [f"code {k}" for k in range(self.code_sizes[0])]

    # -- codes ------------------------------------------------------------------------------------
    def g_input(self, z: torch.Tensor, cat: torch.Tensor, cont: torch.Tensor,
                extra: torch.Tensor | None = None) -> torch.Tensor:
        """G's input [z, one_hot(cat), cont, one_hot(extra_1), ...] (N, latent + K + continuous + extras).
        ``extra`` (N, extra codes): the extra categorical codes; None: set by z (:meth:`extra_from_z`)."""
        one_hot = F.one_hot(cat.long(), self.code_sizes[0]).to(z.dtype)
        parts = [z.flatten(1), one_hot, cont.to(z.dtype)]
        if self.extra_sizes:
            extra = self.extra_from_z(z) if extra is None else extra
            parts += [F.one_hot(extra[:, j].long(), k).to(z.dtype) for j, k in enumerate(self.extra_sizes)]
        return torch.cat(parts, 1)

    def extra_from_z(self, z: torch.Tensor) -> torch.Tensor:
        """(N, extra codes): extra code j is z's coordinate j cut into K_j bins of equal probability under
        N(0, 1), so that a picture depends on its z and codes alone and the values are uniform over the
        prior, as in training (where they are drawn apart from z)."""
        z = z.flatten(1)
        cols = [(torch.special.ndtr(z[:, j]) * k).floor().clamp(0, k - 1).long()
                for j, k in enumerate(self.extra_sizes)]
        return torch.stack(cols, 1)

    def sample_extra(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor | None:
        """(n, extra codes) uniform from the prior with the training RNG by default; None without any
        (and then nothing is drawn, so a run without extra codes keeps its random stream)."""
        if not self.extra_sizes:
            return None
        g = self.rng if generator is None else generator
        return torch.stack([torch.randint(k, (n,), generator=g, device=self.device) for k in self.extra_sizes], 1)

    def code_losses(self, q: torch.Tensor, cat: torch.Tensor, cont: torch.Tensor,
                    extra: torch.Tensor | None, fake: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(cross-entropies of every categorical code, summed; the continuous codes' NLL) of Q's outputs q:
        the terms weighted by lambda_cat and lambda_cont in D/Q's and G's loss. With the canonical view,
        ``fake`` (the pictures Q read, before instance noise) sets how far each can carry the category:
        its ink as a share of a faint real picture's (:meth:`ink_weight`)."""
        weight = self.ink_weight(fake) if fake is not None else None
        ce, nll = info_terms(self.q_main(q), cat, cont, self.cfg.infogan.cont_variance == "learned", weight)
        return ce + extra_terms(q, extra, self.extra_sizes), nll

    def ink_weight(self, x: torch.Tensor) -> torch.Tensor | None:
        """(N,) in [0, 1]: each picture's ink (its brightest channel in [0, 1], summed over pixels) as a
        share of ``ink_ref``, capped at 1; None unless q_invariance = canonical. The canonical view blows
        any picture up to one brightness and size, so without this a code value could be read from an
        empty picture; with it an empty picture carries no category (cross-entropy log K)."""
        if self.ink_ref is None:
            return None
        return (picture_ink(x) / self.ink_ref).clamp(max=1.0)

    def q_main(self, q: torch.Tensor) -> torch.Tensor:
        """Q's outputs without the extra codes' logits (the categorical code's and the continuous ones)."""
        e = sum(self.extra_sizes)
        return q[:, :q.shape[1] - e] if e else q

    def sample_codes(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(categorical (n,), continuous (n, C)) from the prior, with the training RNG by default."""
        g = self.rng if generator is None else generator
        k, c = self.code_sizes
        cat = torch.randint(k, (n,), generator=g, device=self.device)
        cont = torch.rand(n, c, generator=g, device=self.device) * 2 - 1
        return cat, cont

    def default_codes(self, n: int) -> np.ndarray:
        """(n, 1 + C): categorical value floor(i * K / n) (balanced, class-major), continuous codes 0."""
        out = np.zeros((n, 1 + self.code_sizes[1]), np.float32)
        out[:, 0] = np.arange(n) * self.code_sizes[0] // max(n, 1)
        return out

    def codes_for(self, n: int, codes=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``codes`` (see the module docstring) as (categorical (n,), continuous (n, C)) on the device;
        a one-line ConfigError for a wrong shape or a value out of range."""
        k, c = self.code_sizes
        if codes is None:
            arr = self.default_codes(n)
        elif isinstance(codes, (int, np.integer)) and not isinstance(codes, bool):
            arr = np.zeros((n, 1 + c), np.float64)
            arr[:, 0] = codes
        else:
            try:
                arr = np.asarray(codes.cpu() if torch.is_tensor(codes) else codes, dtype=np.float64)
            except (TypeError, ValueError):
                raise ConfigError(f"codes: expected numbers, got {type(codes).__name__}") from None
            if arr.ndim == 1 and arr.shape[0] == 1 + c:
                arr = np.tile(arr, (n, 1))
            if arr.shape != (n, 1 + c):
                raise ConfigError(f"codes: expected {1 + c} values (the categorical value, then {c} continuous "
                                  f"codes) for all latents or one such row per latent ({n}), got shape {arr.shape}")
        cat, cont = arr[:, 0], arr[:, 1:]
        if not np.isfinite(arr).all():
            raise ConfigError("codes: hold NaN or infinite values")
        bad = cat[(cat < 0) | (cat > k - 1) | (cat != np.round(cat))]
        if bad.size:
            raise ConfigError(f"codes: categorical value {_num(bad[0])} is out of range; allowed 0..{k - 1} "
                              f"(whole numbers)")
        far = np.argwhere(np.abs(cont) > CONT_LIMIT)
        if far.size:
            i, j = far[0]
            raise ConfigError(f"codes: continuous code {j + 1} = {_num(cont[i, j])} is out of range; allowed "
                              f"-{CONT_LIMIT:g}..{CONT_LIMIT:g} (training draws it uniformly from -1..1)")
        return (torch.as_tensor(cat, device=self.device).long(),
                torch.as_tensor(np.ascontiguousarray(cont), dtype=torch.float32, device=self.device))

    def _on_setting_changed(self, key: str) -> None:
        super()._on_setting_changed(key)
        if key.startswith("infogan."):     # a live setting is refused in one line where it does not fit
            _check(self.cfg)

    # -- training ---------------------------------------------------------------------------
    def step(self) -> StepMetrics:
        """D/Q updates on real x and G(z, c) (the GAN loss plus lambda x Q's code loss on the fakes),
        then one G update on the last fake batch (its GAN loss plus the same code loss)."""
        self.begin_step()
        cfg, t, tk, ic = self.cfg, self.cfg.train, self.tricks, self.cfg.infogan
        B = t.batch_size
        g_loss_fn = losses.G_LOSS[cfg.loss]
        _, _, d_steps = tk.two_time_scale.hyper(self)
        targets = tk.label_smoothing.targets(self)
        sigma = tk.instance_noise.sigma(self)
        noisy = tk.instance_noise.add

        # --- D and Q: minimise loss_D(D(x), D(G(z, c))) + lambda . (CE + NLL of Q on the fakes) ---
        for i in range(d_steps):
            real = self.data.sample(B, self.rng)
            z = self.sample_z(B)
            cat, cont = self.sample_codes(B)
            extra = self.sample_extra(B)
            last = i == d_steps - 1
            if last:
                fake = self.G(self.g_input(z, cat, cont, extra))  # keep G's graph for the G step below
                fake_d = fake.detach()
            else:
                with torch.no_grad():
                    fake_d = self.G(self.g_input(z, cat, cont, extra))
            # separate passes: the DCGAN D's batch norm must not mix real and fake statistics
            real_in = noisy(self, real, sigma)
            real_cat = self.real_codes(real_in, real)
            f_real = self.D.features(real_in)
            d_real = self.D.logit(f_real, real_cat)
            d_fake, q_fake = self.judge_fake(noisy(self, fake_d, sigma), self.rng, clean=fake_d, cat=cat)
            ce, nll = self.code_losses(q_fake, cat, cont, extra, fake_d)
            loss_d = (self.d_gan_loss(d_real, d_fake, f_real, real_cat, targets)
                      + ic.lambda_cat * ce + ic.lambda_cont * nll)
            if ic.q_consistency > 0:
                loss_d = loss_d + ic.q_consistency * self.consistency(real)
            grad_norm_d = self.d_backward(loss_d)
            self.opt_d.step()
            self.clip_critic()

        # --- G: minimise loss_G(D(G(z, c))) + lambda . (CE + NLL of Q) against the updated D and Q ---
        g_out, q_g = self.judge_fake(noisy(self, fake, sigma), self.rng, clean=fake, cat=cat)
        ce, nll = self.code_losses(q_g, cat, cont, extra, fake)
        loss_g = g_loss_fn(g_out) + ic.lambda_cat * ce + ic.lambda_cont * nll
        grad_norm_g = self.g_backward(loss_g)
        self.opt_g.step()
        self.step_count += 1
        tk.instance_noise.after_step(self)

        dr, df = self.d_means([(d_real, d_fake)])
        return self.record_metrics(loss_d, loss_g, dr, df, grad_norm_d, grad_norm_g)

    def d_gan_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor, f_real: torch.Tensor,
                   real_cat: torch.Tensor | None, targets=()) -> torch.Tensor:
        """D's GAN loss on real logits d_real and fake logits d_fake. With infogan.mismatch = w > 0 (and a
        conditioned D: real_cat, Q's codes of the real pictures, not None) the matching-aware form:
        (1 - w) loss_D(d_real, d_fake) + w loss_D(d_real, D(x, wrong)), where D(x, wrong) judges each real
        picture (trunk features f_real) with a code other than Q's, drawn uniformly from the K - 1 others
        with the training RNG, from step ``infogan.mismatch_from`` on (before it the plain loss). Every D
        loss is a real part plus a fake part, so this keeps the real part whole and gives the share w of
        the fake part to real pictures with the wrong code."""
        ic = self.cfg.infogan
        loss_fn, w = losses.D_LOSS[self.cfg.loss], ic.mismatch
        if w <= 0 or real_cat is None or self.step_count < ic.mismatch_from:
            return loss_fn(d_real, d_fake, *targets)
        k = self.code_sizes[0]
        wrong = (real_cat + torch.randint(1, k, real_cat.shape, generator=self.rng, device=self.device)) % k
        d_wrong = self.D.logit(f_real, wrong)
        return (1 - w) * loss_fn(d_real, d_fake, *targets) + w * loss_fn(d_real, d_wrong, *targets)

    @torch.no_grad()
    def real_codes(self, x: torch.Tensor, clean: torch.Tensor) -> torch.Tensor | None:
        """infogan.self_condition = q: the categorical code Q reads in real pictures x (as D sees them;
        ``clean``: before instance noise), read as :meth:`q_codes` reads (the canonical view of the clean
        picture where q_invariance = canonical, else x itself); None otherwise."""
        if self.cfg.infogan.self_condition != "q":
            return None
        return self._read_category(self.real_view(clean) if self.cfg.infogan.q_invariance == "canonical" else x)

    def consistency(self, real: torch.Tensor) -> torch.Tensor:
        """infogan.q_consistency's term on clean real pictures: the cross-entropy from Q's categorical reading
        of each as it is (the canonical view; softmax, no gradient) to its reading of the picture redrawn small
        (:func:`drawn_small`), averaged over the pictures that redrawing changes (0 where fewer than two do)."""
        k = self.code_sizes[0]
        small = drawn_small(real, self.small_spread)
        moved = (small - real).flatten(1).abs().amax(1) > 1e-4
        if int(moved.sum()) < 2:     # Q's batch norm needs two pictures; none or one redrawn: no term this step
            return real.new_zeros(())
        with torch.no_grad():
            target = self.D.read(canonical_view(real[moved]))[:, :k].softmax(1)
        student = self.D.read(canonical_view(small[moved]))[:, :k].log_softmax(1)
        return -(target * student).sum(1).mean()

    def real_view(self, x: torch.Tensor) -> torch.Tensor:
        """The canonical view in which Q reads real pictures (D's condition, q_accuracy): of the pictures as
        they are, or as redrawn small (:func:`drawn_small`) with infogan.q_small_real."""
        if self.cfg.infogan.q_small_real:
            x = drawn_small(x, self.small_spread)
        return canonical_view(x)

    @torch.no_grad()
    def _read_category(self, view: torch.Tensor) -> torch.Tensor:
        """Q's categorical code (argmax) of pictures as Q sees them, D's batch norm statistics left as they were."""
        with batch_norm_state_kept(self.D):
            return self.D.read(view)[:, :self.code_sizes[0]].argmax(1)

    def judge_fake(self, x: torch.Tensor, generator: torch.Generator,
                   clean: torch.Tensor | None = None, cat: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(D's logit, Q's outputs) of fakes x. With infogan.q_invariance, Q reads the categorical
        code from a transformed copy (:func:`see_through`) and the continuous codes from x itself:
        the category must not depend on what the transforms change; the continuous codes may.
        ``clean``: x before instance noise, which the canonical view is made from (noise over the
        whole picture would move the ink's measured centre and size). ``cat``: the fakes' categorical
        code, which a conditioned D (infogan.self_condition) judges them with."""
        logit, q = self.D.judge(x, cat)        # an unconditioned D ignores cat
        ic = self.cfg.infogan
        inv = ic.q_invariance
        src = clean if inv == "canonical" and clean is not None else x
        if inv == "canonical" and ic.q_small > 0:   # a share of the fakes read as drawn small (q_small)
            pick = torch.rand(len(src), generator=generator, device=src.device) < ic.q_small
            src = torch.where(pick[:, None, None, None], drawn_small(src, self.small_spread), src)
        seen = see_through(src, inv, generator)
        if seen is not None:
            k = self.code_sizes[0]
            q = torch.cat([self.D.read(seen)[:, :k], q[:, k:]], 1)
        return logit, q

    # -- sampling ---------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, z: torch.Tensor, codes=None) -> torch.Tensor:
        """G(z, c) for given latents; ``codes`` as in the module docstring (None: balanced categorical
        values, class-major, continuous codes 0). Batch norm uses the reference batch's statistics."""
        z = z.to(self.device, torch.float32)
        cat, cont = self.codes_for(len(z), codes)
        if not len(z):
            return torch.empty(0, *self.data.shape, device=self.device)
        return self._draw(self.g_input(z, cat, cont))

    def _draw(self, inputs: torch.Tensor) -> torch.Tensor:
        """G's pictures of ``inputs`` (G's moving average with tricks.g_ema on: every picture, grid and
        measure is drawn through here), batch norm at the reference batch's statistics."""
        with self.tricks.g_ema.averaged(self), batch_norm_state_kept(self.G) as bns:
            if any(m.training for m in bns):
                for m in bns:
                    m.momentum = 1.0   # one pass leaves exactly the reference batch's statistics
                self.G(self.reference_input)
                for m in bns:
                    m.eval()
            return torch.cat([self.G(chunk) for chunk in inputs.split(4096)])

    def traversal(self, z: torch.Tensor, code: int | None = None, values=None,
                  fixed: np.ndarray | None = None) -> tuple[torch.Tensor, int]:
        """(images, columns) of the paper's figures: one row per categorical value. ``code`` = j
        (1-based): continuous code j takes ``values`` along the row (default 8 from -2 to 2), the
        latent is z[0] and the other continuous codes are ``fixed`` (default 0). ``code`` = None:
        the columns are the latents z, the continuous codes ``fixed``."""
        k, c = self.code_sizes
        fixed = np.zeros(c, np.float32) if fixed is None else np.asarray(fixed, np.float32).reshape(c)
        z = z.to(self.device, torch.float32).reshape(-1, self.cfg.model.latent_dim)
        if code is None:
            cols = len(z)
            zs = z.repeat(k, 1)
            codes = np.tile(np.concatenate([[0.0], fixed]), (k * cols, 1))
        else:
            if not 1 <= code <= c:
                raise ConfigError(f"code {code} is not a continuous code of this run; choose 1..{c}" if c
                                  else "this run has no continuous codes (infogan.continuous = 0)")
            values = np.linspace(-2, 2, 8) if values is None else np.asarray(values, np.float64).ravel()
            cols = len(values)
            zs = z[:1].repeat(k * cols, 1)
            codes = np.tile(np.concatenate([[0.0], fixed]), (k * cols, 1))
            codes[:, code] = np.tile(values, k)
        codes[:, 0] = np.repeat(np.arange(k), cols)
        return self.generate(zs, codes), cols

    # -- evaluation -------------------------------------------------------------------------
    @torch.no_grad()
    def info_estimate(self, n: int = 512, generator: torch.Generator | None = None) -> dict[str, float]:
        """Q's code losses on n fresh prior samples and the mutual-information bounds they give:
        ``info_ce`` (nats), ``info_nll`` (nats, summed over codes), ``info_cat`` = (log K - CE) / log K."""
        g = generator or self.eval_generator(salt=3)
        z = torch.randn(n, self.cfg.model.latent_dim, generator=g, device=self.device)
        cat, cont = self.sample_codes(n, g)
        with batch_norm_state_kept(self.D):   # D's running statistics are the training's, untouched
            _, q = self.judge_fake(self._draw(self.g_input(z, cat, cont)), g)
        ce, nll = info_terms(self.q_main(q), cat, cont, self.cfg.infogan.cont_variance == "learned")
        log_k = math.log(self.code_sizes[0])
        return {"info_ce": round(float(ce), 5), "info_nll": round(float(nll), 5),
                "info_cat": round((log_k - float(ce)) / log_k, 5)}

    @torch.no_grad()
    def code_images(self, per_code: int = EVAL_PER_CODE) -> tuple[torch.Tensor, torch.Tensor]:
        """(categorical values (K * per_code,), images): per_code images per value, class-major,
        with random z and continuous codes from the evaluation RNG."""
        k, c = self.code_sizes
        g = self.eval_generator(salt=5)
        z = torch.randn(k * per_code, self.cfg.model.latent_dim, generator=g, device=self.device)
        cat = torch.arange(k, device=self.device).repeat_interleave(per_code)
        cont = torch.rand(k * per_code, c, generator=g, device=self.device) * 2 - 1
        return cat, self._draw(self.g_input(z, cat, cont))

    def code_confusion(self, per_code: int = EVAL_PER_CODE) -> np.ndarray | None:
        """(K, labels) counts: images drawn per categorical value (:meth:`code_images`) against the
        label the data set's metric classifier gives them; None without labels."""
        return self._confusion(*self.code_images(per_code)) if self.match_labels is not None else None

    def _confusion(self, cat: torch.Tensor, fake: torch.Tensor) -> np.ndarray:
        from gan_studio.core.metrics.codes import confusion_matrix
        from gan_studio.core.metrics.images import get_metric_model
        _, probs = get_metric_model(self.data).predict(fake)
        pred = probs[self.cfg.infogan.match].argmax(1)
        return confusion_matrix(cat.cpu().numpy(), pred.numpy(), self.code_sizes[0], len(self.match_names))

    @torch.no_grad()
    def q_codes(self, x: torch.Tensor) -> torch.Tensor:
        """Q's categorical code (argmax) of images x in [-1, 1], in batches of 500; read from the canonical
        view under q_invariance = canonical, as Q reads it in training (the random views of the other
        settings are not applied: Q reads the images themselves)."""
        view = self.real_view if self.cfg.infogan.q_invariance == "canonical" else (lambda v: v)
        return torch.cat([self._read_category(view(part.to(self.device))) for part in x.split(500)]).cpu()

    def evaluate(self, n: int = 2500) -> dict[str, Any]:
        """The plain image metrics (codes from the prior), ``info_*`` (:meth:`info_estimate`),
        ``code_ink_min`` and, on a labelled set, ``code_accuracy`` and ``q_accuracy`` (module
        docstring; chance about 1/K).

        ``code_ink_min``: the mean brightness of the dimmest code value's images as a share of the
        real images' (near 0: that value draws empty pictures, which a classifier still puts in some
        class, so code_accuracy is then flattered)."""
        from gan_studio.core.metrics.codes import confusion_matrix, matched_accuracy
        from gan_studio.core.metrics.images import N_IMAGE_EVAL, get_metric_model, image_report
        out: dict[str, Any] = {}
        # the same real images at every evaluation, so the curves move only with G and Q
        real_idx = torch.randperm(len(self.data.pixels), generator=torch.Generator().manual_seed(0))[:EVAL_REAL]
        real = to_float(self.data.pixels[real_idx.to(self.data.pixels.device)])
        cat, fake = self.code_images()
        ink = [float(((fake[cat == k] + 1) * 0.5).mean()) for k in range(self.code_sizes[0])]
        out["code_ink_min"] = round(min(ink) / max(float(((real + 1) * 0.5).mean()), 1e-6), 4)
        model = get_metric_model(self.data) if self.match_labels is not None else None
        if model is not None:
            m = min(n, N_IMAGE_EVAL)
            g = self.eval_generator()
            z = torch.randn(m, self.cfg.model.latent_dim, generator=g, device=self.device)
            codes = self.sample_codes(m, g)
            out.update(image_report(model, self._draw(self.g_input(z, *codes))))
            out["code_accuracy"] = round(matched_accuracy(self._confusion(cat, fake))[0], 4)
            conf = confusion_matrix(self.q_codes(real).numpy(), self.match_labels[real_idx].cpu().numpy(),
                                    self.code_sizes[0], len(self.match_names))
            out["q_accuracy"] = round(matched_accuracy(conf)[0], 4)
        out.update(self.info_estimate())
        return out


def _match_labels(data, match: str) -> tuple[torch.Tensor | None, list[str]]:
    """(labels, names) of the label set ``infogan.match`` on a labelled set; (None, []) on a set
    without labels (InfoGAN trains without them; the code is then not measured)."""
    from gan_studio.core.metrics.images import label_heads
    heads = label_heads(data) if data.kind == "image" else {}
    if not heads:
        return None, []
    if match not in heads:
        raise ConfigError(f"infogan.match = {match!r} is not a label set of data.name = {data.name!r}; "
                          f"choose one of: {', '.join(heads)}")
    labels, names = heads[match]
    return labels.cpu(), names


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{float(v):g}"


def _check(cfg: Config) -> None:
    """infogan.extra_categories, infogan.mismatch (which needs a conditioned D) and the size-blind settings
    (q_small, q_small_real, q_consistency: the canonical view) are checked by Config.validate, before a run is
    built, and again when an infogan setting is changed live."""
    if cfg.model.family == "infogan":
        extra_sizes(cfg.infogan, cfg.model.latent_dim)
        if cfg.infogan.q_small > 0 and cfg.infogan.q_invariance != "canonical":
            raise ConfigError(f"infogan.q_small = {cfg.infogan.q_small:g} redraws the pictures Q reads in the "
                              "canonical view: set infogan.q_invariance = 'canonical' (or q_small = 0)")
        if cfg.infogan.q_consistency > 0 and cfg.infogan.q_invariance != "canonical":
            raise ConfigError(f"infogan.q_consistency = {cfg.infogan.q_consistency:g} compares Q's canonical views of "
                              "real pictures: set infogan.q_invariance = 'canonical' (or q_consistency = 0)")
        if cfg.infogan.q_small_real and cfg.infogan.q_small <= 0:
            raise ConfigError("infogan.q_small_real = true reads real pictures as redrawn small, as Q reads the fakes "
                              "with q_small: set infogan.q_small above 0 (and q_invariance = 'canonical')")
        if cfg.infogan.mismatch > 0 and cfg.infogan.self_condition != "q":
            raise ConfigError(f"infogan.mismatch = {cfg.infogan.mismatch:g} judges real pictures with a wrong code, "
                              "which needs a conditioned D: set infogan.self_condition = 'q' (or mismatch = 0)")


register_family(InfoGANTrainer)
register_check(_check)
