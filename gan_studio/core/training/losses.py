"""GAN losses on raw D outputs (logits or critic values): one function per player and loss.

``D_LOSS[name](real, fake, real_target, fake_target)`` is what D minimises and ``G_LOSS[name](fake)``
what G minimises, ``name`` being the config's ``loss``: non-saturating shares D's loss with minimax,
and wgan-gp shares wgan's, the Trainer adding :func:`gradient_penalty`. Targets (label smoothing)
only mean something for the probabilistic losses (``PROBABILISTIC``); the Wasserstein and hinge
losses ignore them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    # target * softplus(-l) + (1 - target) * softplus(l) == BCE-with-logits against a constant
    if target == 1.0:
        return F.softplus(-logits).mean()
    if target == 0.0:
        return F.softplus(logits).mean()
    return (target * F.softplus(-logits) + (1 - target) * F.softplus(logits)).mean()


def d_minimax(real, fake, real_target=1.0, fake_target=0.0):
    """D maximises log s(D(x)) + log(1 - s(D(G(z)))): minimise the two cross-entropies."""
    return _bce(real, real_target) + _bce(fake, fake_target)


def g_minimax(fake):
    """G minimises log(1 - s(D(G(z)))) = -softplus(D(G(z))) (saturates when D wins)."""
    return -F.softplus(fake).mean()


def g_non_saturating(fake):
    """G minimises -log s(D(G(z)))."""
    return F.softplus(-fake).mean()


def d_least_squares(real, fake, real_target=1.0, fake_target=0.0):
    """LSGAN (a=0, b=1): 1/2 E(D(x) - b)^2 + 1/2 E(D(G(z)) - a)^2."""
    return 0.5 * ((real - real_target) ** 2).mean() + 0.5 * ((fake - fake_target) ** 2).mean()


def g_least_squares(fake):
    return 0.5 * ((fake - 1.0) ** 2).mean()


def d_hinge(real, fake, real_target=1.0, fake_target=0.0):
    """SAGAN/BigGAN hinge: E relu(1 - D(x)) + E relu(1 + D(G(z)))."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def g_hinge(fake):
    return -fake.mean()


def d_wasserstein(real, fake, real_target=1.0, fake_target=0.0):
    """The critic maximises E f(x) - E f(G(z))."""
    return fake.mean() - real.mean()


def g_wasserstein(fake):
    return -fake.mean()


D_LOSS = {"minimax": d_minimax, "non-saturating": d_minimax, "least-squares": d_least_squares,
          "hinge": d_hinge, "wgan": d_wasserstein, "wgan-gp": d_wasserstein}
G_LOSS = {"minimax": g_minimax, "non-saturating": g_non_saturating, "least-squares": g_least_squares,
          "hinge": g_hinge, "wgan": g_wasserstein, "wgan-gp": g_wasserstein}
#: losses whose D output is a probability logit (D(x) is reported as sigmoid); the rest are critics
PROBABILISTIC = {"minimax", "non-saturating"}


def gradient_penalty(D, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator):
    """WGAN-GP: E (||grad_x f(x_hat)|| - 1)^2 on random interpolates x_hat of real and fake."""
    eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(eps_shape, generator=generator, device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    out = D(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()
