"""The unrolled GAN's look-ahead for a (leaky) ReLU MLP discriminator, forward and reverse by hand.

What it computes: D's outputs on G's batch after k Adam updates of D that continue D's own Adam
moments, each update on a fresh (real, fake) batch, as one autograd node of (that batch, the
look-ahead fakes). With ``second_order`` G's gradient flows through the k updates (Metz et al.);
without, the updates are plain data (the copy-D approximation) and only the last D is
differentiated. D's own weights and optimiser are not touched.

Why by hand: autograd differentiates the k create_graph backward passes op by op (per-parameter
Adam arithmetic, each layer's double backward), which for the studio's small networks costs
several times the matrix products. Here:

- D is a chain of linear layers with a (leaky) ReLU between them, so a look-ahead step is one
  joint pass over [real; fake] (no batch statistics) and its gradient one hand-written backward.
- The parameters, Adam's moments and the gradients live in one flat buffer each, so Adam's update
  and its reverse are a dozen whole-buffer operations, not a loop over parameters.
- In those buffers a layer is the matrix [W | b], and the inputs the look-ahead keeps carry a column of
  ones, so a layer's product adds its bias and a weight gradient's product sums the bias gradient.
- The reverse pass needs, per step, the Hessian-vector products H_θθ·v and H_xθ·v of D's loss. A
  (leaky) ReLU's second derivative is zero, so with the masks of the forward pass fixed the
  gradient is bilinear in the weights and the data, and both products are one forward-mode
  (Pearlmutter R-operator) sweep through the saved activations: six matrix products per hidden
  layer, no graph. ``loss_derivatives`` gives the elementwise first and second derivatives of D's
  loss in its outputs (its Hessian in the outputs is diagonal: a mean over samples).
- Bias corrections are device tensors (Adam's step counts stay on the device): no host sync.
- The activations each step keeps for the reverse pass go into a :class:`Workspace` that lives
  from one G step to the next: on a CPU, fresh memory costs a page fault per 4 KiB the first time
  it is written, which for these sizes costs as much as the arithmetic on it.

Besides public PyTorch operations, the activations' own backward kernels in their out= form
(``torch.ops.aten.threshold_backward.grad_input``, ``leaky_relu_backward.grad_input``, looked up
once in ``_ACT_BACKWARD_INTO``) apply the ReLU's derivative in place; where a build lacks them, a
multiplication by the derivative does the same. This module imports nothing from the rest of the
studio; :class:`~gan_studio.core.training.tricks.Unrolled` decides when it runs (fast paths on, a
chain D, a D loss with known derivatives) and otherwise runs its plain autograd version.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

#: (D's outputs (2n, 1) on [real; fake], n, real_target, fake_target) -> (dL/d out, d²L/d out²),
#: each (2n, 1): the elementwise derivatives of D's loss in its outputs, the means' 1/n included
LossDerivatives = Callable[[torch.Tensor, int, float, float], tuple[torch.Tensor, torch.Tensor]]


class Workspace:
    """The buffers of a look-ahead (parameters per step, gradients, the activations each step keeps
    for the reverse pass), with their per-layer views made once, reused by the next look-ahead.

    One look-ahead's reverse pass reads them, so a second look-ahead must not start before the
    first one's backward has run (the Trainer's step never does that; :meth:`check` says so)."""

    def __init__(self):
        self._plan: _Plan | None = None
        self._buffers: dict[str, torch.Tensor] = {}
        self._owner: object | None = None

    def buffer(self, name: str, shape: tuple, like: torch.Tensor) -> torch.Tensor:
        """A named buffer of the caller's (the look-ahead's batch of latents), kept between steps."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != like.dtype or buf.device != like.device:
            buf = self._buffers[name] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return buf

    def plan(self, key: tuple, make) -> "_Plan":
        if self._plan is None or self._plan.key != key:
            self._plan = make()
        return self._plan

    def claim(self) -> object:
        self._owner = token = object()
        return token

    def check(self, token: object) -> None:
        if token is not self._owner:
            raise RuntimeError("the unrolled look-ahead ran again before the backward pass of an earlier one, "
                               "whose saved activations it overwrote; backpropagate each G loss before the next")


@dataclass
class LookAhead:
    """D as a chain and its Adam state: everything the look-ahead needs besides the batches."""
    weights: Sequence[torch.Tensor]      # W_1 ... W_L, (out, in) as nn.Linear keeps them; W_L has one row
    biases: Sequence[torch.Tensor]
    slope: float                         # the activation after every layer but the last: 0 = ReLU
    exp_avg: Sequence[torch.Tensor]      # Adam's moments and step counts per parameter,
    exp_avg_sq: Sequence[torch.Tensor]   # in the order W_1, b_1, ..., W_L, b_L
    steps: Sequence[torch.Tensor]        # 0-d, on any device
    lr: float
    betas: tuple[float, float]
    eps: float
    loss_derivatives: LossDerivatives
    targets: tuple[float, float]         # D's (real, fake) targets (label smoothing)
    second_order: bool
    workspace: Workspace = field(default_factory=Workspace)


def unrolled_outputs(x: torch.Tensor, reals: torch.Tensor, fakes: torch.Tensor, la: LookAhead) -> torch.Tensor:
    """D's output (N,) on ``x`` (N, d) after ``k`` look-ahead Adam steps, step i on
    ``reals[i]`` and ``fakes[i]`` (k, n, d each; the rows D sees, packing already applied).
    Differentiable in ``x`` and, with ``la.second_order``, in ``fakes``. Runs in D's own precision
    (float32) under autocast too: a look-ahead of k steps is too long a chain for bfloat16."""
    dtype = la.weights[0].dtype
    with torch.autocast(x.device.type, enabled=False):
        return _Unrolled.apply(x.to(dtype), fakes.to(dtype), reals.to(dtype), la)


class _Layers:
    """One flat buffer seen as per-layer tensors (views made once). Layer l is stored as the
    augmented matrix A_l = [W_l | b_l], (out, in + 1), so that a layer is one matrix product with
    its input carrying a column of ones: the bias is added, and its gradient summed, by the product
    itself instead of by a broadcast and a reduction of their own."""

    def __init__(self, flat: torch.Tensor, shapes):
        outs, ins = [sh[0] for sh in shapes[0::2]], [sh[1] for sh in shapes[0::2]]
        self.flat = flat
        self.A = [a.view(o, i + 1) for a, o, i in zip(torch.split(flat, [o * (i + 1) for o, i in zip(outs, ins)]),
                                                       outs, ins)]
        self.W = [A[:, :-1] for A in self.A]
        self.b = [A[:, -1] for A in self.A]
        self.Wt, self.At = [W.t() for W in self.W], [A.t() for A in self.A]

    def load(self, weights, biases) -> "_Layers":
        """Copy per-layer (W, b) in (W of shape (out, in), b of shape (out,))."""
        for A, W, b in zip(self.A, weights, biases):
            torch.cat([W.detach().reshape(A.shape[0], -1), b.detach().reshape(-1, 1)], 1, out=A)
        return self


class _Plan:
    """Every buffer of a look-ahead of ``k`` steps on ``rows`` rows, for one D layout."""

    def __init__(self, key, shapes, k: int, keep: int, rows: int, like: torch.Tensor):
        self.key, self.shapes = key, shapes
        self.P = P = sum(sh.numel() for sh in shapes)
        widths = [sh[0] for sh in shapes[0::2]][:-1]            # hidden layers' widths
        d_in = shapes[0][1]
        new = lambda *size: torch.empty(size, dtype=like.dtype, device=like.device)   # noqa: E731

        def with_ones(*size):   # a buffer whose last column is 1 (the bias's input)
            t = new(*size)
            t[..., -1] = 1.0
            return t
        self.theta = [_Layers(t, shapes) for t in new(k + 1, P)]    # D's parameters before step i
        self.grad = [_Layers(t, shapes) for t in new(keep, P)]      # dL_D/d theta at step i
        self.m, self.v = _Layers(new(P), shapes), _Layers(new(P), shapes)   # Adam's moments
        self.lam = _Layers(new(P), shapes)                           # dL_G/d theta, the reverse pass's
        self.lam_g = _Layers(new(P), shapes)                         # the reverse pass's direction
        self.hv = _Layers(new(P), shapes)                            # H v
        self.X = with_ones(k, rows, d_in + 1)                        # [real; fake] of each step, and 1
        # per kept step and hidden layer: the activation (and 1) and the delta dL_D/d pre-activation
        self.h = [with_ones(keep, rows, w + 1) for w in widths]
        self.h_pre = [[h[j, :, :-1] for j in range(keep)] for h in self.h]   # the products' outputs
        self.d = [new(keep, rows, w) for w in widths]
        self.r = [new(rows, w) for w in widths]                      # R{h} of the current step
        self.r_d = [new(rows, w) for w in widths]                    # R{delta} of the current step
        # the bias corrections of the k steps spread over the flat layout: per buffer and layer
        # a (k, out, in + 1) view
        self.spread_to = new(2, k, P)
        blocks = [[part.view(k, sh[0], sh[1] + 1) for part, sh in
                   zip(torch.split(buf, [sh[0] * (sh[1] + 1) for sh in shapes[0::2]], dim=1), shapes[0::2])]
                  for buf in self.spread_to]
        self.spread_views = [[(blk[:, :, :-1], blk[:, :, -1]) for blk in bufs] for bufs in blocks]

    def spread(self, c: torch.Tensor, slot: int) -> torch.Tensor:
        """(k, P): per step, the value c[step, p] of parameter p (order W_1, b_1, W_2, ...) on each of
        its elements in the flat layout; broadcast copies, nothing read back from the device."""
        for l, (w, b) in enumerate(self.spread_views[slot]):
            w.copy_(c[:, 2 * l, None, None].expand(w.shape))
            b.copy_(c[:, 2 * l + 1, None].expand(b.shape))
        return self.spread_to[slot]


def _weight_grad(d: torch.Tensor, h: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """dᵀ h (into ``out``), in the faster orientation when h is narrow (the 2-D data; see linear_chain)."""
    if 4 * h.shape[1] <= d.shape[1]:
        if out is not None and out.is_contiguous():   # written transposed, straight into out
            torch.mm(h.t(), d, out=out.t())
            return out
        g = (h.t() @ d).t()
        return out.copy_(g) if out is not None else g
    return torch.mm(d.t(), h, out=out) if out is not None else d.t() @ h


def _times_weight(d: torch.Tensor, W: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """d W (into ``out``); an outer product for D's one-output head, where a matrix product of
    inner size 1 is slow."""
    if W.shape[0] == 1:
        return torch.mul(d, W, out=out) if out is not None else d * W
    return torch.mm(d, W, out=out) if out is not None else d @ W


def _add_times_weight(acc: torch.Tensor, d: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    return acc.addcmul_(d, W) if W.shape[0] == 1 else acc.addmm_(d, W)


def _out_variant(op: str):
    return getattr(getattr(torch.ops.aten, op, None), "grad_input", None)


#: the activations' backward kernels that write into a given tensor (aten's out= overloads); None
#: where this PyTorch lacks one, and then _act_grad_ multiplies by the derivative instead
_ACT_BACKWARD_INTO = {"relu": _out_variant("threshold_backward"), "leaky": _out_variant("leaky_relu_backward")}


def _act_grad_(g: torch.Tensor, h: torch.Tensor, slope: float) -> torch.Tensor:
    """g times the activation's derivative, in place, read from its output h (whose sign is its
    input's)."""
    if slope == 0.0:
        kernel = _ACT_BACKWARD_INTO["relu"]
        return kernel(g, h, 0.0, grad_input=g) if kernel is not None else g.mul_(h > 0)
    kernel = _ACT_BACKWARD_INTO["leaky"]
    if kernel is not None:
        return kernel(g, h, slope, True, grad_input=g)
    return g.mul_(torch.full_like(h, slope).masked_fill_(h > 0, 1.0))


def _forward(x, lay: _Layers, slope, plan: _Plan | None = None, j: int = 0):
    """(each layer's input [x, h_1, ..., h_{L-1}], the output (N, 1)). With a plan, ``x`` carries
    a last column of ones and so does each input kept (in the plan's slot j): every layer is one
    product with A_l. Without, plain products and broadcast biases (the look-ahead's last pass)."""
    hs, h = [x], x
    L = len(lay.W)
    for l in range(L):
        if plan is None:
            h = torch.addmm(lay.b[l], h, lay.Wt[l])
        elif l == L - 1:
            h = torch.mm(h, lay.At[l])
        else:
            torch.mm(h, lay.At[l], out=plan.h_pre[l][j])
            h = plan.h[l][j]
        if l == L - 1:
            break
        # with a plan, on the whole buffer: the column of ones stays 1 under a (leaky) ReLU
        h.clamp_min_(0.0) if slope == 0.0 else torch.nn.functional.leaky_relu_(h, slope)
        hs.append(h)
    return hs, h


def _act(h: torch.Tensor, plan: _Plan | None) -> torch.Tensor:
    """The activation part of a kept layer input (without the column of ones)."""
    return h if plan is None else h[:, :-1]


def _backward(hs, slope, lay: _Layers, d_out, grads: _Layers, plan: _Plan | None = None,
              j: int = 0, want_x: bool = False):
    """Backpropagate d_out (N, 1) = dL/d output: (the deltas dL/d(pre-activation) of layers 1..L,
    dL/dx or None); the parameters' gradient goes into ``grads``. With a plan the inputs ``hs``
    carry their column of ones (see :func:`_forward`), and a layer's gradient is one product."""
    L = len(lay.W)
    deltas, d = [None] * L, d_out
    for l in reversed(range(L)):
        deltas[l] = d
        if plan is not None:
            _weight_grad(d, hs[l], out=grads.A[l])
        else:
            _weight_grad(d, hs[l], out=grads.W[l])
            torch.sum(d, 0, out=grads.b[l])
        if l > 0:
            d = _act_grad_(_times_weight(d, lay.W[l], out=plan.d[l - 1][j] if plan is not None else None),
                           _act(hs[l], plan), slope)
    return deltas, (d @ lay.W[0] if want_x else None)


def _hvp(hs, slope, deltas, d2, lay: _Layers, v: _Layers, plan: _Plan, want_theta: bool, x_rows: slice):
    """The products of D's loss Hessian with the direction ``v`` in parameter space: H_θθ·v into
    ``plan.hv`` (when ``want_theta``) and H_xθ·v on the rows ``x_rows`` of x (returned).
    Forward-mode along v of the forward pass and the backward pass, masks fixed (ReLU'' = 0).
    ``hs`` are a look-ahead step's kept inputs, with their column of ones."""
    L = len(lay.W)
    r_h, r_d = plan.r, plan.r_d
    if not want_theta:   # rows do not mix: only the rows asked for need a pass at all
        hs, deltas = [h[x_rows] for h in hs], [d[x_rows] for d in deltas]
        d2, r_h, r_d = d2[x_rows], [r[x_rows] for r in r_h], [r[x_rows] for r in r_d]
        x_rows = slice(None)
    r_hs = [None]                        # R{h_0} = 0: the data does not depend on θ
    for l in range(L - 1):
        r = torch.mm(hs[l], v.At[l], out=r_h[l])
        if r_hs[l] is not None:
            r.addmm_(r_hs[l], lay.Wt[l])
        r_hs.append(_act_grad_(r, hs[l + 1][:, :-1], slope))
    r = torch.mm(hs[-1], v.At[-1])
    if L > 1:
        r.addmm_(r_hs[-1], lay.Wt[-1])   # R{output}
    r = r.mul_(d2)                       # R{delta_L} = l''(out) R{out}
    hv = plan.hv
    for l in reversed(range(L)):
        d = deltas[l]
        if want_theta:
            _weight_grad(r, hs[l], out=hv.A[l])          # the bias's part, the sum of r, included
            if r_hs[l] is not None:
                hv.W[l].addmm_(d.t(), r_hs[l])
        if l > 0:   # R{delta_(l-1)} = (R{delta_l} W_l + delta_l V_l) * act'
            r = _act_grad_(_add_times_weight(_times_weight(d, v.W[l], out=r_d[l - 1]), r, lay.W[l]),
                           hs[l][:, :-1], slope)
    return torch.addmm(deltas[0][x_rows] @ v.W[0], r[x_rows], lay.W[0])


class _Unrolled(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x, fakes, reals, la: LookAhead):
        shapes = [p.shape for W, b in zip(la.weights, la.biases) for p in (W, b)]
        k, n, dim = reals.shape
        keep = k if la.second_order else 1      # copy-D keeps nothing for a reverse pass: one slot
        like = la.weights[0]
        key = (tuple(shapes), k, keep, 2 * n, like.dtype, like.device)
        plan = la.workspace.plan(key, lambda: _Plan(key, shapes, k, keep, 2 * n, like))
        ctx.token = la.workspace.claim()
        plan.theta[0].load(la.weights, la.biases)
        m = plan.m.load(la.exp_avg[0::2], la.exp_avg[1::2]).flat       # this function's own buffers
        v = plan.v.load(la.exp_avg_sq[0::2], la.exp_avg_sq[1::2]).flat
        b1, b2 = la.betas
        # Adam's bias corrections for the k steps: each parameter keeps its own step count (a
        # layer added later has fewer), read on the device; computed per (step, parameter), then
        # spread over the parameter's elements, (k, P); b^t as exp(t log b)
        t = torch.stack([s.detach().reshape(()).to(like.device, like.dtype) for s in la.steps])
        t = t + torch.arange(1, k + 1, device=like.device, dtype=like.dtype)[:, None]
        lr_c1 = torch.mul(t, math.log(b1)).exp_().neg_().add_(1.0).reciprocal_().mul_(la.lr)   # lr / (1 - b1^t)
        inv_c2 = t.mul_(math.log(b2)).exp_().neg_().add_(1.0).reciprocal_()                  # 1 / (1 - b2^t)
        lr_c1, inv_c2 = plan.spread(lr_c1, 0), plan.spread(inv_c2, 1)                       # no sync
        tiny = torch.full((), 1e-30, device=like.device, dtype=like.dtype)
        X = plan.X                                            # (k, 2n, dim + 1): one joint pass per step
        X[:, :n, :dim].copy_(reals)
        X[:, n:, :dim].copy_(fakes.detach())
        caches = []
        for i in range(k):
            j = i if la.second_order else 0
            lay, grads = plan.theta[i], plan.grad[j]
            hs, out = _forward(X[i], lay, la.slope, plan, j)
            d1, d2 = la.loss_derivatives(out, n, *la.targets)
            deltas, _ = _backward(hs, la.slope, lay, d1, grads, plan, j)
            g = grads.flat
            m = m.mul_(b1).add_(g, alpha=1.0 - b1)
            v = v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
            # theta' = theta - a m', a = lr / (c1 den), den = sqrt(v' / c2 + tiny) + eps; the tiny
            # constant keeps d sqrt(v)/dv finite where a gradient is exactly 0 (dead units)
            s = torch.addcmul(tiny, v, inv_c2[i]).sqrt_()
            den = s + la.eps
            a = torch.div(lr_c1[i], den)
            update = a * m
            if la.second_order:   # what the reverse pass needs: d theta'/d m' = -a, d theta'/d v' = q
                q = update.mul(inv_c2[i]).div_(den.mul_(s).mul_(2.0))
                caches.append((hs, deltas, d2, a, q))
            torch.sub(lay.flat, update, out=plan.theta[i + 1].flat)
        hs, out = _forward(x.detach(), plan.theta[k], la.slope)
        ctx.la, ctx.plan, ctx.hs, ctx.caches, ctx.n, ctx.k = la, plan, hs, caches, n, k
        return out[:, 0]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_out):
        la, plan, n, k = ctx.la, ctx.plan, ctx.n, ctx.k
        want_fakes = la.second_order and ctx.needs_input_grad[1]
        la.workspace.check(ctx.token)          # the plan's buffers still hold this look-ahead
        _, g_x = _backward(ctx.hs, la.slope, plan.theta[k], g_out[:, None], plan.lam,
                           want_x=ctx.needs_input_grad[0])
        if not want_fakes:
            return g_x, None, None, None
        b1, b2 = la.betas
        lam_theta = plan.lam.flat                            # dL_G / d theta_k
        lam_m = lam_v = torch.zeros_like(lam_theta)         # L_G does not read m_k, v_k
        g_fakes = g_out.new_empty((k, n, ctx.hs[0].shape[1]))
        for i in reversed(range(k)):
            hs, deltas, d2, a, q = ctx.caches[i]
            lam_m = torch.addcmul(lam_m, lam_theta, a, value=-1.0)     # through theta' = theta - a m'
            lam_v = torch.addcmul(lam_v, lam_theta, q)
            # m' = b1 m + (1 - b1) g, v' = b2 v + (1 - b2) g²
            torch.addcmul(lam_m * (1.0 - b1), plan.grad[i].flat, lam_v, value=2.0 * (1.0 - b2), out=plan.lam_g.flat)
            lam_m, lam_v = lam_m.mul_(b1), lam_v.mul_(b2)
            g_fakes[i] = _hvp(hs, la.slope, deltas, d2, plan.theta[i], plan.lam_g, plan, want_theta=i > 0,
                              x_rows=slice(n, None))
            if i > 0:                                       # g = grad L_D(theta): theta gets H v
                lam_theta.add_(plan.hv.flat)
        ctx.caches = ctx.hs = None
        return g_x, g_fakes, None, None
