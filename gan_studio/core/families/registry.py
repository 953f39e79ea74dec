"""Model families as plugins: ``model.family`` -> the Trainer class that trains it.

The interface. A family is one module of this package with
- a config section (optional): a dataclass of ``opt(...)`` fields (``gan_studio.core.config.opt``);
- a declaration, ``FAMILY = FamilySpec(...)`` (:mod:`gan_studio.core.family_spec`: torch-free data):
  its section and which of its keys apply live, the tricks, losses and ``model.arch`` values it
  takes, its extra plot, its grid and its capabilities;
- a :class:`~gan_studio.core.training.trainer.Trainer` subclass with ``FAMILY`` as a class attribute
  that overrides ``build_networks(cfg, data)`` (G, D and whatever else it trains),
  ``build_optimizers()`` when it steps more than ``opt_g``/``opt_d``, and ``step()``; as needed
  ``grid_latents()``, ``grid_row_names``, ``grid_images()``, ``plot()``, ``generate()``,
  ``evaluate()``, ``extra_state_dict()``/``load_extra_state_dict()``, and the methods its
  capabilities promise (``family_spec.CAPABILITIES``);
- ``register_family(TheTrainer)`` at the bottom, and one import line in ``families/__init__.py``.

The plain GAN (one G, one D, every trick) is the base Trainer itself. The Trainer's constructor
builds through the hooks only, so a family's networks and optimisers are the only ones built; the
config refuses what the declaration does not take (``Config.validate``) and the Trainer refuses it
live (``apply_setting``) before anything runs. Each family keeps the Trainer's interface (step,
evaluate, state_dict, commands, events), so the CLI, run folders and the window drive them unchanged.
"""
from __future__ import annotations

import torch

from gan_studio.core.config import Config
from gan_studio.core.device import is_out_of_memory
from gan_studio.core.errors import ConfigError
from gan_studio.core.family_spec import FamilySpec, register_spec, spec_of
from gan_studio.core.training.trainer import Trainer

#: model.family -> the Trainer class that trains it
FAMILIES: dict[str, type[Trainer]] = {"gan": Trainer}


def register_family(trainer: type[Trainer]) -> FamilySpec:
    """Make ``trainer`` (a Trainer subclass with its own ``FAMILY``) the trainer of ``FAMILY.name``:
    the name becomes a choice of model.family and the family's config section part of Config."""
    spec = trainer.FAMILY
    if spec is Trainer.FAMILY and trainer is not Trainer:
        raise ValueError(f"{trainer.__name__} must declare its own FAMILY = FamilySpec(...)")
    register_spec(spec)
    FAMILIES[spec.name] = trainer
    return spec


def family_names() -> list[str]:
    return list(FAMILIES)


def trainer_class(cfg: Config) -> type[Trainer]:
    cls = FAMILIES.get(cfg.model.family)
    if cls is None:
        raise ConfigError(f"model.family = {cfg.model.family!r} is not allowed; choose one of: "
                          f"{', '.join(FAMILIES)}")
    return cls


def family_of(cfg: Config) -> FamilySpec:
    """The declaration of ``cfg``'s family (what the window reads before any Trainer exists)."""
    return spec_of(cfg.model.family)


def make_trainer(cfg: Config, device=None, data=None):
    """The Trainer for ``cfg``'s model family (on ``data`` when given: see Trainer). Networks too
    large for the memory at hand (sizes inside the validated limits can still be) raise ConfigError
    naming the keys to shrink."""
    cls = trainer_class(cfg)
    try:
        return cls(cfg, device=device) if data is None else cls(cfg, device=device, data=data)
    except (MemoryError, RuntimeError) as e:   # torch: "DefaultCPUAllocator: not enough memory", CUDA OOM
        if not is_out_of_memory(e):
            raise
        raise ConfigError(_too_big(cfg, device)) from None


def _too_big(cfg: Config, device) -> str:
    """One line: the networks of ``cfg`` do not fit, and which keys make them smaller."""
    m = cfg.model
    if m.arch == "dcgan":
        keys = [("model.ngf", m.ngf), ("model.ndf", m.ndf), ("data.image_size", cfg.data.image_size)]
    else:
        keys = [("model.g_width", m.g_width), ("model.g_depth", m.g_depth),
                ("model.d_width", m.d_width), ("model.d_depth", m.d_depth)]
    keys += [("model.latent_dim", m.latent_dim), ("train.batch_size", cfg.train.batch_size)]
    where = f" on {device}" if device else ""
    return ("not enough memory to build the networks" + where + ": shrink "
            + ", ".join(f"{k} (now {v})" for k, v in keys))


# -- what several families need ------------------------------------------------------------------
def labelled_classes(data, family: str) -> tuple[torch.Tensor, list[str]]:
    """(labels, class names) of a labelled image set; a one-line ConfigError for any other set."""
    labels = getattr(data, "labels", None)
    if data.kind != "image" or labels is None or not getattr(data, "class_names", None):
        raise ConfigError(f"model.family = {family!r} needs a labelled image set (data.name = digits, shapes, "
                          f"mnist, fashion-mnist, cifar10, or a folder with one sub-folder per class); "
                          f"{data.name!r} has no class labels")
    return labels, list(data.class_names)
