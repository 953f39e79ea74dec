"""Minibatch discrimination's closeness sums, forward and backward by hand on the CPU (``train.fast_paths``).

What it computes: for M (N, B, C), the rows' kernel outputs, o[i, b] = Σ_{j≠i} exp(-||M[i, b] - M[j, b]||_1)
(Salimans et al.'s c_b summed over the batch), (N, B).

Why by hand: ``torch.cdist(p=1)`` followed by ``exp`` and a sum materialises several (B, N, N)
tensors, forward and backward (100 kernels on 512 rows: 26 M floats each), and on a CPU the
time goes into writing and reading them back; minibatch discrimination then cost about 30x
what packing costs per step. Here:

- The pairwise distances are built in blocks of a few rows against the rest (kept in cache),
  from the kernels laid out as (B, C, N) so that the inner loop runs along the batch.
- The distance is symmetric, so only the blocks on and above the diagonal are computed: a block
  adds its row sums to its own rows and its column sums to the rows it was compared with.
- The forward pass keeps its blocks of exp(-l1) (about B N² / 2 numbers, written where they are
  computed) for the backward, which recomputes them instead where they would pass 64 MB. With
  W = exp(-l1) (g_i + g_j) (symmetric), dL/dM[i, b, c] = -Σ_j W_ij sign(M[i, b, c] - M[j, b, c]),
  and a block gives both its rows' and (with the opposite sign) its columns' share.

When the backward itself must be differentiable (create_graph: a gradient penalty, second-order
unrolling through D by autograd), it recomputes the sums with ``torch.cdist`` under autograd and
differentiates that, so higher derivatives stay exact. On other devices, and with
``train.fast_paths = false``, the caller uses :func:`closeness_reference` (the same maths).

Public PyTorch operations only. This module imports nothing from the rest of the studio.
"""
from __future__ import annotations

import torch

#: the elements of one block (B x rows x columns): a few MB, so that a block's passes stay in cache
_BLOCK_ELEMENTS = 1 << 19


def closeness_reference(m: torch.Tensor) -> torch.Tensor:
    """o (N, B) for kernel outputs m (N, B, C) by ``torch.cdist`` and autograd."""
    mt = m.transpose(0, 1)                                  # (B, N, C)
    l1 = torch.cdist(mt, mt, p=1.0)                         # (B, N, N)
    return (torch.exp(-l1).sum(2) - 1.0).t()                # exp(0) = 1 is the j = i term


def l1_closeness(m: torch.Tensor) -> torch.Tensor:
    """o (N, B) for kernel outputs m (N, B, C): :func:`closeness_reference` by blocks (see the module doc)."""
    if m.device.type != "cpu" or m.dim() != 3 or m.shape[0] < 2:
        return closeness_reference(m)
    if torch.is_autocast_enabled("cpu"):
        # autocast does not reach into a hand-written backward: the sums run in float32, as
        # cdist does under autocast
        with torch.autocast("cpu", enabled=False):
            return l1_closeness(m.float())
    if torch.is_grad_enabled() and m.requires_grad:
        return _Closeness.apply(m)
    with torch.no_grad():
        return _forward(_layout(m)).t()


def _layout(m: torch.Tensor) -> torch.Tensor:
    return m.detach().permute(1, 2, 0).contiguous()        # (B, C, N): the batch innermost


def _rows_per_block(B: int, N: int) -> int:
    return max(1, min(N, _BLOCK_ELEMENTS // max(1, B * N)))


def _block_l1(a: torch.Tensor, i0: int, i1: int, out: torch.Tensor, tmp: torch.Tensor) -> torch.Tensor:
    """out (B, i1 - i0, N - i0) = Σ_c |a[:, c, i] - a[:, c, j]| for rows i in [i0, i1), j in [i0, N)."""
    torch.sub(a[:, 0, i0:i1, None], a[:, 0, None, i0:], out=out).abs_()
    for c in range(1, a.shape[1]):
        out.add_(torch.sub(a[:, c, i0:i1, None], a[:, c, None, i0:], out=tmp).abs_())
    return out


def _block_sizes(B: int, N: int):
    """(i0, i1, n, cols) of each block of rows: rows [i0, i1) against columns [i0, N)."""
    rows = _rows_per_block(B, N)
    for i0 in range(0, N, rows):
        i1 = min(N, i0 + rows)
        yield i0, i1, i1 - i0, N - i0


def _blocks(a: torch.Tensor, kept: torch.Tensor | None = None):
    """(i0, i1, n, block, work, scratch) for each block of rows, each (B, n, N - i0): work and scratch
    views of one buffer that every block reuses; block a view of its own part of ``kept`` (see
    :func:`_kept_size`), or without ``kept`` the work buffer itself."""
    B, _, N = a.shape
    buf = a.new_empty(2, B * _rows_per_block(B, N) * N)
    at = 0
    for i0, i1, n, cols in _block_sizes(B, N):
        size = B * n * cols
        work, tmp = buf[0, :size].view(B, n, cols), buf[1, :size].view(B, n, cols)
        block = work if kept is None else kept[at: at + size].view(B, n, cols)
        at += size
        yield i0, i1, n, block, work, tmp


def _kept_size(B: int, N: int) -> int:
    """The elements of every block together (about B N² / 2): the forward pass keeps its blocks of
    exp(-l1) for the backward when that is at most _KEEP_ELEMENTS, else the backward recomputes them."""
    return sum(B * n * cols for _, _, n, cols in _block_sizes(B, N))


#: the most elements of kept blocks (64 MB of float32): Salimans et al.'s 100 kernels on 256 rows keep 3.3 M
_KEEP_ELEMENTS = 1 << 24


def _forward(a: torch.Tensor, kept: torch.Tensor | None = None) -> torch.Tensor:
    """o (B, N) for a (B, C, N); with ``kept``, each block of exp(-l1) is left there."""
    B, _, N = a.shape
    o = a.new_zeros(B, N)
    for i0, i1, n, K, _, tmp in _blocks(a, kept):
        _block_l1(a, i0, i1, K, tmp).neg_().exp_()
        o[:, i0:i1] += K.sum(-1)
        if i1 < N:                       # the block's columns below the diagonal block: K is symmetric
            o[:, i1:] += K[:, :, n:].sum(-2)
    return o.sub_(1.0)


def _backward(a: torch.Tensor, g: torch.Tensor, kept: torch.Tensor | None = None) -> torch.Tensor:
    """dL/da (B, C, N) for a (B, C, N) and g = dL/do (B, N); the blocks of exp(-l1) read from ``kept``
    (not changed: a retained graph may run backward again) or recomputed."""
    B, C, N = a.shape
    ga = a.new_zeros(B, C, N)
    for i0, i1, n, K, W, tmp in _blocks(a, kept):
        if kept is None:                 # recomputed in the work buffer, which then becomes W
            _block_l1(a, i0, i1, K, tmp).neg_().exp_()
        torch.mul(K, torch.add(g[:, i0:i1, None], g[:, None, i0:], out=tmp), out=W)   # W = K (g_i + g_j)
        for c in range(C):
            s = torch.sub(a[:, c, i0:i1, None], a[:, c, None, i0:], out=tmp).sign_().mul_(W)
            ga[:, c, i0:i1] -= s.sum(-1)
            if i1 < N:                   # sign(a_j - a_i) = -sign(a_i - a_j)
                ga[:, c, i1:] += s[:, :, n:].sum(-2)
    return ga


class _Closeness(torch.autograd.Function):

    @staticmethod
    def forward(ctx, m):
        ctx.save_for_backward(m)
        a = _layout(m)
        B, _, N = a.shape
        size = _kept_size(B, N)
        # this node's own intermediates (no one else holds them), kept on ctx rather than saved
        ctx.a, ctx.kept = a, (a.new_empty(size) if size <= _KEEP_ELEMENTS else None)
        return _forward(a, ctx.kept).t()

    @staticmethod
    def backward(ctx, g):
        (m,) = ctx.saved_tensors
        if torch.is_grad_enabled():      # a differentiable backward is wanted (create_graph)
            with torch.enable_grad():
                o = closeness_reference(m)
            (gm,) = torch.autograd.grad(o, m, g, create_graph=True)
            return gm
        ga = _backward(ctx.a, g.t().contiguous().to(m.dtype), ctx.kept)
        return ga.permute(2, 0, 1)       # (N, B, C)
