"""The Trainer's Adam: :func:`make_adam` gives :class:`LeanAdam` with the fast paths on, plain
``torch.optim.Adam`` with them off; the same update, state and state_dict either way (a checkpoint
of one loads into the other)."""
from __future__ import annotations

from typing import Iterable

import torch

from gan_studio.core.fast import foreach

#: Adam's fused kernel, the private op behind ``Adam(fused=True)``: the one place it is looked up.
#: Why call it directly: see LeanAdam. Fallback: None where this PyTorch lacks it, and then LeanAdam
#: is Adam (its own step).
_FUSED_ADAM = getattr(torch, "_fused_adam_", None)


class LeanAdam(torch.optim.Adam):
    """torch.optim.Adam whose fused step calls the fused kernel directly.

    The same update, state and state_dict as ``Adam(fused=True)`` (the same kernel on the same
    tensors, so the numbers are identical), without the per-call Python bookkeeping of
    ``Optimizer.step`` (hooks, grouping by device, option checks), which on a CPU costs about as
    much as the update itself for the studio's small networks. The step replaces ``step`` on the
    instance, so optimizer step hooks do not run (the studio registers none). Anything but the
    plain fused case (AMSGrad, weight decay, maximise, the foreach path, a gradient scaler's
    step, a PyTorch without the kernel) goes to Adam's own step.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.step = self._lean_step   # on the instance: Optimizer wraps the class's step in hooks

    def _lean_step(self, closure=None):
        # a gradient scaler (train.amp = fp16) hands the fused kernel its found-inf flag through
        # these attributes (GradScaler.step); Adam's own step passes them on
        scaled = getattr(self, "found_inf", None) is not None or getattr(self, "grad_scale", None) is not None
        if closure is not None or scaled or not all(_plain_fused(g) for g in self.param_groups):
            return torch.optim.Adam.step(self, closure)
        for group in self.param_groups:
            params, grads, avgs, sqs, steps = [], [], [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:   # as Adam initialises it for the fused path
                    st["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                    st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                params.append(p)
                grads.append(p.grad)
                avgs.append(st["exp_avg"])
                sqs.append(st["exp_avg_sq"])
                steps.append(st["step"])
            if not params:
                continue
            b1, b2 = group["betas"]
            foreach.add_(steps, 1)
            _FUSED_ADAM(params, grads, avgs, sqs, [], steps, amsgrad=False, lr=group["lr"],
                        beta1=float(b1), beta2=float(b2), weight_decay=0.0, eps=group["eps"],
                        maximize=False, grad_scale=None, found_inf=None)
        return None


def _plain_fused(group: dict) -> bool:
    return (bool(group.get("fused")) and not group.get("amsgrad") and not group.get("weight_decay")
            and not group.get("maximize") and not group.get("capturable") and not group.get("differentiable")
            and not group.get("decoupled_weight_decay") and not isinstance(group["lr"], torch.Tensor)
            and _FUSED_ADAM is not None)


def make_adam(params: Iterable[torch.Tensor], lr: float, betas: tuple[float, float], device: torch.device,
              lean: bool = True) -> torch.optim.Adam:
    """Adam over ``params``: the fused kernel (one launch for all tensors) on CPU and CUDA, the
    foreach implementation elsewhere (MPS) or where the fused one refuses the tensors. ``lean``
    (``train.fast_paths``): :class:`LeanAdam`; else ``torch.optim.Adam`` itself."""
    cls = LeanAdam if lean else torch.optim.Adam
    params = list(params)
    if torch.device(device).type in ("cpu", "cuda"):
        try:
            return cls(params, lr=lr, betas=betas, fused=True)
        except RuntimeError:   # a dtype or device the fused kernel does not take
            pass
    return cls(params, lr=lr, betas=betas, foreach=True)


def _real(x) -> bool:
    """A finite number (a one-element tensor, as torch allows for a learning rate, counts as one)."""
    if isinstance(x, torch.Tensor) and x.numel() == 1 and not x.is_complex():
        x = float(x)
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and abs(x) != float("inf")


def adam_state_problem(opt: torch.optim.Optimizer, state, names: dict[int, str] | None = None) -> str | None:
    """What makes ``state`` (an Adam state_dict read from a file) unfit for ``opt``, in words; None
    when it fits. torch's own load_state_dict checks the groups' sizes only: the fused kernel reads a
    moment of another shape out of bounds (the process dies of a segmentation fault), and a missing
    moment or a learning rate that is not a number fails every step after the resume. ``names``:
    id(parameter) -> its name, to say which parameter."""
    if not isinstance(state, dict) or not isinstance(state.get("state"), dict) \
            or not isinstance(state.get("param_groups"), list):
        return "it is not an optimizer's state (it lacks 'state' or 'param_groups')"
    groups, ours = state["param_groups"], opt.param_groups
    if len(groups) != len(ours) or not all(isinstance(g, dict) and isinstance(g.get("params"), list)
                                           and len(g["params"]) == len(o["params"]) for g, o in zip(groups, ours)):
        held = sum(len(g["params"]) for g in groups if isinstance(g, dict) and isinstance(g.get("params"), list))
        return f"it holds {held} parameters where the network has {sum(len(o['params']) for o in ours)}"
    for g in groups:
        lr, betas, eps = g.get("lr"), g.get("betas"), g.get("eps")
        if not (_real(lr) and float(lr) >= 0):
            return f"its learning rate is {lr!r}, not a number >= 0"
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2 and all(_real(b) and 0 <= b < 1 for b in betas)):
            return f"its betas are {betas!r}, not two numbers in [0, 1)"
        if not (_real(eps) and eps > 0):
            return f"its eps is {eps!r}, not a number > 0"
    params = {i: p for g, o in zip(groups, ours) for i, p in zip(g["params"], o["params"])}
    names = names or {}
    for key, moments in state["state"].items():
        p = params.get(key)
        if p is None:
            continue   # a parameter the optimizer does not have: torch leaves it out
        name = names.get(id(p), f"parameter {key}")
        if not isinstance(moments, dict):
            return f"the state of {name} is a {type(moments).__name__}, not Adam's moments"
        if not moments:
            continue   # not stepped yet
        missing = [k for k in ("step", "exp_avg", "exp_avg_sq") if k not in moments]
        if missing:
            return f"the state of {name} lacks {', '.join(missing)}"
        for k in ("exp_avg", "exp_avg_sq"):
            t = moments[k]
            if not isinstance(t, torch.Tensor):
                return f"{k} of {name} is a {type(t).__name__}, not a tensor"
            if tuple(t.shape) != tuple(p.shape):
                return f"{k} of {name} has shape {list(t.shape)}, where {name} has {list(p.shape)}"
        step = moments["step"]
        if not ((isinstance(step, torch.Tensor) and step.numel() == 1 and not step.is_complex()) or _real(step)):
            return f"the step count of {name} is {type(step).__name__}, not a number"
    return None
