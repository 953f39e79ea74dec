"""Run configuration: dataclasses with a comment on every default, JSON/TOML I/O, validation.

Every field carries its constraints in ``metadata`` (built by :func:`opt`), so one validator
checks them all and every error names the dotted key, the bad value and what is allowed.
The whole config is saved with each checkpoint so a run can be resumed and reproduced.

This module sits at the bottom of the core (it imports only ``errors`` and ``io``). What other
layers own is not listed here, they register it when they are imported (``presets.load_preset``
imports both registries): the data sets hand their names to :func:`register_choices` (until then
``data.name`` takes any name; building the data set refuses an unknown one with the same message);
the model families (:mod:`gan_studio.core.family_spec`) hand over their names (``model.family``),
their config sections (:func:`register_section`: ``[cgan]``, ``[ssl]``, ... are added to every
Config) and the check of what each family accepts (:func:`register_check`, run by ``validate``).
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import reprlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import tomli_w

from gan_studio.core.errors import ConfigError
from gan_studio.core.io import atomic_write_text


#: the largest |x| or |y| of data.points: the networks and the 2-D view work in float32, where
#: points far beyond this overflow (3e38 squared is inf) and the view cannot frame them
MAX_POINT = 1e6
#: longest run name (it names the run folder runs/NAME-YYYYmmdd-HHMMSS)
MAX_NAME = 100


def opt(default, doc: str, *, choices: Iterable | Callable[[], Iterable] | None = None,
        lo: float | None = None, hi: float | None = None, lo_open: bool = False,
        factory: Callable | None = None):
    """A dataclass field with its documentation and constraints."""
    meta = {"doc": doc, "choices": choices, "lo": lo, "hi": hi, "lo_open": lo_open}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


#: dotted key -> the function that lists its allowed names, given by the layer that owns them
_CHOICE_SOURCES: dict[str, Callable[[], Iterable[str]]] = {}


def register_choices(key: str, names: Callable[[], Iterable[str]]) -> None:
    """Let ``key`` (``data.name``, ``model.family``) take the names ``names()`` lists, asked at each check."""
    _CHOICE_SOURCES[key] = names


def _registered(key: str) -> Callable[[], Iterable[str] | None]:
    """The choices of ``key`` as its registry lists them; None (any name) before the registry is imported."""
    def names():
        source = _CHOICE_SOURCES.get(key)
        return tuple(source()) if source is not None else None
    return names


#: whole-config checks owned by other layers (what the model family accepts), run by Config.validate
_CHECKS: list[Callable[["Config"], None]] = []


def register_check(check: Callable[["Config"], None]) -> None:
    """Run ``check(cfg)`` at the end of every ``Config.validate()``; it raises ConfigError."""
    if check not in _CHECKS:
        _CHECKS.append(check)


#: section name -> its dataclass: the sections model families add (see register_section)
_SECTIONS: dict[str, type] = {}


LOSSES = ("minimax", "non-saturating", "least-squares", "hinge", "wgan", "wgan-gp")
LOSS_ALIASES = {"ns": "non-saturating", "nsgan": "non-saturating", "gan": "minimax",
                "lsgan": "least-squares", "ls": "least-squares", "wgan-clip": "wgan"}
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu", "gelu", "silu")
#: how the DCGAN generator doubles its maps, and what keeps the DCGAN discriminator in range (nets/dcgan.py)
G_UPSAMPLES = ("transpose", "resize")
D_NORMS = ("batch", "spectral")


@dataclass
class DataConfig:
    name: str = opt("ring8", "data set: 2-D toys (ring8, grid25, ring8-wide, spiral, moons, points) "
                    "or an image set", choices=_registered("data.name"))
    path: str = opt("", "CSV of x,y rows for `points`; the data folder for folder-based image sets")
    points: list = opt(None, "inline [[x, y], ...] for `points` (the window's drawn set)", factory=list)
    sigma: float = opt(0.02, "std of the Gaussian around each point of `points`; noise of spiral/moons",
                       lo=0.0, lo_open=True, hi=10.0)
    image_size: int = opt(32, "image side in pixels for image sets", choices=(8, 16, 32, 64))
    channels: int = opt(0, "image channels: 0 = the data set's own, 1 = grey, 3 = colour",
                        choices=(0, 1, 3))
    download: bool = opt(False, "let torchvision download MNIST/CIFAR when there is a network")
    num_images: int = opt(0, "images drawn for procedural sets (shapes); 0 = the set's default (12,000)",
                          lo=0, hi=1_000_000)
    domain_a: str = opt("", "model.family = cyclegan: domain A, the images of the set that pass a filter: "
                        "attributes of shapes ('shape=circle', 'shape=square,colour=red'), a class ('red circle'), "
                        "or, for data.name = folder, a sub-folder of data.path ('trainA')")
    domain_b: str = opt("", "model.family = cyclegan: domain B, a filter as data.domain_a ('shape=square')")


@dataclass
class ModelConfig:
    family: str = opt("gan", "model family: gan (one G, one D, every trick) or one that a module of "
                      "core/families adds (cgan: label-conditioned, ssl: semi-supervised K+1 D, lapgan: "
                      "Laplacian pyramid, stackgan: text-conditioned in two stages, ...)",
                      choices=_registered("model.family"))
    arch: str = opt("mlp", "network family: mlp (2-D and small images), dcgan (images), or torchscript "
                    "(a generator imported from another program; sampling only)",
                    choices=("mlp", "dcgan", "torchscript"))
    latent_dim: int = opt(16, "size of z ~ N(0, I)", lo=1, hi=4096)
    g_depth: int = opt(3, "hidden layers of the MLP generator", lo=1, hi=16)
    g_width: int = opt(128, "units per hidden layer of the MLP generator", lo=1, hi=8192)
    g_activation: str = opt("relu", "activation of the MLP generator", choices=ACTIVATIONS)
    d_depth: int = opt(3, "hidden layers of the MLP discriminator", lo=1, hi=16)
    d_width: int = opt(128, "units per hidden layer of the MLP discriminator", lo=1, hi=8192)
    d_activation: str = opt("leaky_relu", "activation of the MLP discriminator", choices=ACTIVATIONS)
    data_scale: float = opt(1.0, "MLPs on 2-D data work in units of this: G's output is multiplied by it "
                            "and D's input divided by it, so a wide layout (grid25 spans -4..4) looks "
                            "like a unit-sized one to the networks", lo=0.0, lo_open=True, hi=1e4)
    latent_prior: str = opt("normal", "the latent the MLP generator sees: normal (z ~ N(0, I) as drawn) or "
                            "uniform (each z_i mapped through the normal CDF to U(-1, 1), the prior DCGAN "
                            "draws; latents are still drawn normal everywhere, so grids, the latent lab and "
                            "resume work alike). Plain family, model.arch = 'mlp' only",
                            choices=("normal", "uniform"))
    ngf: int = opt(64, "DCGAN generator feature maps (pytorch/examples: 64)", lo=1, hi=1024)
    ndf: int = opt(64, "DCGAN discriminator feature maps", lo=1, hi=1024)
    g_bn_stats: str = opt("batch", "DCGAN generator's batch norm: batch (statistics of each batch, as in "
                          "training) or running (stored averages: imported generators)",
                          choices=("batch", "running"))
    g_upsample: str = opt("transpose", "how the DCGAN generator doubles its maps: transpose (4x4 stride-2 "
                          "transposed convolution, as in DCGAN) or resize (nearest up-sampling and a 3x3 "
                          "convolution: no checkerboard speckle, Odena et al. 2016)",
                          choices=G_UPSAMPLES)
    d_norm: str = opt("batch", "what keeps the DCGAN discriminator in range: batch (batch norm, as in DCGAN) or "
                      "spectral (spectral normalisation of every layer, Miyato et al. 2018; no batch norm)",
                      choices=D_NORMS)
    script_path: str = opt("", "torchscript: the scripted generator file, relative to the run folder")


@dataclass
class TrainConfig:
    batch_size: int = opt(256, "samples per batch for D and G", lo=2, hi=1 << 16)
    lr_g: float = opt(1e-3, "generator Adam learning rate (TTUR: may differ from lr_d)", lo=0.0,
                      lo_open=True, hi=1.0)
    lr_d: float = opt(1e-3, "discriminator Adam learning rate", lo=0.0, lo_open=True, hi=1.0)
    beta1_g: float = opt(0.5, "generator Adam beta1 (DCGAN: 0.5)", lo=0.0, hi=0.9999)
    beta2_g: float = opt(0.999, "generator Adam beta2", lo=0.0, hi=0.99999)
    beta1_d: float = opt(0.5, "discriminator Adam beta1", lo=0.0, hi=0.9999)
    beta2_d: float = opt(0.999, "discriminator Adam beta2", lo=0.0, hi=0.99999)
    d_steps: int = opt(1, "D updates per G update (WGAN: 5)", lo=1, hi=100)
    lr_decay_start: int = opt(0, "step at which both learning rates start a linear decay, so the "
                              "players settle on sharp modes at the end of a run (0 = constant rates)",
                              lo=0, hi=10**9)
    lr_decay_steps: int = opt(1000, "steps over which the rates fall to lr_decay_final times their value",
                              lo=1, hi=10**9)
    lr_decay_final: float = opt(0.01, "the rates' final factor after the decay", lo=0.0, hi=1.0)
    gp_weight: float = opt(10.0, "WGAN-GP gradient penalty weight lambda", lo=0.0, hi=1e4)
    clip: float = opt(0.01, "WGAN weight clipping bound c", lo=0.0, lo_open=True, hi=10.0)
    seed: int = opt(0, "seed of every random number in the run", lo=0, hi=2**63 - 1)
    device: str = opt("auto", "auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    fast_paths: bool = opt(True, "the speed paths of core/fast: each MLP's layers as one fused autograd node "
                           "and Adam's fused kernel called directly, the unrolled look-ahead and minibatch "
                           "discrimination's closeness sums by hand; false: plain nn.Linear modules under "
                           "autograd and torch.optim.Adam(fused=True), the same maths to float rounding "
                           "(for checking and debugging)")
    amp: str = opt("auto", "mixed precision of the forward passes: off, bf16 (autocast to bfloat16), fp16 "
                   "(float16 with a gradient scaler), or auto: bf16 (fp16 where the GPU lacks bfloat16) for "
                   "convolutional nets on a CUDA GPU, off on the CPU and for the 2-D MLPs; the plain GAN "
                   "family's step only", choices=("auto", "off", "bf16", "fp16"))
    channels_last: str = opt("auto", "channels-last memory format for the DCGAN networks and images: on, off, "
                             "or auto (on on a CUDA GPU, off on the CPU)", choices=("auto", "on", "off"))
    cuda_graphs: str = opt("auto", "auto: on a CUDA GPU the plain step (every trick off, amp not fp16) is "
                           "captured once as a CUDA graph and replayed, so the host launches it at once "
                           "instead of kernel by kernel; off: always the eager step", choices=("auto", "off"))
    log_every: int = opt(25, "steps between rows of metrics.jsonl", lo=1, hi=10**9)
    eval_every: int = opt(250, "steps between mode/image metrics (2,500 samples)", lo=1, hi=10**9)
    snapshot_every: int = opt(500, "steps between PNG snapshots in the run folder", lo=1, hi=10**9)
    checkpoint_every: int = opt(1000, "steps between checkpoints", lo=1, hi=10**9)
    keep_samples_at: list = opt(None, "steps at which a 2-D run keeps G's points on a fixed latent batch in "
                                "its folder (samples/step_XXXXXXXX.npy) for `gan-studio figure timeline`, "
                                "e.g. [0, 5000, 10000]; [] keeps none", factory=list)
    fork_keep: int = opt(5, "evaluations whose full state (G, D, optimisers, trick state, RNG) a run keeps to "
                         "fork from: the last N, as forks/step_XXXXXXXX.pt in the run folder (the window keeps "
                         "them in memory); the last checkpoint can always be forked (0 = keep none)",
                         lo=0, hi=1000)
    switch_fade_steps: int = opt(200, "steps over which a live switch that changes layers (packing, "
                                 "normalisation) fades from the old method to the new one, so D is "
                                 "not restarted (0 = at once)", lo=0, hi=10**6)


# -- tricks: one sub-dataclass per trick. The docstring is the window's tooltip (why it helps);
# GROUP places it in the tricks panel; ARCHS (when set) names the model.arch values it works with.
# Every trick is off by default, so a preset that says
# nothing about tricks trains the plain GAN.
NORM_KINDS = ("none", "batch", "separate-batch", "virtual-batch", "instance")


@dataclass
class LabelSmoothingTrick:
    """Aim D at a real target of alpha < 1 so it cannot grow over-confident and give G extreme or
    vanishing gradients; the fake target stays 0 (two-sided smoothing also lifts it, which rewards
    G's mistakes: offered only for comparison). Only minimax, non-saturating and least squares use
    targets."""
    GROUP = "Labels and loss"
    enabled: bool = opt(False, "use smoothed targets for D")
    real_target: float = opt(0.9, "D's target for real samples, alpha (Salimans et al.: 0.9)", lo=0.5, hi=1.0)
    two_sided: bool = opt(False, "also move the fake target away from 0 (for comparison; not advised)")
    fake_target: float = opt(0.1, "D's target for fake samples when two_sided is on", lo=0.0, hi=0.5)


@dataclass
class NormalizationTrick:
    """Normalising hidden layers keeps activations in range so both players learn at a steady pace;
    separate batch norms for real and fake batches, virtual batch norm (each example normalised with
    a fixed reference batch) and instance norm stop the statistics of one batch from leaking into
    every example's output, which batch norm does. In the MLPs 'instance' is layer norm: a
    feature vector has no spatial positions, so instance norm has no meaning there."""
    GROUP = "Normalisation"
    ARCHS = ("mlp",)   # it plugs layers into the studio's MLPs: no other network has a place for it
    enabled: bool = opt(False, "normalise the hidden layers of D and G")
    d: str = opt("separate-batch", "normalisation in D", choices=NORM_KINDS)
    g: str = opt("batch", "normalisation in G ('separate-batch' is plain batch norm there: G sees "
                 "only fake batches)", choices=NORM_KINDS)
    reference_size: int = opt(64, "size of the fixed reference batch of virtual batch norm", lo=1, hi=4096)


@dataclass
class HistoricalAveragingTrick:
    """Adds ||theta - mean of past theta||^2 to each player's cost, which damps the oscillations
    that keep gradient descent from settling at the game's equilibrium."""
    GROUP = "Memory"
    enabled: bool = opt(False, "pull each player towards its own running average")
    weight: float = opt(1e-3, "weight of the penalty", lo=0.0, lo_open=True, hi=100.0)
    players: str = opt("both", "which players get the penalty", choices=("both", "d", "g"))


@dataclass
class ReplayTrick:
    """Shows D some old generated samples with every batch, so G cannot win by hopping back to a
    mode D has forgotten about."""
    GROUP = "Memory"
    enabled: bool = opt(False, "mix old fake samples into D's fake batch")
    buffer_size: int = opt(10000, "generated samples kept in the replay buffer", lo=1, hi=10**7)
    fraction: float = opt(0.25, "share of D's fake batch drawn from the buffer", lo=0.0, hi=1.0)


@dataclass
class CheckpointSwapTrick:
    """Now and then trains one player for a few steps against an old snapshot of the other, so
    neither can over-fit to its opponent's latest weakness."""
    GROUP = "Memory"
    enabled: bool = opt(False, "swap an old snapshot in now and then")
    player: str = opt("d", "which player is swapped for an old snapshot", choices=("d", "g"))
    interval: int = opt(500, "steps between snapshots, and between swaps", lo=2, hi=10**7)
    duration: int = opt(25, "steps an old snapshot stays in (it is not trained meanwhile)", lo=1, hi=10**6)
    snapshots: int = opt(5, "snapshots kept (the oldest is dropped)", lo=1, hi=100)


@dataclass
class MinibatchDiscriminationTrick:
    """Lets D compare each sample with the rest of its batch (learned closeness features), so a
    batch of near-identical fakes is easy to spot and a collapsing G is punished. Every pair of
    samples is compared in every kernel, so it is the costliest trick per step."""
    GROUP = "What D sees"
    ARCHS = ("mlp",)   # it plugs layers into the studio's MLPs: no other network has a place for it
    enabled: bool = opt(False, "add minibatch features to D's last layer")
    kernels: int = opt(100, "B: number of closeness kernels (Salimans et al.: 100)", lo=1, hi=1024)
    kernel_dim: int = opt(5, "C: dimension of each kernel (Salimans et al.: 5)", lo=1, hi=256)


@dataclass
class FeatureMatchingTrick:
    """G matches the mean of an intermediate D layer on real data instead of fooling D's output,
    a target that does not move as fast and so is harder to over-train against."""
    GROUP = "Labels and loss"
    enabled: bool = opt(False, "train G to match D's mean features of real data")
    weight: float = opt(1.0, "weight of ||E f(x) - E f(G(z))||^2", lo=0.0, lo_open=True, hi=1e4)
    replace_loss: bool = opt(True, "true: G's loss is feature matching alone; false: added to G's loss")


@dataclass
class PackingTrick:
    """D judges m samples at once (all real or all fake), so it sees the spread of a set and a
    collapsed G, whose packs look alike, is easy to tell apart (PacGAN)."""
    GROUP = "What D sees"
    ARCHS = ("mlp",)   # it plugs layers into the studio's MLPs: no other network has a place for it
    enabled: bool = opt(False, "feed D packs of m samples")
    m: int = opt(2, "samples per pack (PacGAN: 2 to 4); the batch size must be a multiple of it",
                 lo=2, hi=16)


@dataclass
class InstanceNoiseTrick:
    """Adds decaying Gaussian noise to everything D sees, so the real and fake distributions
    overlap early on and D's gradients stay informative."""
    GROUP = "What D sees"
    enabled: bool = opt(False, "add noise to D's inputs")
    sigma: float = opt(0.1, "initial noise standard deviation", lo=0.0, hi=10.0)
    anneal_steps: int = opt(2000, "steps over which sigma falls linearly to the floor (0: stays constant)",
                            lo=0, hi=10**8)
    floor: float = opt(0.0, "the noise it falls to and then keeps (0: none once annealed)", lo=0.0, hi=10.0)


@dataclass
class UnrolledTrick:
    """G is trained against D as it will be after k more updates, with G's gradient flowing
    through those updates, so G is punished for moves D would soon answer (such as collapsing
    onto one mode). 'copy-d' is the common cheaper approximation that updates a copy of D and
    ignores that gradient: a weaker, different method."""
    GROUP = "Unrolling"
    enabled: bool = opt(False, "unroll D's updates in G's loss")
    k: int = opt(5, "unrolled D updates (Metz et al.: up to 10)", lo=1, hi=50)
    method: str = opt("second-order", "second-order (the paper) or copy-d (first-order approximation)",
                      choices=("second-order", "copy-d"))


@dataclass
class TwoTimeScaleTrick:
    """Gives D and G their own learning rates (and D several steps per G step), so D tracks the
    moving generator closely, which makes training converge (TTUR, Heusel et al.)."""
    GROUP = "Optimisation"
    enabled: bool = opt(False, "use these rates and D steps instead of train.lr_d, train.lr_g, train.d_steps")
    lr_d: float = opt(4e-4, "discriminator learning rate", lo=0.0, lo_open=True, hi=1.0)
    lr_g: float = opt(1e-4, "generator learning rate", lo=0.0, lo_open=True, hi=1.0)
    d_steps: int = opt(1, "D updates per G update", lo=1, hi=100)


@dataclass
class GEmaTrick:
    """Samples and metrics come from an exponential moving average of G's weights instead of its
    latest ones, which smooths out the last updates' back-and-forth around the equilibrium and puts
    the samples closer to the modes, while training still uses and updates the live G (Yazici et
    al., 2019; used by ProGAN, StyleGAN and BigGAN)."""
    GROUP = "Memory"
    enabled: bool = opt(False, "sample and evaluate with the averaged G")
    decay: float = opt(0.999, "weight of the old average at each G step: avg <- decay*avg + (1-decay)*G "
                       "(0.999 averages over about the last 1,000 steps)", lo=0.0, hi=0.99999)


@dataclass
class TricksConfig:
    """The tricks of the trade; each can be turned on, off or re-tuned while a run is training."""
    label_smoothing: LabelSmoothingTrick = opt(None, "label smoothing", factory=LabelSmoothingTrick)
    feature_matching: FeatureMatchingTrick = opt(None, "feature matching", factory=FeatureMatchingTrick)
    normalization: NormalizationTrick = opt(None, "normalisation layers", factory=NormalizationTrick)
    minibatch_discrimination: MinibatchDiscriminationTrick = opt(
        None, "minibatch discrimination", factory=MinibatchDiscriminationTrick)
    packing: PackingTrick = opt(None, "packing (PacGAN)", factory=PackingTrick)
    instance_noise: InstanceNoiseTrick = opt(None, "instance noise", factory=InstanceNoiseTrick)
    historical_averaging: HistoricalAveragingTrick = opt(None, "historical averaging",
                                                         factory=HistoricalAveragingTrick)
    replay: ReplayTrick = opt(None, "experience replay", factory=ReplayTrick)
    checkpoint_swap: CheckpointSwapTrick = opt(None, "checkpoint swapping", factory=CheckpointSwapTrick)
    unrolled: UnrolledTrick = opt(None, "unrolled GAN", factory=UnrolledTrick)
    two_time_scale: TwoTimeScaleTrick = opt(None, "two time-scale update rule", factory=TwoTimeScaleTrick)
    g_ema: GEmaTrick = opt(None, "moving average of G's weights for sampling", factory=GEmaTrick)


@dataclass
class Config:
    name: str = opt("custom", "a label for the run")
    description: str = opt("", "one line shown by `gan-studio presets`")
    loss: str = opt("non-saturating", "GAN loss", choices=LOSSES)
    data: DataConfig = opt(None, "data set", factory=DataConfig)
    model: ModelConfig = opt(None, "networks", factory=ModelConfig)
    train: TrainConfig = opt(None, "optimisation and logging", factory=TrainConfig)
    tricks: TricksConfig = opt(None, "tricks of the trade, switchable while training",
                               factory=lambda: TricksConfig())
    # the model families' own sections ([cgan], [ssl], ...) follow: see register_section

    def __getattr__(self, name: str):
        """A family section registered after this Config was made: its defaults, from now on kept."""
        cls = _SECTIONS.get(name)
        if cls is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        section = self.__dict__[name] = cls()
        return section

    def __eq__(self, other) -> bool:
        return isinstance(other, Config) and self.to_dict() == other.to_dict()

    # -- I/O -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        cfg = cls()
        _merge(cfg, d, "")
        cfg.validate()
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> "Config":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path} is not UTF-8 text (byte {e.start}): a config file must be "
                              "UTF-8 JSON or TOML") from None
        return cls.from_dict(parse_config_text(text, "toml" if path.suffix.lower() == ".toml" else "json", str(path)))

    def dumps(self, fmt: str = "json") -> str:
        d = self.to_dict()
        if fmt == "toml":
            return tomli_w.dumps(_drop_none(d))
        return json.dumps(d, indent=2)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        atomic_write_text(path, self.dumps("toml" if path.suffix.lower() == ".toml" else "json"))

    def copy(self) -> "Config":
        return Config.from_dict(self.to_dict())

    # -- overrides -------------------------------------------------------------------------
    def set(self, key: str, value: Any) -> None:
        """Set a dotted key (``train.lr_d``); a string value is parsed to the field's type."""
        obj, name = _resolve(self, key)
        f = {f.name: f for f in dataclasses.fields(obj)}[name]
        old = getattr(obj, name)
        setattr(obj, name, _coerce(key, value, f, old))
        try:
            _validate_field(obj, f, key)
        except ConfigError:
            setattr(obj, name, old)
            raise

    def get(self, key: str) -> Any:
        obj, name = _resolve(self, key)
        return getattr(obj, name)

    def validate(self) -> None:
        self.loss = LOSS_ALIASES.get(self.loss, self.loss)
        _validate(self, "")
        for check in _CHECKS:   # what the model family accepts (family_spec.check_config)
            check(self)


def differing_settings(cfg: Config, base: Config) -> list[tuple[str, Any, Any]]:
    """(dotted key, value in ``cfg``, value in ``base``) of every setting where the two differ, in
    the config's order (name and description included: they are part of what a run saves)."""
    out: list[tuple[str, Any, Any]] = []

    def walk(a: dict, b: dict, prefix: str) -> None:
        for key, value in a.items():
            if isinstance(value, dict) and isinstance(b.get(key), dict):
                walk(value, b[key], f"{prefix}{key}.")
            elif value != b.get(key):
                out.append((prefix + key, value, b.get(key)))
    walk(cfg.to_dict(), base.to_dict(), "")
    return out


def register_section(name: str, cls: type, doc: str) -> None:
    """Add the section ``[name]`` (the dataclass ``cls``) to every Config, made before or after: a
    model family's own settings, read as ``cfg.<name>``, saved, loaded, validated, documented and
    shown in the window like the built-in sections. Its fields use :func:`opt` like any other."""
    if name not in _SECTIONS and name in {f.name for f in dataclasses.fields(Config)}:
        raise ValueError(f"{name!r} is one of the config's own keys; a family section needs another name")
    # a real dataclass Field (name, type, factory, metadata) made by dataclasses itself, so fields(),
    # asdict() and every walk over the config see the section as one of Config's own
    holder = dataclasses.make_dataclass("_Section", [(name, cls, opt(None, doc, factory=cls))])
    Config.__dataclass_fields__[name] = dataclasses.fields(holder)[0]
    _SECTIONS[name] = cls


def parse_config_text(text: str, fmt: str = "json", source: str = "the config") -> dict:
    """JSON or TOML text as a dict; anything else (bad syntax, nesting deeper than the parser can
    follow, a 5,000-digit number, not a table at the top) raises ConfigError naming ``source``."""
    try:
        d = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except RecursionError:
        raise ConfigError(f"{source} is nested too deeply to be a config") from None
    except ValueError as e:   # TOMLDecodeError, JSONDecodeError, integer digit limits
        first = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise ConfigError(f"{source} is not valid {fmt.upper()}: {first}") from None
    if not isinstance(d, dict):
        raise ConfigError(f"{source} must hold a table/object at the top level")
    return d


def config_from_json(text: str, source: str = "the config") -> "Config":
    """A Config from JSON text (a checkpoint's config_json); every failure is a ConfigError."""
    return Config.from_dict(parse_config_text(text, "json", source))


def check_points(points, key: str = "data.points") -> None:
    """Each point a pair [x, y] of finite numbers within +-MAX_POINT; a ConfigError names the first
    that is not."""
    if not isinstance(points, (list, tuple)):
        raise ConfigError(f"{key} = {_show(points)}: expected a list of [x, y] pairs")
    for i, p in enumerate(points):
        if (not isinstance(p, (list, tuple)) or len(p) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)):
            raise ConfigError(f"{key}[{i}] = {_show(p)}: each point must be [x, y], two numbers")
        try:
            x, y = float(p[0]), float(p[1])
        except OverflowError:   # an int too large for a float
            x = y = math.inf
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ConfigError(f"{key}[{i}] = {_show(p)}: coordinates must be finite numbers")
        if abs(x) > MAX_POINT or abs(y) > MAX_POINT:
            raise ConfigError(f"{key}[{i}] = {_show(p)}: coordinates must lie within +-{MAX_POINT:g} "
                              "(scale your points down)")


#: most steps train.keep_samples_at may list
MAX_KEPT_STEPS = 1000


def check_steps(steps, key: str = "train.keep_samples_at") -> list[int]:
    """A list of step numbers (whole numbers from 0 to 10**9, at most MAX_KEPT_STEPS of them), sorted
    and without repeats; a ConfigError names the first entry that is not one."""
    if not isinstance(steps, (list, tuple)):
        raise ConfigError(f"{key} = {_show(steps)}: expected a list of steps, e.g. [0, 5000, 10000]")
    for i, s in enumerate(steps):
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= 10**9:
            raise ConfigError(f"{key}[{i}] = {_show(s)}: each entry must be a step, a whole number "
                              "from 0 to 1000000000")
    out = sorted(set(steps))
    if len(out) > MAX_KEPT_STEPS:
        raise ConfigError(f"{key} lists {len(out)} steps; at most {MAX_KEPT_STEPS} are kept")
    return out


def check_run_name(name: str, key: str = "name") -> None:
    """A run name becomes a folder name: letters, digits, '-', '_', '.', spaces; no leading dot."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{key} = {_show(name)}: a run needs a name")
    bad = sorted({c for c in name if not (c.isalnum() or c in "-_. ")})
    if bad or name.startswith(".") or len(name) > MAX_NAME or not name.isprintable():
        why = (f"it holds {_show(''.join(bad))}" if bad else "it starts with a dot" if name.startswith(".")
               else f"it is longer than {MAX_NAME} characters" if len(name) > MAX_NAME else "")
        raise ConfigError(f"{key} = {_show(name)} is not allowed ({why}); a run name names its folder: "
                          "use letters, digits, '-', '_', '.' and spaces, not starting with a dot")


_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device_name(name: str) -> None:
    """The form of a device name (whether that device is present is core/device.py's question)."""
    if not _DEVICE_RE.match(name or ""):
        raise ConfigError(f"train.device = {name!r} is not allowed; choose auto, cpu, cuda, cuda:N or mps")


def parse_override(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise ConfigError(f"--set expects KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def field_docs(obj=None, prefix: str = "") -> dict[str, str]:
    """Dotted key -> one-line doc, for help texts and tooltips."""
    obj = obj if obj is not None else Config()
    out = {}
    for f in dataclasses.fields(obj):
        val = getattr(obj, f.name)
        key = prefix + f.name
        if dataclasses.is_dataclass(val):
            out.update(field_docs(val, key + "."))
        else:
            out[key] = f.metadata.get("doc", "")
    return out


# -- internals ------------------------------------------------------------------------------
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, 80, 80, 40


def _show(value) -> str:
    """repr for a message: short and safe for any input (deep nesting, huge numbers, long text)."""
    try:
        return _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a message must never fail
        return f"<{type(value).__name__}>"


def _known(obj) -> str:
    return ", ".join(f.name for f in dataclasses.fields(obj))


def _unknown(key: str, name: str, where: str, obj) -> ConfigError:
    """An unknown key, with the closest of the section's keys when one is close (``train.lrd``: did
    you mean train.lr_d?), then all of them."""
    import difflib
    names = [f.name for f in dataclasses.fields(obj)]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = ""
    if close:
        prefix = "" if where == "the top level" else where + "."
        hint = f" (did you mean {prefix}{close[0]}?)"
    return ConfigError(f"unknown config key {key!r}{hint}: {where} has {', '.join(names)}")


def _resolve(cfg, key: str):
    parts = key.split(".")
    obj = cfg
    for i, p in enumerate(parts):
        names = {f.name for f in dataclasses.fields(obj)}
        if p not in names:
            raise _unknown(key, p, ".".join(parts[:i]) or "the top level", obj)
        if i == len(parts) - 1:
            if dataclasses.is_dataclass(getattr(obj, p)):
                raise ConfigError(f"config key {key!r} is a section; set one of its keys: "
                                  f"{_known(getattr(obj, p))}")
            return obj, p
        obj = getattr(obj, p)
        if not dataclasses.is_dataclass(obj):
            raise ConfigError(f"unknown config key {key!r}: {'.'.join(parts[:i + 1])} is a value")
    raise ConfigError(f"empty config key {key!r}")


def _merge(obj, d: dict, prefix: str) -> None:
    if not isinstance(d, dict):
        raise ConfigError(f"config section {prefix.rstrip('.') or 'top'} must be a table, got {_show(d)}")
    fields = {f.name: f for f in dataclasses.fields(obj)}
    for k, v in d.items():
        key = prefix + k
        if k not in fields:
            raise _unknown(key, k, prefix.rstrip(".") or "the top level", obj)
        cur = getattr(obj, k)
        if dataclasses.is_dataclass(cur):
            _merge(cur, v, key + ".")
        else:
            setattr(obj, k, _coerce(key, v, fields[k], cur))


def _coerce(key: str, value: Any, f: dataclasses.Field, current: Any) -> Any:
    kind = type(current) if current is not None else str
    if isinstance(value, str) and kind is not str:
        text = value.strip()
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):   # not JSON, too deep, or digits past int's limit
            if kind is list and "," in text:   # --set train.keep_samples_at=0,100,300: each item checked below
                value = [_parse_item(item) for item in text.split(",")]
            elif text.lower() in ("true", "yes", "on"):
                value = True
            elif text.lower() in ("false", "no", "off"):
                value = False
            else:
                try:
                    value = float(text)
                except ValueError:
                    what = "a list, e.g. [0, 100, 300] or 0,100,300" if kind is list else kind.__name__
                    raise ConfigError(f"{key} = {_show(text)}: expected {what}") from None
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} = {_show(value)}: expected true or false")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                (isinstance(value, float) and not value.is_integer()):
            raise ConfigError(f"{key} = {_show(value)}: expected a whole number")
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} = {_show(value)}: expected a number")
        return float(value)
    if kind is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} = {_show(value)}: expected a list, e.g. [0, 100, 300] or 0,100,300")
        return list(value)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} = {_show(value)}: expected text")
        return value
    return value


def _parse_item(text: str) -> Any:
    """One item of a comma-separated list: a JSON value (a number, true, "text") or else the bare text,
    left for the field's own check to accept or name (``train.keep_samples_at[1] = 'x': ...``)."""
    text = text.strip()
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def _validate_field(obj, f: dataclasses.Field, key: str) -> None:
    v = getattr(obj, f.name)
    m = f.metadata
    choices = m.get("choices")
    if callable(choices):
        choices = choices()
    if key == "loss" and isinstance(v, str):
        v = LOSS_ALIASES.get(v, v)
        setattr(obj, f.name, v)
    if choices is not None and v not in tuple(choices):
        allowed = ", ".join(str(c) for c in choices)
        raise ConfigError(f"{key} = {_show(v)} is not allowed; choose one of: {allowed}")
    if isinstance(v, float) and not math.isfinite(v):
        raise ConfigError(f"{key} = {_show(v)}: must be a finite number")
    lo, hi = m.get("lo"), m.get("hi")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if lo is not None and (v < lo or (m.get("lo_open") and v == lo)):
            op = ">" if m.get("lo_open") else ">="
            rng = f"{op} {lo}" + (f" and <= {hi}" if hi is not None else "")
            raise ConfigError(f"{key} = {_show(v)} is out of range; must be {rng}")
        if hi is not None and v > hi:
            raise ConfigError(f"{key} = {_show(v)} is out of range; must be <= {hi}")
    if key == "train.device":
        check_device_name(v)
    elif key == "name":
        check_run_name(v)
    elif key == "data.points":
        check_points(v)
    elif key == "train.keep_samples_at":
        setattr(obj, f.name, check_steps(v, key))


def _validate(obj, prefix: str) -> None:
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if dataclasses.is_dataclass(v):
            _validate(v, prefix + f.name + ".")
        else:
            _validate_field(obj, f, prefix + f.name)
    check = getattr(obj, "check", None)
    if callable(check):
        check(prefix)


def _drop_none(d):
    if isinstance(d, dict):
        return {k: _drop_none(v) for k, v in d.items() if v is not None}
    return d
