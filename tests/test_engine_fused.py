"""The fast paths (core/fast) compute what the plain modules and torch.optim.Adam compute: the
fused MLP chain, the lean Adam step and the multi-tensor kernels, each also without the private
PyTorch API it uses (its fallback); and a Trainer with ``train.fast_paths`` on and off trains the
same numbers to float rounding."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from gan_studio.core.config import Config
from gan_studio.core.fast import adam, foreach, linear_chain
from gan_studio.core.fast.adam import LeanAdam
from gan_studio.core.families.registry import make_trainer
from gan_studio.core.nets.mlp import MLPDiscriminator, MLPGenerator
from gan_studio.core.training.losses import gradient_penalty


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


@pytest.mark.parametrize("fused", [True, False], ids=["fast", "plain"])
def test_fused_d_matches_the_modules_in_value_and_every_gradient(fused):
    torch.manual_seed(0)
    D = MLPDiscriminator((2,), 3, 32, "leaky_relu", fused=fused)
    x = torch.randn(64, 2, requires_grad=True)
    fused = D(x)
    ref = _reference_d(D, x)
    assert torch.allclose(fused, ref, atol=1e-6)
    inputs = [x, *D.parameters()]
    for a, b in zip(_grads(F.softplus(fused).mean(), inputs), _grads(F.softplus(ref).mean(), inputs)):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("fused", [True, False], ids=["fast", "plain"])
def test_fused_g_matches_the_modules_with_relu_and_a_narrow_first_layer(fused):
    torch.manual_seed(1)
    G = MLPGenerator(4, (2,), 3, 32, "relu", fused=fused)
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
    original = linear_chain._LinearChain.backward

    def spy(ctx, g):
        out = original(ctx, g)
        returned.append([t is not None for t in out])
        return out
    monkeypatch.setattr(linear_chain._LinearChain, "backward", staticmethod(spy))
    z = torch.randn(32, 4)
    torch.autograd.backward(F.softplus(-D(G(z))).mean(), inputs=list(G.parameters()))
    d_chain, g_chain = returned          # D's node runs first in the backward pass
    assert d_chain == [True, False] + [False] * 6     # only the gradient for G's samples (3 layers)
    assert g_chain == [False, False] + [True] * 6     # z needs none; every G weight and bias
    assert all(p.grad is None for p in D.parameters())
    monkeypatch.undo()
    ref = _grads(F.softplus(-_reference_d(D, _reference_g(G, z))).mean(), list(G.parameters()))
    assert all(torch.allclose(p.grad, r, atol=1e-6) for p, r in zip(G.parameters(), ref))


@pytest.mark.parametrize("fused", [True, False], ids=["fast", "plain"])
def test_wgan_gp_penalty_through_the_fused_chain_has_the_reference_second_derivatives(fused):
    torch.manual_seed(3)
    D = MLPDiscriminator((2,), 3, 16, "leaky_relu", fused=fused)
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
    assert linear_chain.CHAIN_SLOPE.get(D.activation) is None
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


# -- each private API's fallback gives the same numbers ---------------------------------------------------
def test_the_chain_without_the_engine_query_computes_every_gradient_and_the_same_ones(monkeypatch):
    torch.manual_seed(5)
    G = MLPGenerator(4, (2,), 2, 16, "relu")
    D = MLPDiscriminator((2,), 2, 16, "leaky_relu")
    z = torch.randn(32, 4)
    torch.autograd.backward(F.softplus(-D(G(z))).mean(), inputs=list(G.parameters()))
    fast = [p.grad.clone() for p in G.parameters()]
    G.zero_grad(set_to_none=True)
    monkeypatch.setattr(linear_chain, "_WILL_RUN", None)
    torch.autograd.backward(F.softplus(-D(G(z))).mean(), inputs=list(G.parameters()))
    assert all(torch.allclose(a, p.grad, atol=1e-6) for a, p in zip(fast, G.parameters()))


def test_lean_adam_without_the_fused_kernel_is_adam(monkeypatch):
    torch.manual_seed(6)
    a = [torch.randn(4, 3, requires_grad=True)]
    b = [a[0].detach().clone().requires_grad_(True)]
    oa = LeanAdam(a, lr=1e-2, fused=True)
    monkeypatch.setattr(adam, "_FUSED_ADAM", None)
    ob = LeanAdam(b, lr=1e-2, fused=True)
    for _ in range(5):
        g = torch.randn(4, 3)
        a[0].grad, b[0].grad = g.clone(), g.clone()
        monkeypatch.setattr(adam, "_FUSED_ADAM", getattr(torch, "_fused_adam_"))
        oa.step()
        monkeypatch.setattr(adam, "_FUSED_ADAM", None)
        ob.step()   # Adam's own step (fused=True: the same kernel through torch.optim)
    assert torch.equal(a[0], b[0])


def test_the_multi_tensor_helpers_match_their_loops(monkeypatch):
    torch.manual_seed(7)
    ts = [torch.randn(5, 3), torch.randn(7), torch.tensor([float("nan"), 1.0])]
    others = [torch.randn_like(t) for t in ts]
    kernel = {"norm2": foreach.norms(ts), "norm_inf": foreach.norms(ts, float("inf")),
              "sub": foreach.sub(ts, others)}
    a = [t.clone() for t in ts]
    foreach.add_(a, others, alpha=0.5)
    foreach.add_(a, 2)
    foreach.clamp_(a, -0.3, 0.4)
    monkeypatch.setattr(foreach, "_KERNELS", dict.fromkeys(foreach._KERNELS))   # every kernel missing
    loop = {"norm2": foreach.norms(ts), "norm_inf": foreach.norms(ts, float("inf")),
            "sub": foreach.sub(ts, others)}
    b = [t.clone() for t in ts]
    foreach.add_(b, others, alpha=0.5)
    foreach.add_(b, 2)
    foreach.clamp_(b, -0.3, 0.4)
    for k in kernel:
        assert all(torch.allclose(x, y, equal_nan=True) for x, y in zip(kernel[k], loop[k])), k
    assert all(torch.equal(x, y) or torch.allclose(x, y, equal_nan=True) for x, y in zip(a, b))


# -- a Trainer with the fast paths on and off -------------------------------------------------------------
CASES = {
    "ring8": {},
    "wgan-gp": {"loss": "wgan-gp"},                                            # create_graph through the chain
    "wgan-clip+history": {"loss": "wgan", "tricks.historical_averaging.enabled": True},
    "unrolled": {"tricks.unrolled.enabled": True, "tricks.unrolled.k": 2},    # second order
    "packing+replay": {"tricks.packing.enabled": True, "tricks.replay.enabled": True},
    "digits-mlp": {"data.name": "digits", "data.image_size": 8},
    "cgan-mlp": {"data.name": "digits", "data.image_size": 8, "model.family": "cgan"},
}


def _trainer(fast: bool, sets: dict):
    cfg = Config()
    for k, v in {"train.batch_size": 32, "model.g_width": 32, "model.d_width": 32, "model.g_depth": 2,
                 "model.d_depth": 2, "train.device": "cpu", "train.seed": 3, **sets,
                 "train.fast_paths": fast}.items():
        cfg.set(k, v)
    cfg.validate()
    return make_trainer(cfg)


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_and_plain_train_the_same_numbers_to_float_rounding(case):
    fast, plain = _trainer(True, CASES[case]), _trainer(False, CASES[case])
    assert type(fast.opt_g) is LeanAdam and type(plain.opt_g) is torch.optim.Adam
    assert fast.G.state_dict().keys() == plain.G.state_dict().keys()
    for a, b in zip(fast.G.state_dict().values(), plain.G.state_dict().values()):
        assert torch.equal(a, b)   # the same initial weights: only the code path differs
    for step in range(6):
        ma, mb = fast.step().as_dict(), plain.step().as_dict()
        for k in ma:
            assert ma[k] == pytest.approx(mb[k], rel=1e-4, abs=1e-5), (case, step, k)
    for a, b in zip(fast.G.parameters(), plain.G.parameters()):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_a_checkpoint_of_one_path_continues_on_the_other():
    fast = _trainer(True, {})
    for _ in range(3):
        fast.step()
    plain = _trainer(False, {})
    plain.load_state_dict(copy.deepcopy(fast.state_dict()))   # Adam's state would share tensors
    a, b = fast.step().as_dict(), plain.step().as_dict()
    assert all(a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-5) for k in a)



# -- the chain's scratch buffers: reused only when nothing else holds them ----------------------------
def _chain_net(width=64, depth=3, seed=0):
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(8 if i == 0 else width, width if i < depth - 1 else 2) for i in range(depth)]
    return layers, (0.0,) * (depth - 1) + (None,)


def _ref_chain(x, layers, slopes):
    return linear_chain._chain_reference(x, slopes, [p for lin in layers for p in (lin.weight, lin.bias)])


@pytest.fixture
def small_scratch(monkeypatch):
    """Scratch for every size, so that small test batches exercise it."""
    monkeypatch.setattr(linear_chain, "SCRATCH_MIN_ELEMENTS", 1)
    linear_chain._SCRATCH.by_key.clear()
    yield
    linear_chain._SCRATCH.by_key.clear()


def test_two_graphs_alive_at_once_keep_their_own_activations(small_scratch):
    """A second forward before the first one's backward must not write into the first one's kept
    activations (both graphs of the same shape, as G's batch and its look-ahead batches are)."""
    layers, slopes = _chain_net()
    params = [p for lin in layers for p in (lin.weight, lin.bias)]
    x1, x2 = torch.randn(32, 8), torch.randn(32, 8)
    y1 = linear_chain.linear_chain(x1, layers, slopes)
    y2 = linear_chain.linear_chain(x2, layers, slopes)    # same shapes: the pool must hand out new buffers
    g1 = torch.autograd.grad(y1.square().sum(), params)
    g2 = torch.autograd.grad(y2.square().sum(), params)
    r1 = torch.autograd.grad(_ref_chain(x1, layers, slopes).square().sum(), params)
    r2 = torch.autograd.grad(_ref_chain(x2, layers, slopes).square().sum(), params)
    for a, b in zip(g1 + g2, r1 + r2):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_a_sampled_output_is_never_a_scratch_buffer(small_scratch):
    """The no-grad path (sampling) hands out its output: the next pass must not overwrite it."""
    layers, slopes = _chain_net()
    with torch.no_grad():
        a = linear_chain.linear_chain(torch.randn(16, 8), layers, slopes)
        kept = a.clone()
        for _ in range(3):
            linear_chain.linear_chain(torch.randn(16, 8), layers, slopes)
    assert torch.equal(a, kept)


def test_buffers_are_reused_after_backward_and_the_gradients_stay_exact(small_scratch):
    layers, slopes = _chain_net()
    params = [p for lin in layers for p in (lin.weight, lin.bias)]
    made = []
    for step in range(4):
        x = torch.randn(32, 8, requires_grad=True)
        got = torch.autograd.grad(linear_chain.linear_chain(x, layers, slopes).sin().sum(), [x, *params])
        want = torch.autograd.grad(_ref_chain(x, layers, slopes).sin().sum(), [x, *params])
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        made.append({id(t) for v in linear_chain._SCRATCH.by_key.values() for t in v})
    assert made[0] and made[0] == made[-1]   # the first step's buffers serve every later step


def test_the_pool_is_bounded_and_per_thread(small_scratch):
    import threading
    layers, slopes = _chain_net()
    with torch.no_grad():
        for n in range(1, 40):       # many batch sizes: at most SCRATCH_KEYS shapes are kept
            linear_chain.linear_chain(torch.randn(n, 8), layers, slopes)
    assert len(linear_chain._SCRATCH.by_key) <= linear_chain.SCRATCH_KEYS
    seen = {}

    def other():
        seen["empty"] = not linear_chain._SCRATCH.by_key
    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen["empty"]


def test_retained_graph_backward_twice_gives_the_same_gradients(small_scratch):
    """retain_graph: the kept activations stay on the node, so a second backward reads them intact
    even after other passes ran in between."""
    layers, slopes = _chain_net()
    params = [p for lin in layers for p in (lin.weight, lin.bias)]
    y = linear_chain.linear_chain(torch.randn(32, 8), layers, slopes).square().sum()
    g1 = torch.autograd.grad(y, params, retain_graph=True)
    for _ in range(3):   # other graphs of the same shape come and go
        torch.autograd.grad(linear_chain.linear_chain(torch.randn(32, 8), layers, slopes).sum(), params)
    g2 = torch.autograd.grad(y, params)
    for a, b in zip(g1, g2):
        assert torch.equal(a, b)


def test_a_pass_under_inference_mode_leaves_no_buffer_that_later_passes_cannot_write(small_scratch):
    layers, slopes = _chain_net()
    with torch.inference_mode():
        linear_chain.linear_chain(torch.randn(16, 8), layers, slopes)
    x = torch.randn(16, 8, requires_grad=True)
    linear_chain.linear_chain(x, layers, slopes).sum().backward()     # would raise on an inference buffer
    with torch.no_grad():
        linear_chain.linear_chain(torch.randn(16, 8), layers, slopes)
    assert x.grad is not None


def test_a_buffer_held_anywhere_is_not_handed_out_again(small_scratch):
    like = torch.empty(0)
    a = linear_chain._scratch((4, 4), like)
    b = linear_chain._scratch((4, 4), like)
    assert a is not b                      # a is held here
    view = b[1:]                           # a view holds b's memory, not b itself
    b_id = id(b)
    del b
    c = linear_chain._scratch((4, 4), like)
    assert c is not a and id(c) != b_id    # neither the held one nor the one a view still reads
    del a, c, view
    d = linear_chain._scratch((4, 4), like)   # nothing held now: a kept one comes back
    assert any(d is t for t in linear_chain._SCRATCH.by_key[((4, 4), torch.float32, torch.device("cpu"))])
