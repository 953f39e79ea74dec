"""The unrolled GAN's hand-written look-ahead (core/fast/unrolled.py): G's gradient through k Adam
updates of a (leaky) ReLU MLP discriminator equals autograd's through the plain version, and
finite differences of a real Adam run on a copy of D, in float64."""
from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
from torch.func import functional_call

from gan_studio.core.config import Config
from gan_studio.core.fast import unrolled as fast_unrolled
from gan_studio.core.nets.mlp import MLPDiscriminator, MLPGenerator
from gan_studio.core.training import losses
from gan_studio.core.training.trainer import Trainer
from gan_studio.core.training.tricks import Unrolled, unrolled_d

LOSSES = {"minimax": (losses.d_minimax, losses.g_non_saturating),
          "least-squares": (losses.d_least_squares, losses.g_least_squares),
          "hinge": (losses.d_hinge, losses.g_hinge),
          "wgan": (losses.d_wasserstein, losses.g_wasserstein)}


def _setting(activation: str, pack: int = 1, seed: int = 0):
    """G, D (fused: the chain), D's Adam with some history, k look-ahead batches and G's batch."""
    torch.manual_seed(seed)
    G = MLPGenerator(3, (2,), 2, 8, "tanh", fused=False).double()
    D = MLPDiscriminator((2,), 2, 8, activation, fused=True).double()
    opt = torch.optim.Adam(D.parameters(), lr=0.05, betas=(0.5, 0.999), foreach=False)
    for _ in range(3):  # Adam with some history: its first step is sign-like and hides the 2nd order
        opt.zero_grad()
        losses.d_minimax(D(torch.randn(8, 2, dtype=torch.float64)),
                         D(G(torch.randn(8, 3, dtype=torch.float64)).detach())).backward()
        opt.step()
    if pack > 1:   # a new input layer: no Adam state yet, so its step count differs from the rest
        D.set_packing(pack)
        D.double()
    gen = torch.Generator().manual_seed(1)
    batches = [(torch.randn(8, 2, generator=gen, dtype=torch.float64),
                torch.randn(8, 3, generator=gen, dtype=torch.float64)) for _ in range(3)]
    z0 = torch.randn(8, 3, generator=gen, dtype=torch.float64)
    return G, D, opt, batches, z0


def _fast_loss(G, D, opt, batches, z0, d_loss, g_loss, targets, second_order: bool, unrolled=None):
    unrolled = unrolled or Unrolled()
    la = unrolled.fast_look_ahead(SimpleNamespace(D=D, opt_d=opt, fast=True), d_loss, targets, second_order)
    assert la is not None
    k, n = len(batches), D.pack_input(batches[0][0]).shape[0]
    reals = D.pack_input(torch.cat([r for r, _ in batches])).view(k, n, -1)
    with torch.set_grad_enabled(second_order):
        fakes = D.pack_input(G(torch.cat([z for _, z in batches]))).view(k, n, -1)
    return g_loss(fast_unrolled.unrolled_outputs(D.pack_input(G(z0)), reals, fakes, la))


def _plain_loss(G, D, opt, batches, z0, d_loss, g_loss, targets, second_order: bool):
    D.fused = False   # the nn.Linear modules under ordinary autograd: no part of core/fast
    try:
        with torch.set_grad_enabled(second_order):
            fakes = [(r, G(z)) for r, z in batches]
        params = unrolled_d(D, opt, fakes, d_loss, targets, second_order=second_order)
        return g_loss(functional_call(D, params, (G(z0),)))
    finally:
        D.fused = True


@pytest.mark.parametrize("second_order", [True, False], ids=["second-order", "copy-d"])
@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("activation,pack", [("relu", 1), ("leaky_relu", 1), ("relu", 2)])
def test_fast_look_ahead_gives_autograds_gradient(activation, pack, loss, second_order):
    G, D, opt, batches, z0 = _setting(activation, pack)
    d_loss, g_loss = LOSSES[loss]
    targets = (0.9, 0.1) if loss == "minimax" else (1.0, 0.0)   # label smoothing reaches the derivatives
    params = list(G.parameters())
    fast = torch.autograd.grad(_fast_loss(G, D, opt, batches, z0, d_loss, g_loss, targets, second_order), params)
    plain = torch.autograd.grad(_plain_loss(G, D, opt, batches, z0, d_loss, g_loss, targets, second_order), params)
    for a, b in zip(fast, plain):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert max(g.abs().max() for g in fast) > 0


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_without_the_in_place_activation_kernels_the_gradient_is_the_same(activation, monkeypatch):
    G, D, opt, batches, z0 = _setting(activation)
    args = (losses.d_minimax, losses.g_non_saturating, (1.0, 0.0), True)
    with_kernels = torch.autograd.grad(_fast_loss(G, D, opt, batches, z0, *args), G.out.weight)[0]
    monkeypatch.setitem(fast_unrolled._ACT_BACKWARD_INTO, "relu", None)
    monkeypatch.setitem(fast_unrolled._ACT_BACKWARD_INTO, "leaky", None)
    without = torch.autograd.grad(_fast_loss(G, D, opt, batches, z0, *args), G.out.weight)[0]
    torch.testing.assert_close(with_kernels, without, rtol=1e-12, atol=1e-15)


def test_a_second_look_ahead_before_the_first_backward_is_refused():
    G, D, opt, batches, z0 = _setting("relu")
    args = (losses.d_minimax, losses.g_non_saturating, (1.0, 0.0), True)
    la = Unrolled()
    first = _fast_loss(G, D, opt, batches, z0, *args, unrolled=la)
    _fast_loss(G, D, opt, batches, z0, *args, unrolled=la)        # overwrites the shared buffers
    with pytest.raises(RuntimeError, match="backpropagate each G loss before the next"):
        first.backward()


def _reference_loss(G, D, opt, batches, z0) -> float:
    """The unrolled G loss the slow way: a copy of D with a real Adam optimiser, k real updates."""
    Dc = copy.deepcopy(D)
    Dc.fused = False
    oc = torch.optim.Adam(Dc.parameters(), lr=0.05, betas=(0.5, 0.999), foreach=False)
    oc.load_state_dict(copy.deepcopy(opt.state_dict()))
    with torch.enable_grad():
        for real, z in batches:
            oc.zero_grad()
            losses.d_minimax(Dc(real), Dc(G(z).detach())).backward()
            oc.step()
    with torch.no_grad():
        return losses.g_non_saturating(Dc(G(z0))).item()


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_fast_look_ahead_matches_finite_differences(activation):
    G, D, opt, batches, z0 = _setting(activation)
    w = G.out.weight
    second = torch.autograd.grad(_fast_loss(G, D, opt, batches, z0, losses.d_minimax, losses.g_non_saturating,
                                            (1.0, 0.0), True), w)[0]
    copy_d = torch.autograd.grad(_fast_loss(G, D, opt, batches, z0, losses.d_minimax, losses.g_non_saturating,
                                            (1.0, 0.0), False), w)[0]
    eps = 1e-6
    with torch.no_grad():
        for idx in [(0, 0), (0, 3), (1, 5), (1, 7)]:
            old = w[idx].item()
            w[idx] = old + eps
            up = _reference_loss(G, D, opt, batches, z0)
            w[idx] = old - eps
            down = _reference_loss(G, D, opt, batches, z0)
            w[idx] = old
            assert second[idx].item() == pytest.approx((up - down) / (2 * eps), rel=1e-4, abs=1e-8)
    # the copy-D approximation misses the second-order term
    assert (second - copy_d).abs().max() > 1e-3 * second.abs().max()
    assert opt.state[D.head.weight]["step"].item() == 3      # D's optimiser was not stepped


def _trainer(**sets) -> Trainer:
    cfg = Config()
    for k, v in {"data.name": "ring8", "train.batch_size": 32, "model.latent_dim": 8, "model.g_width": 16,
                 "model.d_width": 16, "model.d_activation": "relu", "tricks.unrolled.enabled": True,
                 "tricks.unrolled.k": 3, **sets}.items():
        cfg.set(k, v)
    return Trainer(cfg, device="cpu")


@pytest.mark.parametrize("fast", [True, False])
def test_the_trainer_takes_the_fast_look_ahead_only_with_fast_paths(fast, monkeypatch):
    calls = []
    real = fast_unrolled.unrolled_outputs
    monkeypatch.setattr("gan_studio.core.training.tricks.unrolled_outputs",
                        lambda *a: calls.append(1) or real(*a))
    tr = _trainer(**{"train.fast_paths": fast})
    d_before = {n: p.detach().clone() for n, p in tr.D.named_parameters()}
    tr.step()
    assert len(calls) == (1 if fast else 0)
    assert tr.step_metrics_now()["grad_norm_g"] > 0
    # D moved by its own one step only: the look-ahead left its weights and Adam state alone
    assert all(tr.opt_d.state[p]["step"].item() == 1 for p in tr.D.parameters() if p in tr.opt_d.state)
    assert any(not torch.equal(d_before[n], p) for n, p in tr.D.named_parameters())


def test_norm_layers_and_minibatch_features_fall_back_to_autograd():
    tr = _trainer(**{"tricks.minibatch_discrimination.enabled": True})
    assert tr.tricks.unrolled.fast_look_ahead(tr, losses.d_minimax, (1.0, 0.0), True) is None
    tr = _trainer(**{"tricks.normalization.enabled": True, "tricks.normalization.d": "batch"})
    assert tr.tricks.unrolled.fast_look_ahead(tr, losses.d_minimax, (1.0, 0.0), True) is None
    tr = _trainer()
    assert tr.tricks.unrolled.fast_look_ahead(tr, losses.d_minimax, (1.0, 0.0), True) is not None
    tr.step()   # and the fallback trains


def _host_reads(fn) -> list[str]:
    """The host reads (.item(), float(), ...: aten::_local_scalar_dense, a sync point on a GPU) of fn()."""
    from torch.utils._python_dispatch import TorchDispatchMode
    reads: list[str] = []

    class CatchHostReads(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func is torch.ops.aten._local_scalar_dense.default:
                reads.append(str(func))
            return func(*args, **(kwargs or {}))

    with CatchHostReads():
        fn()
    return reads


@pytest.mark.parametrize("method", ["second-order", "copy-d"])
def test_the_fast_unrolled_step_reads_nothing_back_from_the_device(method):
    tr = _trainer(**{"tricks.unrolled.method": method})
    tr.step()
    assert _host_reads(lambda: [tr.step() for _ in range(2)]) == []
