"""The MLP generator and discriminator, and the layers the tricks plug into them.

A discriminator exposes ``features(x)`` (the last hidden layer, used by feature matching) and
``forward(x)`` (the logit/critic value). ``role`` ("real" or "fake") tells layers that keep real and
fake statistics apart which batch they see.

The MLPs carry the places where tricks plug in while a run is training: a :class:`NormSlot` after
each hidden layer, a packed input layer per pack size m, minibatch-discrimination features, and a
virtual-batch-norm reference batch. Each piece is created the first time its trick is turned on
(``ensure_*``) and kept, so turning the trick on again resumes where it stopped; ``layout()`` lists
what exists so a checkpoint can rebuild it before loading the weights.

``fused`` (``train.fast_paths``, set by ``nets/build.py``): with a (leaky) ReLU and no norm layer
the linear layers run as one hand-written autograd node (:mod:`gan_studio.core.fast.linear_chain`);
off, and whenever a norm layer or another activation is in, the ``nn.Linear`` and activation
modules run under ordinary autograd. The weights are the same modules either way.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan_studio.core.errors import ConfigError
from gan_studio.core.fast.closeness import closeness_reference, l1_closeness
from gan_studio.core.fast.linear_chain import CHAIN_SLOPE, linear_chain

_ACT = {
    "relu": lambda: nn.ReLU(),
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": lambda: nn.Tanh(),
    "elu": lambda: nn.ELU(),
    "gelu": lambda: nn.GELU(),
    "silu": lambda: nn.SiLU(),
}


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers with an activation after each one (no activation at the end is added here)."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), _ACT[activation]()]
    return nn.Sequential(*layers)


def add_sorted(modules: nn.ModuleDict, key: str, module: nn.Module) -> None:
    """Add to a ModuleDict keeping its keys sorted: the order of ``parameters()`` (and so of the
    optimiser's state in a checkpoint) then depends on which layers exist, not on when each was made."""
    items = {**dict(modules.items()), key: module}
    modules.clear()
    for k in sorted(items):
        modules[k] = items[k]


def advance_fades(net: nn.Module, delta: float) -> None:
    """Move every fading switch of ``net`` (norm slots, D's packing) ``delta`` closer to done."""
    for slot in getattr(net, "norms", []):
        if slot.fading():
            slot.mix = min(1.0, slot.mix + delta)
    if getattr(net, "pack_mix", 1.0) < 1.0:
        net.pack_mix = min(1.0, net.pack_mix + delta)
    if getattr(net, "mbd_key", None) is not None and net.mbd_mix != net.mbd_target:
        step = delta if net.mbd_target > net.mbd_mix else -delta
        net.mbd_mix = min(1.0, max(0.0, net.mbd_mix + step))
        if net.mbd_mix == 0.0 and net.mbd_target == 0.0:   # faded out: the plain head again
            net.mbd_key = None


def fades_pending(net: nn.Module) -> bool:
    """Whether any switch of ``net`` is still fading (what :func:`advance_fades` would move)."""
    return (any(slot.fading() for slot in getattr(net, "norms", []))
            or getattr(net, "pack_mix", 1.0) < 1.0
            or (getattr(net, "mbd_key", None) is not None and net.mbd_mix != net.mbd_target))


def _fade_layout(slots) -> dict:
    return {"norm_from": [s.from_kind for s in slots], "norm_mix": [s.mix for s in slots]}


def _regroup(out: torch.Tensor, pack_from: int, pack_to: int) -> torch.Tensor:
    """Scores of packs of ``pack_from`` samples as scores of packs of ``pack_to``: each sample takes
    its pack's score, and a new pack scores the mean of its samples'."""
    per_sample = out.repeat_interleave(pack_from) if pack_from > 1 else out
    return per_sample.view(-1, pack_to).mean(1) if pack_to > 1 else per_sample


# -- normalisation ------------------------------------------------------------------------------
class VirtualBatchNorm(nn.Module):
    """Salimans et al.'s VBN. Rows ``[:n_ref]`` are the reference batch R, normalised with their own
    statistics; every other row x is normalised with those of R ∪ {x}: weight 1/(N+1) on x and
    N/(N+1) on R, for the mean and the mean of squares, std = sqrt(eps + E[x²] - μ²). So an
    example's output never depends on the other examples of its batch."""

    def __init__(self, width: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(width))
        self.bias = nn.Parameter(torch.zeros(width))

    def forward(self, h: torch.Tensor, n_ref: int) -> torch.Tensor:
        if n_ref < 1:
            raise RuntimeError("virtual batch norm needs the reference batch in front of the batch")
        ref, x = h[:n_ref], h[n_ref:]
        mu_r, msq_r = ref.mean(0), (ref * ref).mean(0)
        w = 1.0 / (n_ref + 1)
        mu_x = (1 - w) * mu_r + w * x
        msq_x = (1 - w) * msq_r + w * x * x
        ref_out = (ref - mu_r) / torch.sqrt(self.eps + msq_r - mu_r * mu_r)
        x_out = (x - mu_x) / torch.sqrt(self.eps + msq_x - mu_x * mu_x)
        return torch.cat([ref_out, x_out]) * self.weight + self.bias


class NormSlot(nn.Module):
    """Where a normalisation layer goes (after a hidden linear layer, before its activation).

    ``kind``: none, batch, separate-batch (one batch norm for real batches, one for fake),
    virtual-batch, or instance. An MLP feature vector has no spatial positions, so instance norm
    (statistics over the positions of one example) has no meaning for it: here it is layer norm,
    statistics over the features of one example, which is what instance norm reduces to."""

    def __init__(self, width: int):
        super().__init__()
        self.width = width
        self.kind = "none"
        self.from_kind, self.mix = "none", 1.0   # a live switch fades from from_kind while mix < 1
        self.layers = nn.ModuleDict()  # created on first use, kept when switched away

    def _make(self, name: str) -> nn.Module:
        if name not in self.layers:
            if name in ("batch", "batch-real", "batch-fake"):
                layer = nn.BatchNorm1d(self.width)
            elif name == "virtual-batch":
                layer = VirtualBatchNorm(self.width)
            elif name == "instance":
                layer = nn.LayerNorm(self.width)
            else:
                raise ValueError(name)
            add_sorted(self.layers, name, layer)
        return self.layers[name]

    def set_kind(self, kind: str, fade: bool = False) -> list[str]:
        """Switch to ``kind``; with ``fade`` the slot's output moves from the old kind's to the new
        kind's as ``mix`` goes from 0 to 1 (see :func:`advance_fades`), so a live switch starts
        from the function the network had."""
        names = {"none": [], "batch": ["batch"], "separate-batch": ["batch-real", "batch-fake"],
                 "virtual-batch": ["virtual-batch"], "instance": ["instance"]}[kind]
        for n in names:
            self._make(n)
        if kind != self.kind and fade and self.fading() and kind == self.from_kind:
            self.from_kind, self.mix = self.kind, 1.0 - self.mix   # back the way it came: no jump
        elif kind != self.kind:
            self.from_kind, self.mix = (self.kind, 0.0) if fade else (kind, 1.0)
        self.kind = kind
        return names

    def fading(self) -> bool:
        return self.mix < 1.0 and self.from_kind != self.kind

    def plain(self) -> bool:
        """No normalisation at all, not even one fading out."""
        return self.kind == "none" and not self.fading()

    def uses(self, kind: str) -> bool:
        return self.kind == kind or (self.fading() and self.from_kind == kind)

    def forward(self, h: torch.Tensor, role: str | None, n_ref: int) -> torch.Tensor:
        if self.fading():
            old = self._normalise(self.from_kind, h, role, n_ref)
            return torch.lerp(old, self._normalise(self.kind, h, role, n_ref), self.mix)
        return self._normalise(self.kind, h, role, n_ref)

    def _normalise(self, k: str, h: torch.Tensor, role: str | None, n_ref: int) -> torch.Tensor:
        if k == "none":
            return h
        if k == "virtual-batch":
            return self.layers["virtual-batch"](h, n_ref)
        if k == "instance":
            return self.layers["instance"](h)
        bn = self.layers["batch-fake" if (k == "separate-batch" and role == "fake") else
                         "batch-real" if k == "separate-batch" else "batch"]
        if self.training and h.shape[0] == 1:  # batch statistics of one row are undefined
            return F.batch_norm(h, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        return bn(h)


class MinibatchDiscrimination(nn.Module):
    """f(x_i) ∈ R^A times T ∈ R^{A×B×C} gives M_i ∈ R^{B×C}; c_b(i, j) = exp(-||M_{i,b} - M_{j,b}||_1);
    o(x_i)_b = Σ_{j≠i} c_b(i, j). D's logit gains ``out(o)``, which equals concatenating o to f before
    a linear head. ``out`` starts at zero, so turning the trick on does not jolt D's output.
    ``fast`` (``train.fast_paths``): the sums by blocks with a hand-written backward on the CPU
    (:mod:`gan_studio.core.fast.closeness`, several times faster); off, ``torch.cdist`` and autograd."""

    def __init__(self, in_features: int, kernels: int, kernel_dim: int, fast: bool = True):
        super().__init__()
        self.B, self.C = kernels, kernel_dim
        self.fast = fast
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.1)
        self.out = nn.Linear(kernels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def closeness(self, f: torch.Tensor) -> torch.Tensor:
        m = (f @ self.T).view(-1, self.B, self.C)                        # (N, B, C)
        return l1_closeness(m) if self.fast else closeness_reference(m)  # (N, B)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.out(self.closeness(f)).squeeze(1)                     # (N,)


# -- networks -----------------------------------------------------------------------------------
class MLPGenerator(nn.Module):
    """z (N, latent) -> x (N, *out_shape); a tanh output when the data lives in [-1, 1] (images)."""

    def __init__(self, latent_dim: int, out_shape: tuple, depth: int, width: int, activation: str,
                 tanh_out: bool = False, fused: bool = True):
        super().__init__()
        self.fused = fused     # train.fast_paths: the linear layers as one fused node where they can be
        self.latent_dim, self.out_shape = latent_dim, tuple(out_shape)
        out_dim = int(torch.tensor(out_shape).prod())
        self.activation = activation
        self.body = mlp([latent_dim] + [width] * depth, activation)   # (N, width)
        self.out = nn.Linear(width, out_dim)                          # (N, prod(out_shape))
        self.norms = nn.ModuleList(NormSlot(width) for _ in range(depth))
        self.tanh_out = tanh_out
        self.out_scale = 1.0   # model.data_scale
        self.latent_prior = "normal"   # model.latent_prior: "uniform" maps z through the normal CDF first
        self.register_buffer("vbn_reference", None)  # (R, latent): fixed z of VBN's reference batch

    def set_norm(self, kind: str, fade: bool = False) -> None:
        for slot in self.norms:
            slot.set_kind(kind, fade)

    def ensure_vbn_reference(self, z: torch.Tensor) -> None:
        if self.vbn_reference is None:
            self.vbn_reference = z.detach().clone()

    def _uses_vbn(self) -> bool:
        return self.norms[0].uses("virtual-batch")

    def mixes_batch(self) -> bool:
        """True when one sample depends on the others of its batch (batch norm in use): then G
        cannot run several batches as one."""
        return any(s.uses("batch") or s.uses("separate-batch") for s in self.norms)

    def prior(self, z: torch.Tensor) -> torch.Tensor:
        """The latent G's layers see: z itself, or with model.latent_prior = "uniform" each
        coordinate mapped by the normal CDF onto (-1, 1), 2 Phi(z) - 1 = erf(z / sqrt 2): uniform there."""
        return torch.special.erf(z * 0.7071067811865476) if self.latent_prior == "uniform" else z

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.prior(z.flatten(1))
        n_ref = 0
        slope = CHAIN_SLOPE.get(self.activation) if self.fused else None
        if slope is not None and self.norms[0].plain():   # the common case: one fused node
            lins = [self.body[2 * i] for i in range(len(self.norms))] + [self.out]
            return self._finish(linear_chain(h, lins, (slope,) * len(self.norms) + (None,)))
        if self._uses_vbn():  # the reference batch is propagated with every batch
            h = torch.cat([self.prior(self.vbn_reference), h])
            n_ref = self.vbn_reference.shape[0]
        for i, slot in enumerate(self.norms):
            lin, act = self.body[2 * i], self.body[2 * i + 1]
            h = act(slot(lin(h), "fake", n_ref))
        return self._finish(self.out(h[n_ref:]))

    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        if self.tanh_out:
            x = torch.tanh(x)
        if self.out_scale != 1.0:
            x = x * self.out_scale
        return x.view(-1, *self.out_shape)

    def layout(self) -> dict:
        return {"norm_layers": [list(s.layers.keys()) for s in self.norms], "norm": self.norms[0].kind,
                **_fade_layout(self.norms),
                "vbn_reference": None if self.vbn_reference is None else list(self.vbn_reference.shape)}

    def restore_layout(self, lay: dict) -> None:
        _restore_norms(self.norms, lay)
        if lay.get("vbn_reference"):
            self.ensure_vbn_reference(torch.zeros(lay["vbn_reference"], device=self.out.weight.device))


class MLPDiscriminator(nn.Module):
    """x (N, *in_shape) -> logit (N,), or (N/m,) when packing m samples per D input."""

    def __init__(self, in_shape: tuple, depth: int, width: int, activation: str, fused: bool = True):
        super().__init__()
        self.fused = fused     # train.fast_paths: the linear layers as one fused node where they can be
        self.in_dim = int(torch.tensor(in_shape).prod())
        self.width = width
        self.in_scale = 1.0    # model.data_scale
        self.activation = activation
        self.body = mlp([self.in_dim] + [width] * depth, activation)  # (N, width)
        self.head = nn.Linear(width, 1)                               # (N, 1)
        # no norm on the input layer (DCGAN's advice for D); one slot per later hidden layer
        self.norms = nn.ModuleList(NormSlot(width) for _ in range(depth - 1))
        self.pack_in = nn.ModuleDict()   # "m" -> Linear(m * in_dim, width): the packed input layer
        self.pack = 1
        self.pack_from, self.pack_mix = 1, 1.0   # a live switch fades from pack_from while pack_mix < 1
        self.mbd = nn.ModuleDict()       # "BxC" -> MinibatchDiscrimination
        self.mbd_key: str | None = None
        # the minibatch features' weight in D's logit: a live switch moves it to mbd_target step by step
        self.mbd_mix, self.mbd_target = 1.0, 1.0
        self.register_buffer("vbn_reference", None)  # (R, in_dim): fixed real samples of VBN

    # -- switches used by the tricks ----------------------------------------------------------
    def set_norm(self, kind: str, fade: bool = False) -> None:
        for slot in self.norms:
            slot.set_kind(kind, fade)

    def set_packing(self, m: int, fade: bool = False, keep_function: bool = True) -> list[nn.Parameter]:
        """Switch to m samples per D input. A live switch is a change of method, not a restart:
        the input layer in force next starts from the one in force now, so that D's output barely
        moves (``keep_function``; off before a run's first step, where there is nothing to keep and
        a packed layer keeps its own random initialisation, as PacGAN's D has: m slots that start
        equal would make D see only each pack's mean at first). Going from 1 to m, each of the m
        slots gets the unpacked layer's weights / m (the packed D first scores the mean of its
        samples' first-layer features); going back to 1, the unpacked layer gets the sum of the slots (what the packed layer computes for m copies of
        one sample). With ``fade``, D's score then moves from the old packing's (regrouped) to the
        new one's over the fade, so D keeps its judgement while the new layer learns. Returns the
        parameters that were re-initialised (their Adam moments belong to other weights and should
        be dropped)."""
        if m == self.pack:
            return []
        if fade and self.pack_mix < 1.0 and m == self.pack_from:   # back the way it came: no jump
            self.pack, self.pack_from, self.pack_mix = m, self.pack, 1.0 - self.pack_mix
            return []
        if m > 1 and str(m) not in self.pack_in:
            add_sorted(self.pack_in, str(m), nn.Linear(m * self.in_dim, self.width).to(self.head.weight.device))
        old_first = self._trunk_linears()[0]
        self.pack_from, self.pack_mix = (self.pack, 0.0) if fade else (m, 1.0)
        self.pack = m
        if not keep_function:
            return []
        new_first = self._trunk_linears()[0]
        with torch.no_grad():
            w_old = old_first.weight.view(self.width, -1, self.in_dim).sum(1)   # (width, in_dim): per sample
            k = new_first.weight.shape[1] // self.in_dim
            new_first.weight.copy_((w_old / k).repeat(1, k))
            new_first.bias.copy_(old_first.bias)
        return [new_first.weight, new_first.bias]

    def set_minibatch_discrimination(self, kernels: int | None, kernel_dim: int = 5, fade: bool = False) -> None:
        """Minibatch features on (``kernels`` B x ``kernel_dim`` C) or off (None). With ``fade`` their
        weight in D's logit moves from its current value to 1 (on) or 0 (off) over the fade: the
        layer's output starts at zero, but Adam's first updates move every weight by about the
        learning rate, which on a collapsed batch (large closeness sums) would jolt D at once."""
        if kernels is None:
            if fade and self.mbd_key is not None:
                self.mbd_target = 0.0          # faded out step by step, then removed
            else:
                self.mbd_key, self.mbd_mix, self.mbd_target = None, 1.0, 1.0
            return
        key = f"{kernels}x{kernel_dim}"
        if key not in self.mbd:
            add_sorted(self.mbd, key, MinibatchDiscrimination(self.width, kernels, kernel_dim,
                                                                 fast=self.fused).to(self.head.weight.device))
        if key != self.mbd_key:                # a new (or re-shaped) layer fades in from nothing
            self.mbd_mix = 0.0 if fade else 1.0
        elif not fade and self.mbd_target == 0.0:
            self.mbd_mix = 1.0                 # on again at once
        # the same layer, already on (a restored checkpoint): its fade goes on where it was
        self.mbd_key, self.mbd_target = key, 1.0

    def ensure_vbn_reference(self, x: torch.Tensor) -> None:
        if self.vbn_reference is None:
            self.vbn_reference = x.detach().flatten(1).clone()

    def mixes_batch(self) -> bool:
        """True when one example's output depends on the others of its batch (batch norm, minibatch
        features): then real and fake need separate passes."""
        return self.mbd_key is not None or any(s.uses("batch") or s.uses("separate-batch") for s in self.norms)

    # -- forward ------------------------------------------------------------------------------
    def pack_input(self, x: torch.Tensor) -> torch.Tensor:
        """The rows D's first layer sees: samples flattened, scaled, in packs of ``pack``."""
        return self._packed(x)

    def fused_chain(self) -> tuple[list[nn.Linear], float] | None:
        """D as one chain, trunk and head: (its linear layers, the slope of the (leaky) ReLU between
        them), so that D(x) is the chain applied to ``pack_input(x)``; None where D is not one
        (fast paths off, a norm layer, another activation, minibatch features, a packing fade)."""
        slope = self._chain_slope()
        if slope is None or self.mbd_key is not None or (self.pack_mix < 1.0 and self.pack_from != self.pack):
            return None
        return self._trunk_linears() + [self.head], slope

    def _packed(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        if self.in_scale != 1.0:   # model.data_scale
            x = x / self.in_scale
        if self.pack == 1:
            return x
        if x.shape[0] % self.pack:
            raise ConfigError(f"packing m = {self.pack} needs a batch that is a multiple of m, "
                              f"got {x.shape[0]} samples")
        return x.reshape(x.shape[0] // self.pack, self.pack * x.shape[1])

    def _trunk(self, x: torch.Tensor, role: str | None) -> tuple[torch.Tensor, int]:
        h = self._packed(x)
        n_ref = 0
        if self.norms and self.norms[0].uses("virtual-batch"):
            ref = self._packed(self.vbn_reference[: self.vbn_reference.shape[0] // self.pack * self.pack])
            h, n_ref = torch.cat([ref, h]), ref.shape[0]
        slope = self._chain_slope()
        if slope is not None and n_ref == 0:
            lins = self._trunk_linears()
            return linear_chain(h, lins, (slope,) * len(lins)), 0   # one fused node
        first = self._trunk_linears()[0]
        h = self.body[1](first(h))
        for i, slot in enumerate(self.norms):
            lin, act = self.body[2 * i + 2], self.body[2 * i + 3]
            h = act(slot(lin(h), role, n_ref))
        return h, n_ref

    def _trunk_linears(self) -> list[nn.Linear]:
        """The trunk's linear layers in order: the input layer for the packing in force, then the rest."""
        first = self.body[0] if self.pack == 1 else self.pack_in[str(self.pack)]
        return [first] + [self.body[2 * i + 2] for i in range(len(self.norms))]

    def _chain_slope(self) -> float | None:
        """The activation's slope when the whole trunk can run as one fused chain (fast paths on,
        no norm layers, a (leaky) ReLU, no VBN reference batch), else None."""
        slope = CHAIN_SLOPE.get(self.activation) if self.fused else None
        return slope if slope is not None and all(s.plain() for s in self.norms) else None

    def features(self, x: torch.Tensor, role: str | None = None) -> torch.Tensor:
        h, n_ref = self._trunk(x, role)
        return h[n_ref:]

    def forward(self, x: torch.Tensor, role: str | None = None) -> torch.Tensor:
        if self.pack_mix < 1.0 and self.pack_from != self.pack:   # a live packing switch, fading
            new, m = self._forward(x, role), self.pack
            self.pack = self.pack_from
            try:
                old = _regroup(self._forward(x, role), self.pack_from, m)
            finally:
                self.pack = m
            return torch.lerp(old, new, self.pack_mix)
        return self._forward(x, role)

    def _forward(self, x: torch.Tensor, role: str | None) -> torch.Tensor:
        slope = self._chain_slope()
        if slope is not None and self.mbd_key is None:   # trunk and head: one fused node
            lins = self._trunk_linears() + [self.head]
            return linear_chain(self._packed(x), lins, (slope,) * (len(lins) - 1) + (None,)).squeeze(1)
        f = self.features(x, role)
        out = self.head(f).squeeze(1)
        if self.mbd_key is not None:
            mbd = self.mbd[self.mbd_key](f)
            out = out + (mbd if self.mbd_mix == 1.0 else self.mbd_mix * mbd)
        return out

    # -- checkpoints --------------------------------------------------------------------------
    def layout(self) -> dict:
        return {"norm_layers": [list(s.layers.keys()) for s in self.norms],
                "norm": self.norms[0].kind if self.norms else "none",
                "pack_in": [int(k) for k in self.pack_in], "pack": self.pack,
                "pack_from": self.pack_from, "pack_mix": self.pack_mix, **_fade_layout(self.norms),
                "mbd": list(self.mbd.keys()), "mbd_key": self.mbd_key,
                "mbd_mix": self.mbd_mix, "mbd_target": self.mbd_target,
                "vbn_reference": None if self.vbn_reference is None else list(self.vbn_reference.shape)}

    def restore_layout(self, lay: dict) -> None:
        _restore_norms(self.norms, lay)
        for m in lay.get("pack_in", []):
            self.set_packing(int(m))
        self.set_packing(int(lay.get("pack", 1)))
        self.pack_from, self.pack_mix = int(lay.get("pack_from", self.pack)), float(lay.get("pack_mix", 1.0))
        for key in lay.get("mbd", []):
            b, c = (int(v) for v in key.split("x"))
            self.set_minibatch_discrimination(b, c)
        key = lay.get("mbd_key")
        self.mbd_key = key if key in self.mbd else None
        self.mbd_mix, self.mbd_target = float(lay.get("mbd_mix", 1.0)), float(lay.get("mbd_target", 1.0))
        if lay.get("vbn_reference"):
            self.ensure_vbn_reference(torch.zeros(lay["vbn_reference"], device=self.head.weight.device))


def _restore_norms(slots: nn.ModuleList, lay: dict) -> None:
    for i, (slot, names) in enumerate(zip(slots, lay.get("norm_layers", []))):
        for n in names:
            slot._make(n)
        slot.kind = lay.get("norm", "none")
        slot.from_kind = lay.get("norm_from", [slot.kind] * len(slots))[i]
        slot.mix = float(lay.get("norm_mix", [1.0] * len(slots))[i])


def has_batch_stats(module: nn.Module) -> bool:
    """True when a forward pass mixes examples (batch norm, minibatch features): then real and fake
    need separate passes."""
    mixes = getattr(module, "mixes_batch", None)
    if callable(mixes):
        return mixes()
    return any(isinstance(x, nn.modules.batchnorm._BatchNorm) for x in module.modules())
