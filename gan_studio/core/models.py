"""Generators and discriminators. ``build_models(cfg, data)`` picks the family for the data.

A discriminator exposes ``features(x)`` (the last hidden layer, used by feature matching and
minibatch discrimination) and ``head(h)`` (the logit/critic value), with ``forward = head(features)``.
"""
from __future__ import annotations

import torch
from torch import nn

from gan_studio.core.config import Config, ConfigError

_ACT = {
    "relu": lambda: nn.ReLU(),
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": lambda: nn.Tanh(),
    "elu": lambda: nn.ELU(),
    "gelu": lambda: nn.GELU(),
    "silu": lambda: nn.SiLU(),
}


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers with an activation after each one (no activation at the end is added here)."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), _ACT[activation]()]
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z (N, latent) -> x (N, *out_shape); a tanh output when the data lives in [-1, 1] (images)."""

    def __init__(self, latent_dim: int, out_shape: tuple, depth: int, width: int, activation: str,
                 tanh_out: bool = False):
        super().__init__()
        self.latent_dim, self.out_shape = latent_dim, tuple(out_shape)
        out_dim = int(torch.tensor(out_shape).prod())
        self.body = mlp([latent_dim] + [width] * depth, activation)   # (N, width)
        self.out = nn.Linear(width, out_dim)                          # (N, prod(out_shape))
        self.tanh_out = tanh_out

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.out(self.body(z.flatten(1)))
        if self.tanh_out:
            x = torch.tanh(x)
        return x.view(-1, *self.out_shape)


class MLPDiscriminator(nn.Module):
    """x (N, *in_shape) -> logit (N,)."""

    def __init__(self, in_shape: tuple, depth: int, width: int, activation: str):
        super().__init__()
        in_dim = int(torch.tensor(in_shape).prod())
        self.body = mlp([in_dim] + [width] * depth, activation)       # (N, width)
        self.head = nn.Linear(width, 1)                               # (N, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)


def build_models(cfg: Config, data) -> tuple[nn.Module, nn.Module]:
    m = cfg.model
    if m.arch == "mlp":
        image = data.kind == "image"
        G = MLPGenerator(m.latent_dim, data.shape, m.g_depth, m.g_width, m.g_activation, tanh_out=image)
        D = MLPDiscriminator(data.shape, m.d_depth, m.d_width, m.d_activation)
        return G, D
    if m.arch == "dcgan":
        if data.kind != "image":
            raise ConfigError(f"model.arch = 'dcgan' needs an image data set, not {cfg.data.name!r}; "
                              "use model.arch = 'mlp' for 2-D data")
        from gan_studio.core.dcgan import build_dcgan
        return build_dcgan(cfg, data)
    raise ConfigError(f"model.arch = {m.arch!r} is not allowed; choose mlp or dcgan")


def has_batch_stats(module: nn.Module) -> bool:
    """True when a forward pass mixes examples (batch norm): then real and fake need separate passes."""
    return any(isinstance(x, nn.modules.batchnorm._BatchNorm) for x in module.modules())
