"""Model families: which Trainer class trains a config (``model.family``).

The plain GAN (one G, one D, every trick) is :class:`gan_studio.core.training.trainer.Trainer`. The
lecture's advanced methods (conditional, semi-supervised K+1, LAPGAN, StackGAN) are Trainer
subclasses in their own modules of this package, each registering itself here with
:func:`register_family` (importing :mod:`gan_studio.core.families` imports them all). Each keeps the
Trainer's interface (step, evaluate, state_dict, commands, events) so the CLI, run folders and the
window drive them unchanged. The registered names are the config's choices for ``model.family``.
"""
from __future__ import annotations

import torch

from gan_studio.core.config import Config, register_choices
from gan_studio.core.errors import ConfigError
from gan_studio.core.training.trainer import Trainer

#: model.family -> the Trainer class that trains it
FAMILIES: dict[str, type[Trainer]] = {"gan": Trainer}


def register_family(name: str, trainer: type[Trainer]) -> None:
    FAMILIES[name] = trainer


def family_names() -> list[str]:
    return list(FAMILIES)


def trainer_class(cfg: Config) -> type[Trainer]:
    cls = FAMILIES.get(cfg.model.family)
    if cls is None:
        raise ConfigError(f"model.family = {cfg.model.family!r} is not allowed; choose one of: "
                          f"{', '.join(FAMILIES)}")
    return cls


def make_trainer(cfg: Config, device=None):
    """The Trainer for ``cfg``'s model family. Networks too large for the memory at hand (sizes
    inside the validated limits can still be) raise ConfigError naming the keys to shrink."""
    cls = trainer_class(cfg)
    try:
        return cls(cfg, device=device)
    except (MemoryError, RuntimeError) as e:   # torch: "DefaultCPUAllocator: not enough memory", CUDA OOM
        if not is_out_of_memory(e):
            raise
        raise ConfigError(_too_big(cfg, device)) from None


def is_out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` is an allocation failure (torch's CPU allocator, CUDA/MPS out of memory)."""
    if isinstance(e, MemoryError):
        return True
    oom = getattr(torch, "OutOfMemoryError", None)
    if oom is not None and isinstance(e, oom):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and any(s in text for s in (
        "not enough memory", "out of memory", "defaultcpuallocator", "can't allocate memory",
        "failed to allocate", "allocation failed"))


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


register_choices("model.family", family_names)
