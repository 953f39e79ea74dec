"""Mixed precision (``train.amp``) and channels-last memory format (``train.channels_last``).

Both are speed settings for a GPU; neither changes the method. ``auto`` resolves by device and
network: on a CUDA GPU, the convolutional (DCGAN) networks run their forward passes under
``torch.autocast`` in bfloat16 (float16 where the GPU lacks bfloat16) and keep their weights and
images channels-last, where tensor cores are fastest; on the CPU, and for the small 2-D MLPs (whose
steps are bound by kernel launches, not arithmetic), both stay off.

The weights, the optimisers' state and the losses stay float32 either way: autocast only lowers
the precision of the matrix products and convolutions inside the forward passes. float16 also
needs a gradient scaler (one per optimiser, so that a player's update is skipped, and its scale
lowered, when its own gradients overflow); its state is part of a checkpoint, so a run resumes
exactly.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def is_convolutional(*nets: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.conv._ConvNd) for net in nets for m in net.modules())


def resolve_amp(setting: str, device: torch.device, convolutional: bool) -> str:
    """off, bf16 or fp16 for ``train.amp`` (auto: see the module doc)."""
    if setting != "auto":
        return setting
    if device.type != "cuda" or not convolutional:
        return "off"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def resolve_channels_last(setting: str, device: torch.device, convolutional: bool) -> bool:
    """Whether the networks and images go channels-last (only convolutional nets have a use for it)."""
    if not convolutional:
        return False
    return setting == "on" or (setting == "auto" and device.type == "cuda")


class Precision:
    """The autocast context of the forward passes and, for fp16, a gradient scaler per player."""

    def __init__(self, mode: str, device: torch.device):
        self.mode, self.device_type = mode, device.type
        self.dtype = DTYPES.get(mode)
        self.scalers = ({who: torch.amp.GradScaler(device.type) for who in ("d", "g")}
                        if mode == "fp16" else {})

    def autocast(self):
        """Where the forward passes run: lower precision under amp, a no-op without."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor, who: str, optimizer: torch.optim.Optimizer, inputs=None) -> None:
        """Backpropagate ``loss`` into the gradients ``optimizer`` will use: scaled, then unscaled
        in place (so the gradient norms and the tricks see true gradients) under fp16."""
        scaler = self.scalers.get(who)
        torch.autograd.backward(scaler.scale(loss) if scaler is not None else loss, inputs=inputs)
        if scaler is not None:
            scaler.unscale_(optimizer)

    def step(self, who: str, optimizer: torch.optim.Optimizer, skip: bool = False) -> None:
        """The player's optimiser step (none with ``skip``); fp16: skipped where the gradients
        overflowed, and the scale updated."""
        scaler = self.scalers.get(who)
        if scaler is None:
            if not skip:
                optimizer.step()
            return
        if not skip:
            scaler.step(optimizer)
        scaler.update()

    def state_dict(self) -> dict:
        return {who: s.state_dict() for who, s in self.scalers.items()}

    def load_state_dict(self, state: dict) -> None:
        for who, s in self.scalers.items():
            if who in state:
                s.load_state_dict(state[who])


def to_channels_last(*nets: nn.Module) -> None:
    for net in nets:
        net.to(memory_format=torch.channels_last)
