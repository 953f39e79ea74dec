"""Model families: which Trainer class trains a config.

The plain GAN (one G, one D, every trick) is :class:`gan_studio.core.trainer.Trainer`. The
lecture's advanced methods (conditional, semi-supervised K+1, LAPGAN, StackGAN) are Trainer
subclasses in their own modules, registered here by ``model.family``; each keeps the Trainer's
interface (step, evaluate, state_dict, commands, events) so the CLI, run folders and the window
drive them unchanged.
"""
from __future__ import annotations

import importlib

from gan_studio.core.config import Config, ConfigError

# family -> "module:Class"; modules are imported on first use
FAMILIES: dict[str, str] = {
    "gan": "gan_studio.core.trainer:Trainer",
}


def register_family(name: str, target: str) -> None:
    FAMILIES[name] = target


def trainer_class(cfg: Config):
    family = cfg.model.family
    target = FAMILIES.get(family)
    if target is None:
        _load_builtin(family)
        target = FAMILIES.get(family)
    if target is None:
        raise ConfigError(f"model.family = {family!r}: not available in this build "
                          f"(available: {', '.join(sorted(FAMILIES))})")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def _load_builtin(family: str) -> None:
    """Built-in family modules register themselves on import: gan_studio.core.family_<name>."""
    try:
        importlib.import_module(f"gan_studio.core.family_{family}")
    except ModuleNotFoundError as e:
        if e.name != f"gan_studio.core.family_{family}":
            raise


def make_trainer(cfg: Config, device=None):
    """The Trainer for ``cfg``'s model family."""
    return trainer_class(cfg)(cfg, device=device)
