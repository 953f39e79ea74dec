"""Choosing the training device: cuda, then mps, then cpu, or one the user names."""
from __future__ import annotations

import re

import torch

_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device_name(name: str) -> None:
    from gan_studio.core.config import ConfigError
    if not _DEVICE_RE.match(name or ""):
        raise ConfigError(f"train.device = {name!r} is not allowed; choose auto, cpu, cuda, cuda:N or mps")


def pick_device(name: str = "auto") -> torch.device:
    """Resolve a device name; a named device that is not present is a clear error."""
    from gan_studio.core.config import ConfigError
    check_device_name(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device = {name!r}: no CUDA GPU is available here; use auto or cpu")
        idx = int(name.split(":")[1]) if ":" in name else 0
        if idx >= torch.cuda.device_count():
            raise ConfigError(f"train.device = {name!r}: only {torch.cuda.device_count()} GPU(s) present")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("train.device = 'mps': Apple's MPS is not available here; use auto or cpu")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    """A short human name: the GPU's model, or 'CPU (N threads)'."""
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "GPU: Apple MPS"
    return f"CPU ({torch.get_num_threads()} threads)"
