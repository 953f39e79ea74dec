"""What a model family declares, as data: no torch, no Qt, so the config, the window and the
session read it without building a Trainer.

A family is one module (the plain GAN's is ``training/trainer.py``, the others are in
``core/families/``): a Trainer subclass whose class attribute ``FAMILY`` is a :class:`FamilySpec`,
registered with :func:`gan_studio.core.families.registry.register_family`. The spec declares:

- ``section``: its config section, a dataclass of ``opt(...)`` fields, added to every Config as
  ``[<name>]`` (:func:`gan_studio.core.config.register_section`); ``live``: the fields of it that
  apply while training. Every other field of the section, the keys in ``reset`` and the base keys
  of :data:`NEEDS_RESET` need a new run (Reset): :func:`needs_reset` answers for the window and the
  Trainer alike.
- ``tricks``: the tricks it supports (None: all). Switching another one on is refused by
  ``Config.validate`` (:func:`check_config`) and by ``Trainer.apply_setting`` before anything runs;
  the window shows only these. ``losses`` (None: all) and ``archs`` (the ``model.arch`` values it
  builds; None: it does not read ``model.arch``) are checked the same way.
- ``plot``: the extra live plot, the numbers of ``evaluate()`` it draws; ``grid``: what a row of
  the image grid holds; ``capabilities``: what else the Trainer offers (:data:`CAPABILITIES`);
  ``image_metrics``: whether ``evaluate()`` on images reports the classifier metrics of G's samples.

The plain GAN's spec (:data:`GAN`) is registered here, so ``model.family = "gan"`` is always known.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

from gan_studio.core import config
from gan_studio.core.errors import ConfigError

#: keys that change the networks or the data with every family: they need a new Trainer (Reset).
#: train.fast_paths: which code path builds the networks and optimisers (see core/fast); a new run
#: with the other path gives the same numbers, so a live switch would buy nothing. train.amp and
#: train.channels_last: the precision and memory format the networks are set up with.
NEEDS_RESET = ("data.", "model.", "train.seed", "train.device", "train.batch_size", "train.fast_paths",
               "train.amp", "train.channels_last")

#: capability -> what the family's Trainer then offers besides the plain Trainer's interface
CAPABILITIES = {
    "conditioned": "generate(z, condition) takes a condition besides z (a label, a caption); the latent "
                   "lab passes it through",
    "labels": "G draws a chosen class: class_names, num_classes, default_labels(n), fixed_labels, "
              "generate(z, labels); class_names_note: what to know of the names ('' when they are the run's "
              "own; else why they are indices)",
    "text": "G draws a typed caption: vocabulary, captions, display_captions, encode_caption(text), "
            "render_caption(text, n), generate(z, captions)",
    "levels": "a pyramid of resolutions: level_sizes, render_levels(z), render_residuals(z), level_grid(z)",
    "classifier": "D also classifies the data set's classes: label_names, classify(x), classify_baseline(x)",
    "translation": "image to image between two domains A and B: domain_names, real_images(domain, n), "
                   "translate(x, direction) -> (translation, reconstruction)",
    "codes": "G's input has interpretable codes besides z (InfoGAN): code_sizes = (categorical values, "
             "continuous codes), generate(z, codes) with codes (N, 1 + continuous): the categorical value, "
             "then the continuous values",
}

#: Grid.rows -> what one row of the image grid (Trainer.grid_images) holds
GRID_ROWS = {
    "samples": "grid_nrow latents of G(fixed_z)",
    "classes": "one class (grid_row_names), the same latents in every row",
    "captions": "one caption (grid_row_names), the same latents in every row",
    "levels": "one latent: each level of the pyramid and each residual, coarse to fine",
    "translations": "real images of domain A, their translations and reconstructions, then the same for B",
    "codes": "one value of the categorical code (grid_row_names), the same latents in every row",
}


class Plot(NamedTuple):
    """The family's extra live plot: a title and (key of an evaluate() row, curve label) pairs.
    A tuple, so ``plot[0]`` is the title and ``plot[1]`` the curves."""
    title: str
    series: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Grid:
    """What the window's image grid shows: ``rows`` (a key of GRID_ROWS) and tiles per row (0: it
    depends on the run, e.g. LAPGAN's levels; ``Trainer.grid_nrow`` has the number)."""
    rows: str = "samples"
    per_row: int = 8


@dataclass(frozen=True)
class FamilySpec:
    """A model family's declaration (see the module docstring)."""
    name: str                                   # model.family
    summary: str                                # a few words: "conditional GAN"
    section: type | None = None                 # its config section's dataclass, read as cfg.<name>
    live: tuple[str, ...] = ()                  # fields of the section that apply while training
    reset: tuple[str, ...] = ()                 # more keys (prefixes) that need a Reset with it
    tricks: tuple[str, ...] | None = None       # tricks it supports; None: every trick
    losses: tuple[str, ...] | None = None       # losses it trains with; None: every loss
    archs: tuple[str, ...] | None = None        # model.arch values it builds; None: not read
    plot: Plot | None = None                    # the extra live plot
    grid: Grid = Grid()
    capabilities: frozenset[str] = frozenset()  # keys of CAPABILITIES
    # evaluate() on image data reports the metric classifier's numbers of G's samples (classes_covered,
    # fd_classifier: the window's two image plots); False for a family that reports only its own
    image_metrics: bool = True

    def __post_init__(self):
        unknown = set(self.capabilities) - set(CAPABILITIES)
        if unknown or self.grid.rows not in GRID_ROWS:
            raise ValueError(f"family {self.name!r}: unknown capability or grid rows: "
                             f"{sorted(unknown) or self.grid.rows}")
        object.__setattr__(self, "capabilities", frozenset(self.capabilities))

    def supports_trick(self, name: str) -> bool:
        return self.tricks is None or name in self.tricks

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def section_keys(self) -> list[str]:
        """Every dotted key of the family's section."""
        if self.section is None:
            return []
        return [f"{self.name}.{f.name}" for f in dataclasses.fields(self.section)]


#: the plain GAN: one G, one D, every trick, loss and architecture (training/trainer.py)
GAN = FamilySpec(name="gan", summary="the plain GAN")

#: model.family -> its declaration, in registration order (the config's choices)
SPECS: dict[str, FamilySpec] = {}


def register_spec(spec: FamilySpec) -> None:
    """Make ``spec.name`` a choice of model.family and add its config section to Config."""
    SPECS[spec.name] = spec
    if spec.section is not None:
        config.register_section(spec.name, spec.section, f"{spec.summary} settings (model.family = {spec.name})")


def family_names() -> list[str]:
    return list(SPECS)


def spec_of(family: str) -> FamilySpec:
    spec = SPECS.get(family)
    if spec is None:
        raise ConfigError(f"model.family = {family!r} is not allowed; choose one of: {', '.join(SPECS)}")
    return spec


def needs_reset(key: str, family: str | None = None) -> bool:
    """Whether changing ``key`` needs a new run (Reset) rather than a live change: the base keys,
    a family section's fields that are not ``live``, and, given the family in force, its ``reset``."""
    if key.startswith(NEEDS_RESET):
        return True
    section, _, field = key.partition(".")
    owner = SPECS.get(section)
    if owner is not None and owner.section is not None and field:
        return field not in owner.live
    spec = SPECS.get(family) if family else None
    return bool(spec is not None and spec.reset and key.startswith(spec.reset))


def check_config(cfg, spec: FamilySpec | None = None) -> None:
    """One-line ConfigErrors for settings ``cfg``'s family (or ``spec``) cannot honour: a trick it
    does not support switched on, a loss or a model.arch it does not take; and a trick switched on
    for networks it does not fit (its config section's ``ARCHS``). Run by Config.validate."""
    for f in dataclasses.fields(cfg.tricks):   # tricks that need the studio's MLPs (config: ARCHS)
        trick = getattr(cfg.tricks, f.name)
        archs = getattr(type(trick), "ARCHS", None)
        if trick.enabled and archs is not None and cfg.model.arch not in archs:
            raise ConfigError(f"tricks.{f.name} needs the studio's MLP networks (model.arch = "
                              f"{' or '.join(repr(a) for a in archs)}); model.arch = {cfg.model.arch!r} "
                              f"has no place for it")
    if cfg.model.latent_prior != "normal" and (cfg.model.arch != "mlp" or cfg.model.family != "gan"):
        raise ConfigError(f"model.latent_prior = {cfg.model.latent_prior!r} needs the plain family's MLP "
                          f"generator (model.family = 'gan', model.arch = 'mlp'); this run has "
                          f"{cfg.model.family!r} / {cfg.model.arch!r}")
    spec = spec or SPECS.get(cfg.model.family)
    if spec is None:
        return   # an unknown family: the choices of model.family say so
    family = spec.name
    if spec.tricks is not None:
        for f in dataclasses.fields(cfg.tricks):
            if getattr(cfg.tricks, f.name).enabled and f.name not in spec.tricks:
                raise ConfigError(f"tricks.{f.name}.enabled = true is not available with model.family = "
                                  f"{family!r}; tricks there: {', '.join(spec.tricks) or 'none'}")
    if spec.losses is not None and cfg.loss not in spec.losses:
        raise ConfigError(f"loss = {cfg.loss!r} does not fit model.family = {family!r}; choose one of: "
                          f"{', '.join(spec.losses)}")
    if spec.archs is not None and cfg.model.arch not in spec.archs:
        raise ConfigError(f"model.arch = {cfg.model.arch!r} does not fit model.family = {family!r}; "
                          f"choose one of: {', '.join(spec.archs)}")


register_spec(GAN)
config.register_choices("model.family", family_names)
config.register_check(check_config)
