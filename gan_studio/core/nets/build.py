"""``build_models(cfg, data)``: the G and D that ``model.arch`` names, shaped for the data set (the
plain family's networks; ``train.fast_paths`` picks the MLPs' fused or module path)."""
from __future__ import annotations

from torch import nn

from gan_studio.core.config import Config
from gan_studio.core.errors import ConfigError
from gan_studio.core.nets.dcgan import build_dcgan
from gan_studio.core.nets.mlp import MLPDiscriminator, MLPGenerator
from gan_studio.core.nets.scripted import build_scripted


def build_models(cfg: Config, data) -> tuple[nn.Module, nn.Module]:
    m = cfg.model
    if m.arch == "mlp":
        image = data.kind == "image"
        fused = cfg.train.fast_paths
        G = MLPGenerator(m.latent_dim, data.shape, m.g_depth, m.g_width, m.g_activation, tanh_out=image, fused=fused)
        D = MLPDiscriminator(data.shape, m.d_depth, m.d_width, m.d_activation, fused=fused)
        if m.data_scale != 1.0:   # the networks work in units of data_scale: G's output is scaled up, D's input down
            G.out_scale = D.in_scale = float(m.data_scale)
        G.latent_prior = m.latent_prior
        return G, D
    if m.arch == "dcgan":
        if data.kind != "image":
            raise ConfigError(f"model.arch = 'dcgan' needs an image data set, not {cfg.data.name!r}; "
                              "use model.arch = 'mlp' for 2-D data")
        return build_dcgan(cfg, data)
    if m.arch == "torchscript":  # a generator imported from another program (sampling only)
        return build_scripted(cfg, data)
    raise ConfigError(f"model.arch = {m.arch!r} is not allowed; choose mlp, dcgan or torchscript")
