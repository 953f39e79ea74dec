"""Choosing the training device: cuda, then mps, then cpu, or one the user names."""
from __future__ import annotations

import torch

from gan_studio.core.config import check_device_name
from gan_studio.core.errors import ConfigError


def pick_device(name: str = "auto") -> torch.device:
    """Resolve a device name; a named device that is not present is a clear error."""
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


def is_out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` is an allocation failure (torch's CPU allocator, CUDA/MPS out of memory)."""
    if isinstance(e, MemoryError):
        return True
    oom = getattr(torch, "OutOfMemoryError", None)
    if oom is not None and isinstance(e, oom):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and any(s in text for s in (
        "not enough memory", "out of memory", "defaultcpuallocator", "can't allocate memory",
        "failed to allocate", "allocation failed"))


def free_cached_memory(device: torch.device) -> None:
    """Hand the allocator's cached blocks back (after an out-of-memory error on a GPU)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def describe_device(device: torch.device) -> str:
    """A short human name: the GPU's model, or 'CPU (1 thread)' / 'CPU (N threads)'."""
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "GPU: Apple MPS"
    return f"CPU ({threads_text(torch.get_num_threads())})"


def threads_text(n: int) -> str:
    """'1 thread', '2 threads'."""
    return f"{n} thread" if n == 1 else f"{n} threads"


# -- how many torch CPU threads a run trains with ------------------------------------------------
# One rule for the window's worker and for `gan-studio train` / `bench`: the faster of 1 and
# cores - 1 for the run's size. Small steps (the 2-D MLPs) lose to OpenMP's thread hand-offs: ring8
# on a 2-core machine ran at 81 steps/s with 1 thread against 22 with 2; wide MLPs on big batches and
# convolutional (image) nets gain from more threads.

#: multiply-adds in one G step (with its D steps) below which one thread is the faster choice.
#: Measured on a 2-core machine: ring8 (about 3e8) is 1.5-7x faster on 1 thread; G and D 512 wide
#: on batches of 1,024 (about 8e9) 1.4x faster on 2.
SMALL_STEP_MACS = 2e9


def cpu_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS says), at least 1."""
    import os
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def spare_threads(cores: int | None = None) -> int:
    """All cores but one (left to the window's GUI thread, or to the rest of the machine), at least 1."""
    return max(1, (cpu_cores() if cores is None else cores) - 1)


def step_macs(trainer) -> float:
    """A rough count of the multiply-adds of one training step (G step and its D steps, forward and
    backward, about 3x a forward pass); ``inf`` for convolutional nets (image runs), whose work
    grows with the pixels and is always big enough for several threads."""
    from torch import nn
    nets = [getattr(trainer, "G", None), getattr(trainer, "D", None)]
    if any(isinstance(m, nn.modules.conv._ConvNd) for n in nets if n is not None for m in n.modules()):
        return float("inf")
    g, d = (sum(p.numel() for p in n.parameters()) if n is not None else 0 for n in nets)
    t = trainer.cfg.train
    d_steps = max(1, int(getattr(t, "d_steps", 1)))
    # each D step: D on the real and the fake batch, G forward for the fakes; the G step: G and D once
    per_batch = d_steps * (2 * d + g) + (g + d)
    return 3.0 * t.batch_size * per_batch


def threads_for(macs: float, cores: int | None = None, device_type: str = "cpu", jobs: int = 1) -> int:
    """The thread count for a step of ``macs`` multiply-adds: 1 for small CPU steps, else cores - 1
    (with ``jobs`` runs side by side in their own processes: each run's share of the cores)."""
    cores = cpu_cores() if cores is None else max(1, cores)
    many = spare_threads(cores) if jobs <= 1 else max(1, cores // jobs)
    if device_type == "cpu" and macs < SMALL_STEP_MACS:
        return 1
    return many


def choose_threads(trainer, cores: int | None = None, jobs: int = 1) -> int:
    """The torch CPU thread count this trainer's run trains fastest with (see ``threads_for``)."""
    return threads_for(step_macs(trainer), cores, trainer.device.type, jobs)


def env_threads() -> int | None:
    """OMP_NUM_THREADS when it is set to a whole number from 1 to 1024 (--threads' range): the user's
    own choice, kept. Another value is no choice: torch.set_num_threads(99999) ends the process
    with a segmentation fault, and int('²') raises."""
    import os
    text = os.environ.get("OMP_NUM_THREADS", "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 4):
        return None
    return int(text) if 1 <= int(text) <= 1024 else None


def run_threads(trainer, requested: int | None = None) -> int:
    """The thread count a command trains with: ``requested`` (--threads), else OMP_NUM_THREADS when
    set, else ``choose_threads``."""
    if requested is not None:
        return requested
    return env_threads() or choose_threads(trainer)
