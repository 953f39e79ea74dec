"""A model family written the way README "Adding a model family" says, for tests/test_family_plugins.py:
one module (a config section, a declaration, a Trainer subclass, one register call). The studio
does not import it (it is not in families/__init__.py); the test imports it and removes it after.

The toy: the plain GAN's step on 2-D data, with D's hidden layers ``toy.d_width`` wide (a key that
needs a Reset) and G's output scaled by ``toy.out_gain`` (a key that applies live).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from gan_studio.core.config import Config, opt
from gan_studio.core.families.registry import register_family
from gan_studio.core.family_spec import FamilySpec, Plot
from gan_studio.core.nets.mlp import MLPDiscriminator, MLPGenerator
from gan_studio.core.training.trainer import Trainer


@dataclass
class ToyConfig:
    """The toy family (tests only)."""
    d_width: int = opt(16, "units per hidden layer of the toy D", lo=1, hi=256)
    out_gain: float = opt(1.0, "factor on G's output", lo=0.0, lo_open=True, hi=10.0)


FAMILY = FamilySpec(
    name="toy", summary="toy family", section=ToyConfig, live=("out_gain",),
    tricks=("two_time_scale", "instance_noise"), losses=("non-saturating", "least-squares"), archs=("mlp",),
    plot=Plot("Modes", (("modes", "modes covered"),)))


class ToyTrainer(Trainer):
    FAMILY = FAMILY
    built = 0   # how many networks were built, all Trainers together (the test reads it)

    def build_networks(self, cfg: Config, data):
        type(self).built += 1
        m = cfg.model
        torch.manual_seed(cfg.train.seed)
        G = MLPGenerator(m.latent_dim, data.shape, m.g_depth, m.g_width, m.g_activation, fused=cfg.train.fast_paths)
        D = MLPDiscriminator(data.shape, m.d_depth, cfg.toy.d_width, m.d_activation, fused=cfg.train.fast_paths)
        return G, D

    def _on_setting_changed(self, key: str) -> None:
        super()._on_setting_changed(key)
        self.G.out_scale = self.cfg.toy.out_gain

    def build_optimizers(self) -> None:
        super().build_optimizers()
        self.G.out_scale = self.cfg.toy.out_gain


register_family(ToyTrainer)
