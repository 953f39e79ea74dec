"""train.cuda_graphs: the plain GAN step captured once as a CUDA graph, then replayed.

Why: on a GPU the studio's networks are small enough that the host, not the GPU, sets the pace.
Measured on an H200 (``benchmarks/bench_gpu.py --profile``): DCGAN at 64 px, batch 128, kept the
GPU busy 2.5-4.9 ms of a 13-17 ms step; the rest of the time the host was launching some 300
kernels one by one. A CUDA graph launches the whole step at once.

What is captured: the body of :meth:`Trainer.step` (D's steps, G's step, both Adam updates, the
step's metrics) on the networks, optimiser state and random generator as they are. What stays in
Python runs around every replay: the queued commands and fades of :meth:`Trainer.begin_step`, the
step counter, a copy of the metrics (the next replay overwrites the graph's own).

When: only while the step is the plain one — every trick off, loss not wgan-gp, train.amp not fp16
(its gradient scaler reads the device), no live switch fading, no learning-rate decay under way —
and on CUDA only. The graph is captured again when anything it baked in changes (the rates, betas,
D steps, batch size, loss, precision, the optimisers, train/eval mode), and a loaded state (resume,
a rollback after NaN) drops it. Before each capture the eager step runs ``WARMUP`` times on a side
stream, as PyTorch's CUDA-graph notes ask. Any other step is the eager step, and so is every step
after a capture that failed (an event in the run says why).
"""
from __future__ import annotations

import torch

from gan_studio.core.nets.mlp import fades_pending

#: eager steps on a side stream before a capture (PyTorch's notes on whole-network capture)
WARMUP = 3


class CudaGraphs:
    """How a step is captured and replayed on CUDA."""

    def __init__(self):
        self._stream = None

    @staticmethod
    def usable(tr) -> bool:
        return (tr.device.type == "cuda" and hasattr(torch.cuda, "CUDAGraph")
                and hasattr(torch.cuda.CUDAGraph, "register_generator_state"))

    def warmup(self, body):
        if self._stream is None:
            self._stream = torch.cuda.Stream()
        self._stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self._stream):
            out = body()
        torch.cuda.current_stream().wait_stream(self._stream)
        return out

    def capture(self, body, tr):
        """(replay, static metrics tensor): ``body`` recorded, not run."""
        graph = torch.cuda.CUDAGraph()
        graph.register_generator_state(tr.rng)   # the run's generator: replays draw fresh numbers
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):   # other threads may use the GPU
            metrics = body()
        return graph.replay, metrics.values


class StepGraph:
    """The Trainer's captured step: :meth:`ready` says whether this step replays the graph
    (capturing it first when due), :meth:`replay` runs it, :meth:`eager` runs the eager step."""

    def __init__(self, tr, backend=None):
        self.tr = tr
        self.backend = backend if backend is not None else CudaGraphs()
        self.replay_fn = None
        self.out: torch.Tensor | None = None
        self.key = None
        self.warm = 0
        self.failed: str | None = None   # why capturing was given up for this Trainer
        self.captures = 0
        self.replays = 0

    def invalidate(self) -> None:
        """Forget the graph (a state was loaded, or something it baked in changed)."""
        self.replay_fn, self.out, self.key, self.warm = None, None, None, 0

    def eligible(self) -> bool:
        tr = self.tr
        cfg, t = tr.cfg, tr.cfg.train
        if t.cuda_graphs == "off" or self.failed or not self.backend.usable(tr):
            return False
        if cfg.loss == "wgan-gp" or tr.precision.mode == "fp16":
            return False
        if any(getattr(cfg.tricks, name).enabled for name in cfg.tricks.__dataclass_fields__):
            return False
        if 0 < t.lr_decay_start <= tr.step_count < t.lr_decay_start + t.lr_decay_steps:
            return False   # the rates move every step
        return not (fades_pending(tr.G) or fades_pending(tr.D))

    def signature(self) -> tuple:
        """What the graph bakes in: a change of any of it means a new capture."""
        tr = self.tr
        groups = tuple((g["lr"], tuple(g["betas"]), g["eps"], len(g["params"]))
                       for opt in (tr.opt_g, tr.opt_d) for g in opt.param_groups)
        return (tr.cfg.train.batch_size, tr.tricks.two_time_scale.hyper(tr)[2], tr.cfg.loss, tr.cfg.train.clip,
                tr.precision.mode, tr.channels_last, tr.G.training, tr.D.training,
                id(tr.opt_g), id(tr.opt_d), id(tr.opt_g.state), id(tr.opt_d.state), groups)

    def ready(self) -> bool:
        """True when this step replays the graph (captured now if the warm-up is done)."""
        if not self.eligible():
            self.invalidate()
            return False
        key = self.signature()
        if key != self.key:
            self.invalidate()
            self.key = key
        if self.replay_fn is None and self.warm >= WARMUP:
            self._capture()
        return self.replay_fn is not None

    def eager(self, body):
        """The eager step; one of the warm-up steps before a capture when the graph is due."""
        if self.key is None:
            return body()
        self.warm += 1
        return self.backend.warmup(body)

    def replay(self) -> torch.Tensor:
        """Run the captured step; returns its metrics (the graph's own tensor: copy it)."""
        self.replay_fn()
        self.replays += 1
        return self.out

    def _capture(self) -> None:
        tr = self.tr
        count, last, n_events = tr.step_count, tr.last_metrics, len(tr.events)
        try:
            replay_fn, out = self.backend.capture(tr.step_body, tr)
        except Exception as e:  # noqa: BLE001 - any failure: this run goes on with the eager step
            self.failed = f"{type(e).__name__}: {e}"
            replay_fn = out = None
        finally:   # the body's Python bookkeeping ran during the recording, not as a step
            tr.step_count, tr._last_metrics = count, last
            del tr.events[n_events:]
        if replay_fn is None:
            self.invalidate()
            tr.record_event({"event": "cuda_graphs_off", "why": self.failed})
            return
        self.replay_fn, self.out = replay_fn, out
        self.captures += 1

