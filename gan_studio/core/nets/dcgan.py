"""DCGAN (Radford et al. 2015) for 16, 32 and 64 pixels, 1 or 3 channels.

Transposed convolutions in G (ReLU, tanh out), strided convolutions in D (LeakyReLU 0.2), batch
norm in both except G's output and D's input layer, no pooling, weights N(0, 0.02).

At 64 px the generator is module for module the Generator of pytorch/examples ``dcgan/main.py``
(``main.0.weight`` ... ``main.12.weight``), so a state_dict saved by that program loads as is.
Smaller images drop the first up-sampling stage(s): every stage doubles the side from 4x4.
"""
from __future__ import annotations

import torch
from torch import nn

from gan_studio.core.config import D_NORMS, G_UPSAMPLES, Config
from gan_studio.core.errors import ConfigError

SIZES = (16, 32, 64)


def _stages(image_size: int) -> int:
    """Number of stride-2 stages between 4x4 and the image (16 px: 2, 32 px: 3, 64 px: 4)."""
    if image_size not in SIZES:
        raise ConfigError(f"data.image_size = {image_size}: DCGAN supports {', '.join(map(str, SIZES))} "
                          "pixels; use model.arch = 'mlp' for 8 px")
    return {16: 2, 32: 3, 64: 4}[image_size]


def _doubling(c_in: int, c_out: int, upsample: str) -> list[nn.Module]:
    """How G doubles the side of its maps: ``transpose`` (DCGAN's 4x4 stride-2 transposed convolution)
    or ``resize`` (nearest-neighbour up-sampling then a 3x3 convolution: Odena, Dumoulin & Olah 2016,
    "Deconvolution and checkerboard artifacts": every output pixel sees the same number of input
    pixels, so G cannot paint the checkerboard speckle that a transposed convolution's uneven overlap
    makes easy)."""
    if upsample == "resize":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False)]
    return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)]


class DCGANGenerator(nn.Module):
    """z (N, nz) or (N, nz, 1, 1) -> images (N, nc, S, S) in [-1, 1].

    ``bn_stats = "running"`` samples with batch norm's stored averages at all times (what a
    generator imported from another program expects: one image per z, whatever the batch);
    ``"batch"`` is ordinary training behaviour.
    """

    def __init__(self, nz: int, ngf: int, nc: int, image_size: int, bn_stats: str = "batch",
                 upsample: str = "transpose"):
        super().__init__()
        if upsample not in G_UPSAMPLES:
            raise ConfigError(f"model.g_upsample = {upsample!r}: choose one of {', '.join(G_UPSAMPLES)}")
        self.nz, self.nc, self.image_size, self.bn_stats = nz, nc, image_size, bn_stats
        self.upsample = upsample
        k = _stages(image_size)
        mult = 2 ** (k - 1)  # 64 px: ngf*8 at 4x4, like pytorch/examples
        layers: list[nn.Module] = [
            # input: nz x 1 x 1
            nn.ConvTranspose2d(nz, ngf * mult, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * mult),
            nn.ReLU(True),
            # state: (ngf*mult) x 4 x 4
        ]
        side = 4
        while mult > 1:
            layers += [
                *_doubling(ngf * mult, ngf * mult // 2, upsample),
                nn.BatchNorm2d(ngf * mult // 2),
                nn.ReLU(True),
            ]
            mult //= 2
            side *= 2
            # state: (ngf*mult) x side x side, e.g. (ngf*4) x 8 x 8, (ngf*2) x 16 x 16, ngf x 32 x 32
        layers += [
            *_doubling(ngf, nc, upsample),
            nn.Tanh(),
            # state: nc x image_size x image_size
        ]
        self.main = nn.Sequential(*layers)
        self.apply(init_weights)
        self.train()  # applies bn_stats to the freshly built layers

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.reshape(z.shape[0], self.nz, 1, 1))

    def train(self, mode: bool = True):
        super().train(mode)
        if self.bn_stats == "running":
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self


class DCGANDiscriminator(nn.Module):
    """images (N, nc, S, S) -> logit (N,). ``features`` is the last convolutional block, flattened
    ((ndf*8) x 4 x 4 at 64 px); ``head`` is a linear layer on it, the same map as pytorch/examples'
    final 4x4 convolution without padding (minus its sigmoid: the losses take logits)."""

    def __init__(self, ndf: int, nc: int, image_size: int, norm: str = "batch"):
        super().__init__()
        if norm not in D_NORMS:
            raise ConfigError(f"model.d_norm = {norm!r}: choose one of {', '.join(D_NORMS)}")
        self.norm = norm
        k = _stages(image_size)
        layers: list[nn.Module] = [
            # input: nc x S x S
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            # state: ndf x S/2 x S/2
        ]
        mult = 1
        for _ in range(k - 1):
            layers += [
                nn.Conv2d(ndf * mult, ndf * mult * 2, 4, 2, 1, bias=False),
                *([nn.BatchNorm2d(ndf * mult * 2)] if norm == "batch" else []),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            mult *= 2
            # state: (ndf*mult) x side x side, halving down to (ndf*mult) x 4 x 4
        self.main = nn.Sequential(*layers)
        self.feature_dim = ndf * mult * 4 * 4
        self.head = nn.Linear(self.feature_dim, 1)
        self.apply(init_weights)
        if norm == "spectral":
            # Miyato et al. 2018: every weight divided by its largest singular value (one power
            # iteration per training forward pass, u kept as a buffer), so D is 1-Lipschitz per layer
            # and cannot outrun G by growing its weights; no batch norm (its statistics would undo it)
            from torch.nn.utils.parametrizations import spectral_norm
            for layer in [*self.main, self.head]:
                if isinstance(layer, (nn.Conv2d, nn.Linear)):
                    spectral_norm(layer)   # parametrises the layer in place

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)


def init_weights(m: nn.Module) -> None:
    """DCGAN's initialisation: conv weights N(0, 0.02), batch-norm scale N(1, 0.02), shift 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def build_dcgan(cfg: Config, data) -> tuple[nn.Module, nn.Module]:
    c, size = data.shape[0], data.shape[1]
    if data.shape[1] != data.shape[2]:
        raise ConfigError(f"DCGAN needs square images; {cfg.data.name} has {data.shape[1]}x{data.shape[2]}")
    m = cfg.model
    G = DCGANGenerator(m.latent_dim, m.ngf, c, size, bn_stats=getattr(m, "g_bn_stats", "batch"),
                       upsample=m.g_upsample)
    D = DCGANDiscriminator(m.ndf, c, size, norm=m.d_norm)
    return G, D
