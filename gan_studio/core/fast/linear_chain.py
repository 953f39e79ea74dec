"""An MLP's linear layers and (leaky) ReLUs as one hand-written autograd node (``train.fast_paths``).

The private API here: ``torch._C._will_engine_execute_node`` (in :func:`_will_run`, looked up once as
``_WILL_RUN``): whether the running backward pass will use the gradient flowing into a given node.
Why: so the chain computes only the gradients that are asked for (in G's step, which
backpropagates through D with ``backward(inputs=G's parameters)``, none of D's weight gradients).
Fallback: where it is missing or cannot answer (``autograd.grad`` on a leaf), every gradient the
node's inputs require is computed, which is what ordinary autograd does. Also ``torch._C._storage_Use_Count``
(``_STORAGE_USES``): how many tensors share a scratch buffer's memory, so that one a view still reads
is not handed out again; where it is missing, the Python reference count alone decides (the chain
itself keeps no views of its buffers). ``torch.ops.aten``'s
``threshold_backward``/``leaky_relu_backward`` are the activations' own backward kernels (their
``grad_input`` out= forms where the gradient is the chain's own tensor: no fresh allocation).

Under ``torch.autocast`` (``train.amp``) the chain casts its input and weights as autocast casts
them for ``nn.Linear`` and runs in that precision: autocast does not reach into a hand-written
backward.

With ``train.fast_paths = false`` the MLPs do not call this module: their ``nn.Linear`` and
activation modules run under ordinary autograd.
"""
from __future__ import annotations

import sys
import threading

import torch
import torch.nn.functional as F
from torch import nn

#: the engine's "will this node run" query; None where this PyTorch lacks it (see the module doc)
_WILL_RUN = getattr(torch._C, "_will_engine_execute_node", None)

#: activations the fused chain computes by hand: name -> negative slope (ReLU is slope 0)
CHAIN_SLOPE = {"relu": 0.0, "leaky_relu": 0.2}


class _LinearChain(torch.autograd.Function):
    """Linear layers, each followed by a (leaky) ReLU or by nothing, forward and backward by hand.

    The same maths as the nn.Linear/nn.LeakyReLU modules, with less work per step than autograd
    does for them: the activations run in place on the matmul output; one autograd node for the
    whole chain instead of three per layer; a weight gradient whose input side is narrow (the 2-D
    data or z) is computed as (hᵀ g)ᵀ, 3-7x faster on a CPU than gᵀ h; and gradients nobody asked
    for are skipped: D's weight gradients while G's step backpropagates through D, the input
    gradient of a batch that does not need one.

    When the backward itself must be differentiable (create_graph: WGAN-GP's penalty, second-order
    unrolling), it recomputes the chain with ordinary autograd ops and differentiates that, so
    higher derivatives stay exact.
    """

    @staticmethod
    def forward(ctx, x, slopes, *params):
        h, hidden, last = x, [], len(slopes) - 1
        for i, slope in enumerate(slopes):
            # a hidden layer's output is this node's own (kept on ctx, never handed out): scratch
            h = _layer(h, params[2 * i], params[2 * i + 1], scratch=i < last)
            if slope is not None:
                if slope == 0.0:
                    h.clamp_min_(0.0)
                else:
                    F.leaky_relu_(h, slope)
            hidden.append(h)
        ctx.slopes = slopes
        # the inputs of layers 2..n, kept on ctx rather than saved: they are intermediates of this
        # node (no one else holds or changes them), so autograd's version checks on saved tensors
        # have nothing to guard, and saving them would cost a check per tensor per backward
        ctx.hidden = hidden[:-1]
        ctx.save_for_backward(x, h, *params)
        return h

    @staticmethod
    def backward(ctx, g):
        x, out, *params = ctx.saved_tensors
        slopes = ctx.slopes
        n = len(slopes)
        if torch.is_grad_enabled():      # a differentiable backward is wanted (create_graph)
            return _chain_backward_by_autograd(ctx, x, params, g)
        # which gradients this backward pass will actually use (backward(inputs=...) prunes)
        wanted = [ctx.needs_input_grad[0] and _will_run(ctx, 0)]
        wanted += [ctx.needs_input_grad[2 + k] and _will_run(ctx, 1 + k) for k in range(2 * n)]
        grads: list = [None] * (2 * n)
        acts = [x, *ctx.hidden, out]
        own = False   # whether g is this function's own tensor (then the activation applies in place)
        for i in reversed(range(n)):
            h_in, h_out, W = acts[i], acts[i + 1], params[2 * i]
            if slopes[i] is not None:
                g = _activation_backward(g, h_out, slopes[i], in_place=own,
                                         into=None if own else _scratch(g.shape, g))
            if wanted[1 + 2 * i]:
                if 4 * W.shape[1] <= W.shape[0]:   # narrow input: the fast orientation
                    grads[2 * i] = (h_in.t() @ g).t().contiguous()
                else:
                    grads[2 * i] = g.t() @ h_in
            if wanted[2 + 2 * i]:
                grads[2 * i + 1] = g.sum(0)
            if i == 0:
                g = g @ W if wanted[0] else None
            elif any(wanted[: 1 + 2 * i]):       # anything below this layer still needs a gradient
                # an inner gradient: ours alone (out=None: a fresh tensor)
                g, own = torch.mm(g, W, out=_scratch((g.shape[0], W.shape[1]), g)), True
            else:
                break
        return (g if wanted[0] else None, None, *grads)


#: the activations' backward kernels in their out= form, or None where this PyTorch lacks one
#: (then the kernel that returns a new tensor runs)
_INTO = {"threshold": getattr(torch.ops.aten.threshold_backward, "grad_input", None),
         "leaky": getattr(torch.ops.aten.leaky_relu_backward, "grad_input", None)}


def _activation_backward(g: torch.Tensor, h_out: torch.Tensor, slope: float, in_place: bool,
                         into: torch.Tensor | None = None) -> torch.Tensor:
    """g times the (leaky) ReLU's derivative, read from its output; into g itself when g is ours
    (a fresh tensor per layer costs a page-faulted allocation on the CPU for big batches), else
    into ``into`` (a scratch buffer) where given."""
    out = g if in_place else into
    if slope == 0.0:
        if out is not None and _INTO["threshold"] is not None:
            return _INTO["threshold"](g, h_out, 0.0, grad_input=out)
        return torch.ops.aten.threshold_backward(g, h_out, 0.0)
    if out is not None and _INTO["leaky"] is not None:
        return _INTO["leaky"](g, h_out, slope, True, grad_input=out)
    return torch.ops.aten.leaky_relu_backward(g, h_out, slope, True)


class _ScratchBuffers(threading.local):
    """Per thread: (shape, dtype, device) -> the buffers made so far, most recently used key last."""

    def __init__(self):
        self.by_key: dict[tuple, list[torch.Tensor]] = {}


_SCRATCH = _ScratchBuffers()


def _free_count() -> int:
    """What ``sys.getrefcount`` says, in _scratch's loop, of a buffer nothing else refers to: the
    list, the loop's name and the call's argument (3 on CPython 3.11; measured, not assumed, since
    newer interpreters may borrow the loop's reference)."""
    for buf in [torch.empty(0)]:
        return sys.getrefcount(buf)
    return 3


_FREE_COUNT = _free_count()

#: torch's count of the tensors sharing a storage (private API; None where this torch lacks it): a
#: view of a kept buffer holds its memory without holding the buffer's Python object
_STORAGE_USES = getattr(torch._C, "_storage_Use_Count", None)


def _storage_uses(t: torch.Tensor) -> int:
    return _STORAGE_USES(t.untyped_storage()._cdata) if _STORAGE_USES is not None else 0


_FREE_USES = _storage_uses(torch.empty(1))
#: below this many elements (128 KiB of float32) malloc hands freed memory back out itself
SCRATCH_MIN_ELEMENTS = 1 << 15
#: buffers kept per key (a chain's hidden layers of one batch size, alive at once), and keys per thread
SCRATCH_PER_KEY, SCRATCH_KEYS = 6, 12


def _scratch(shape: tuple, like: torch.Tensor) -> torch.Tensor | None:
    """A buffer for an activation or inner gradient that only this module holds, reused from one
    step to the next, or None (small, not on the CPU, or every kept buffer of that shape in use).

    Why: on a CPU a fresh tensor of a few MiB comes from fresh pages (glibc gives big blocks back to
    the system when they are freed), and the first write to each 4 KiB page faults; for a G pass
    over a few thousand rows that costs as much as the matrix product writing it. A kept buffer is
    free again when nothing but this pool refers to it: the autograd node that kept it on its ctx
    has been freed (its graph dropped after backward), or the pass that used it has returned."""
    if like.device.type != "cpu" or shape[0] * shape[1] < SCRATCH_MIN_ELEMENTS:
        return None   # the CUDA caching allocator reuses memory already
    if torch.is_inference_mode_enabled():
        return None   # a buffer made here would be an inference tensor, never writable outside that mode
    key = (tuple(shape), like.dtype, like.device)
    by_key = _SCRATCH.by_key
    kept = by_key.pop(key, None)
    if kept is None:
        kept = []
        if len(by_key) >= SCRATCH_KEYS:   # forget the least recently used shape
            by_key.pop(next(iter(by_key)))
    by_key[key] = kept                     # most recently used: last
    for buf in kept:
        if sys.getrefcount(buf) <= _FREE_COUNT and _storage_uses(buf) <= _FREE_USES:   # nothing but the pool
            return buf
    if len(kept) >= SCRATCH_PER_KEY:
        return None
    kept.append(torch.empty(shape, dtype=like.dtype, device=like.device))
    return kept[-1]


def _layer(h: torch.Tensor, W: torch.Tensor, b: torch.Tensor, scratch: bool) -> torch.Tensor:
    """h Wᵀ + b, into a scratch buffer when ``scratch`` (a hidden layer's output) and one is free."""
    return torch.addmm(b, h, W.t(), out=_scratch((h.shape[0], W.shape[0]), h) if scratch else None)


def _will_run(ctx, k: int) -> bool:
    """Whether the running backward pass uses the gradient of tensor input k of this autograd node
    (x is 0, the parameters follow)."""
    node = ctx.next_functions[k][0]
    if node is None:
        return False
    if _WILL_RUN is None:   # an older torch: compute it
        return True
    try:
        return bool(_WILL_RUN(node))
    except RuntimeError:  # autograd.grad() on a leaf: compute it
        return True


def _chain_reference(x, slopes, params):
    h = x
    for i, slope in enumerate(slopes):
        h = F.linear(h, params[2 * i], params[2 * i + 1])
        if slope is not None:
            h = F.relu(h) if slope == 0.0 else F.leaky_relu(h, slope)
    return h


def _chain_backward_by_autograd(ctx, x, params, g):
    inputs = [x, *params]
    need = [ctx.needs_input_grad[0], *ctx.needs_input_grad[2:]]
    with torch.enable_grad():
        out = _chain_reference(x, ctx.slopes, params)
    chosen = [t for t, nd in zip(inputs, need) if nd]
    got = iter(torch.autograd.grad(out, chosen, g, create_graph=True, allow_unused=True))
    grads = [next(got) if nd else None for nd in need]
    return (grads[0], None, *grads[1:])


def linear_chain(x: torch.Tensor, layers: list[nn.Linear], slopes: tuple) -> torch.Tensor:
    """``layers[i]`` then the activation of ``slopes[i]`` (None: none), as one fused autograd node."""
    params = [p for lin in layers for p in (lin.weight, lin.bias)]
    device = x.device.type
    if torch.is_autocast_enabled(device):
        # autocast (train.amp) does not reach into a hand-written backward: cast the input and the
        # weights as autocast would cast them for nn.Linear, and run the chain in that precision
        dtype = torch.get_autocast_dtype(device)
        with torch.autocast(device, enabled=False):
            return _chain(x.to(dtype), [p.to(dtype) for p in params], slopes)
    return _chain(x, params, slopes)


def _chain(x: torch.Tensor, params: list[torch.Tensor], slopes: tuple) -> torch.Tensor:
    if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in params)):
        return _LinearChain.apply(x, tuple(slopes), *params)
    with torch.no_grad():   # sampling and evaluation: no graph, activations in place
        h, last = x, len(slopes) - 1
        for i, slope in enumerate(slopes):
            h = _layer(h, params[2 * i], params[2 * i + 1], scratch=i < last)   # the output: fresh
            if slope is not None:
                h = h.clamp_min_(0.0) if slope == 0.0 else F.leaky_relu_(h, slope)
        return h
