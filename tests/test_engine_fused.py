"""The fused MLP chain and the lean Adam step compute exactly what the plain modules compute."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_studio.core.nets import mlp
from gan_studio.core.nets.mlp import MLPDiscriminator, MLPGenerator
from gan_studio.core.training.losses import gradient_penalty
from gan_studio.core.training.trainer import LeanAdam


def _reference_d(D: MLPDiscriminator, x: torch.Tensor) -> torch.Tensor:
    """D's forward written with the modules themselves (no fused chain)."""
    h = x.flatten(1)
    for i in range(0, len(D.body), 2):
        h = D.body[i + 1](D.body[i](h))
    return D.head(h).squeeze(1)


def _reference_g(G: MLPGenerator, z: torch.Tensor) -> torch.Tensor:
    h = z
    for i in range(0, len(G.body), 2):
        h = G.body[i + 1](G.body[i](h))
    return G.out(h).view(-1, *G.out_shape)


def _grads(loss, tensors):
    return torch.autograd.grad(loss, tensors, allow_unused=True)


def test_fused_d_matches_the_modules_in_value_and_every_gradient():
    torch.manual_seed(0)
    D = MLPDiscriminator((2,), 3, 32, "leaky_relu")
    x = torch.randn(64, 2, requires_grad=True)
    fused = D(x)
    ref = _reference_d(D, x)
    assert torch.allclose(fused, ref, atol=1e-6)
    inputs = [x, *D.parameters()]
    for a, b in zip(_grads(F.softplus(fused).mean(), inputs), _grads(F.softplus(ref).mean(), inputs)):
        assert torch.allclose(a, b, atol=1e-6)


def test_fused_g_matches_the_modules_with_relu_and_a_narrow_first_layer():
    torch.manual_seed(1)
    G = MLPGenerator(4, (2,), 3, 32, "relu")
    z = torch.randn(64, 4)
    fused, ref = G(z), _reference_g(G, z)
    assert torch.allclose(fused, ref, atol=1e-6)
    params = list(G.parameters())
    for a, b in zip(_grads(fused.pow(2).sum(), params), _grads(ref.pow(2).sum(), params)):
        assert torch.allclose(a, b, atol=1e-5)


def test_g_step_through_the_fused_d_computes_no_gradient_for_d(monkeypatch):
    """backward(inputs=G's parameters) must not compute D's weight gradients: the chain asks the
    engine which of its inputs it will use, and returns None for the rest."""
    torch.manual_seed(2)
    G = MLPGenerator(4, (2,), 2, 16, "relu")
    D = MLPDiscriminator((2,), 2, 16, "leaky_relu")
    returned = []
    original = mlp._LinearChain.backward

    def spy(ctx, g):
        out = original(ctx, g)
        returned.append([t is not None for t in out])
        return out
    monkeypatch.setattr(mlp._LinearChain, "backward", staticmethod(spy))
    z = torch.randn(32, 4)
    torch.autograd.backward(F.softplus(-D(G(z))).mean(), inputs=list(G.parameters()))
    d_chain, g_chain = returned          # D's node runs first in the backward pass
    assert d_chain == [True, False] + [False] * 6     # only the gradient for G's samples (3 layers)
    assert g_chain == [False, False] + [True] * 6     # z needs none; every G weight and bias
    assert all(p.grad is None for p in D.parameters())
    monkeypatch.undo()
    ref = _grads(F.softplus(-_reference_d(D, _reference_g(G, z))).mean(), list(G.parameters()))
    assert all(torch.allclose(p.grad, r, atol=1e-6) for p, r in zip(G.parameters(), ref))


def test_wgan_gp_penalty_through_the_fused_chain_has_the_reference_second_derivatives():
    torch.manual_seed(3)
    D = MLPDiscriminator((2,), 3, 16, "leaky_relu")
    real, fake = torch.randn(32, 2), torch.randn(32, 2)
    gen = torch.Generator().manual_seed(0)
    gp = gradient_penalty(D, real, fake, gen)
    fused_grads = _grads(gp, list(D.parameters()))

    class Ref(torch.nn.Module):
        def __init__(self, d):
            super().__init__()
            self.d = d

        def forward(self, x):
            return _reference_d(self.d, x)
    gen = torch.Generator().manual_seed(0)
    gp_ref = gradient_penalty(Ref(D), real, fake, gen)
    assert torch.allclose(gp, gp_ref, atol=1e-6)
    ref_grads = _grads(gp_ref, list(D.parameters()))
    assert sum(g is not None and bool(g.abs().sum() > 0) for g in ref_grads) >= 4   # weights: real terms
    for a, b in zip(fused_grads, ref_grads):
        assert (a is None and b is None) or torch.allclose(a, b, atol=1e-5)   # head bias: unused by both


def test_norm_layers_and_other_activations_take_the_module_path():
    D = MLPDiscriminator((2,), 2, 8, "tanh")
    assert mlp._CHAIN_SLOPE.get(D.activation) is None
    D2 = MLPDiscriminator((2,), 2, 8, "leaky_relu")
    D2.set_norm("batch")
    x = torch.randn(16, 2)
    assert torch.allclose(D2(x), D2.head(D2.features(x)).squeeze(1))


def test_lean_adam_updates_exactly_like_fused_adam_and_saves_the_same_state():
    torch.manual_seed(4)
    a = [torch.randn(5, 3, requires_grad=True), torch.randn(3, requires_grad=True)]
    b = [t.detach().clone().requires_grad_(True) for t in a]
    oa = torch.optim.Adam(a, lr=1e-2, betas=(0.5, 0.9), fused=True)
    ob = LeanAdam(b, lr=1e-2, betas=(0.5, 0.9), fused=True)
    for i in range(12):
        g = [torch.randn_like(t) for t in a]
        for ta, tb, gg in zip(a, b, g):
            ta.grad, tb.grad = gg.clone(), gg.clone()
        if i == 5:   # a parameter without a gradient is skipped by both
            a[1].grad = b[1].grad = None
        oa.step()
        ob.step()
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    sa, sb = oa.state_dict()["state"], ob.state_dict()["state"]
    assert all(torch.equal(sa[k][n], sb[k][n]) for k in sa for n in sa[k])
    fresh = torch.optim.Adam(b, lr=1e-2, fused=True)
    fresh.load_state_dict(ob.state_dict())   # a lean optimiser's checkpoint loads into plain Adam
