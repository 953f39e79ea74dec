"""Minibatch discrimination's closeness sums by blocks (core/fast/closeness.py) compute what
``torch.cdist`` and autograd compute: values, gradients (against finite differences too), second
derivatives through a create_graph backward, every block split (rows per block from 1 to all), ties
and a collapsed batch (identical rows, where sign(0) = 0), autocast; and a Trainer with
``train.fast_paths`` on and off trains the same numbers with the trick on."""
from __future__ import annotations

import pytest
import torch

from gan_studio.core.fast import closeness
from gan_studio.core.fast.closeness import closeness_reference, l1_closeness
from tests.test_tricks import tiny


def _both(m: torch.Tensor, g: torch.Tensor):
    out = []
    for fn in (l1_closeness, closeness_reference):
        x = m.detach().clone().requires_grad_()
        o = fn(x)
        (o * g).sum().backward()
        out.append((o.detach(), x.grad))
    return out


@pytest.mark.parametrize("keep", [True, False])          # the forward's blocks kept, or recomputed
@pytest.mark.parametrize("block", [1, 7, 10 ** 9])      # rows per block: 1, a ragged split, all rows
@pytest.mark.parametrize("n", [2, 5, 33])
def test_values_and_gradients_match_cdist(monkeypatch, block, n, keep):
    monkeypatch.setattr(closeness, "_rows_per_block", lambda B, N: min(block, N))
    if not keep:
        monkeypatch.setattr(closeness, "_KEEP_ELEMENTS", 0)
    torch.manual_seed(n)
    m, g = torch.randn(n, 4, 3, dtype=torch.float64), torch.randn(n, 4, dtype=torch.float64)
    (o, gm), (o_ref, gm_ref) = _both(m, g)
    assert o.shape == (n, 4)
    torch.testing.assert_close(o, o_ref)
    torch.testing.assert_close(gm, gm_ref)


def test_a_retained_graph_gives_the_same_gradient_twice():
    """The kept blocks are read, not consumed: a second backward through the same graph agrees."""
    torch.manual_seed(3)
    m = torch.randn(40, 6, 4, requires_grad=True)
    g = torch.randn(40, 6)
    o = l1_closeness(m)
    (first,) = torch.autograd.grad(o, m, g, retain_graph=True)
    (second,) = torch.autograd.grad(o, m, g)
    torch.testing.assert_close(first, second, rtol=0, atol=0)


def test_gradient_equals_finite_differences():
    torch.manual_seed(0)
    m = torch.randn(9, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(l1_closeness, (m,))


def test_second_derivatives_through_a_create_graph_backward():
    torch.manual_seed(1)
    m = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(l1_closeness, (m,))
    (g1,) = torch.autograd.grad(l1_closeness(m).pow(2).sum(), m, create_graph=True)
    (g2,) = torch.autograd.grad(closeness_reference(m).pow(2).sum(), m, create_graph=True)
    torch.testing.assert_close(g1, g2)
    torch.testing.assert_close(torch.autograd.grad(g1.sum(), m)[0], torch.autograd.grad(g2.sum(), m)[0])


def test_a_collapsed_batch_and_ties():
    """Identical rows (a collapsed G): every distance 0, every sum N - 1; and ties in one coordinate."""
    m = torch.ones(8, 3, 2)
    m[4:, :, 0] = 2.0                     # half the rows differ in one coordinate only
    g = torch.randn(8, 3)
    (o, gm), (o_ref, gm_ref) = _both(m, g)
    torch.testing.assert_close(o, o_ref)
    torch.testing.assert_close(gm, gm_ref)
    same = torch.ones(5, 2, 3)
    torch.testing.assert_close(l1_closeness(same), torch.full((5, 2), 4.0))


def test_float32_at_the_size_the_trick_uses():
    torch.manual_seed(2)
    m, g = torch.randn(256, 100, 5) * 0.5, torch.randn(256, 100)
    (o, gm), (o_ref, gm_ref) = _both(m, g)
    torch.testing.assert_close(o, o_ref, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(gm, gm_ref, rtol=1e-4, atol=1e-3)


def test_no_graph_when_no_gradient_is_wanted_and_autocast_runs_in_float32():
    m = torch.randn(7, 3, 2, requires_grad=True)
    with torch.no_grad():
        assert l1_closeness(m).grad_fn is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        o = l1_closeness(m.to(torch.bfloat16))
    assert o.dtype == torch.float32
    torch.testing.assert_close(o, closeness_reference(m.detach()), rtol=2e-2, atol=2e-2)


def test_trainer_trains_the_same_with_fast_paths_on_and_off():
    runs = []
    for fast in (True, False):
        tr = tiny(**{"tricks.minibatch_discrimination.enabled": True, "train.fast_paths": fast})
        for _ in range(5):
            tr.step()
        runs.append(torch.cat([p.detach().flatten() for p in tr.D.parameters()]))
    torch.testing.assert_close(runs[0], runs[1], rtol=1e-4, atol=1e-5)


def test_a_nan_in_the_batch_shows_as_nan_not_as_a_number():
    """A NaN feature (a diverged D) must reach D's output, where the step's finiteness check rolls the
    run back and pauses it; the blocks must not turn it into a finite sum (as a max or a where could)."""
    m = torch.randn(12, 3, 2, requires_grad=True)
    bad = m.detach().clone()
    bad[5, 1, 0] = float("nan")
    o = l1_closeness(bad.requires_grad_())
    assert torch.isnan(o[:, 1]).all() and torch.isfinite(o[:, [0, 2]]).all()
    o.sum().backward()
    assert torch.isnan(bad.grad[:, 1]).any()
