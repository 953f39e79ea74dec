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
