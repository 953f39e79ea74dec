"""The Trainer: owns G, D, their optimisers and RNG; ``step()`` is one G update with its D updates.

Threads: the Trainer belongs to the one thread that steps it: the CLI's main thread, or the
window's training engine (in the training process by default, in the worker thread in fast tests).
The engine takes the window's commands off its own queue between steps and applies a change with
:meth:`apply_setting`, never during a step. :meth:`set` and :meth:`call` are for code that shares a
Trainer across threads: they queue a change that :meth:`step` applies (``drain_commands``) before
it starts. Every applied change is an event (``{"step", "event", "key", "value"}``) recorded in
``events`` and sent to ``on_event`` callbacks, so a plot can mark it and the run log keeps it.
:class:`~gan_studio.core.training.run_loop.RunLoop` adds the run's bookkeeping (logs, checkpoints,
roll-back).

GPU: ``step()`` never calls ``.item()``/``float()`` on a device tensor; its metrics stay on the
device as one stacked tensor and are read (one sync) only when logged.
"""
from __future__ import annotations

import queue
from concurrent.futures import Future
from typing import Any, Callable

import torch

from gan_studio.core import family_spec
from gan_studio.core.config import Config
from gan_studio.core.data.registry import build_dataset
from gan_studio.core.device import describe_device, pick_device
from gan_studio.core.errors import CheckpointError, ConfigError
from gan_studio.core.events import describe_state_parts
from gan_studio.core.family_spec import FamilySpec, Plot, needs_reset
from gan_studio.core.fast import foreach
from gan_studio.core.fast.adam import adam_state_problem, make_adam
from gan_studio.core.nets.build import build_models
from gan_studio.core.nets.mlp import advance_fades, has_batch_stats
from gan_studio.core.training import losses
from gan_studio.core.training.graphs import CudaGraphs, StepGraph
from gan_studio.core.training.precision import (Precision, is_convolutional, resolve_amp, resolve_channels_last,
                                                to_channels_last)
from gan_studio.core.training.tricks import TrickSet, _takes_role

METRIC_NAMES = ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g")


class RolledBack(RuntimeError):
    """Training was paused at ``step`` and the Trainer rolled back to its last good state
    (``restored_step``; None when there was none and nothing was saved)."""
    step: int
    restored_step: int | None


class DivergedError(RolledBack):
    """A loss or gradient, or a tensor of the state (weights, optimiser moments, trick state),
    became NaN/inf. The Trainer has been rolled back to its last good state. ``names``: the metrics
    (METRIC_NAMES) or the state's tensors (nonfinite_tensors) that are not finite."""

    def __init__(self, step: int, names: list[str], restored_step: int | None):
        self.step, self.restored_step = step, restored_step
        metrics, tensors = [n for n in names if n in METRIC_NAMES], [n for n in names if n not in METRIC_NAMES]
        self.names = metrics + short_names(tensors)
        where = (f"the run was paused and rolled back to step {restored_step}, its last good state"
                 if restored_step is not None
                 else "there is no finite state to roll back to, so nothing was saved")
        parts = []
        if metrics:
            parts.append(f"{', '.join(metrics)} became NaN or infinite")
        if tensors:   # the losses may look fine (D's Adam moments overflowed: its updates are 0)
            parts.append(f"{describe_state_parts(tensors)} {'is' if len(tensors) == 1 else 'are'} not finite "
                         f"({', '.join(short_names(tensors))})")
        what = " and ".join(parts) or "a value became NaN or infinite"
        super().__init__(f"training diverged at step {step}: {what}; {where}. "
                         "Lower the learning rates or change the loss/tricks, then continue.")


class StepFailedError(RolledBack):
    """A step raised (out of memory on the GPU, say): the half-done step was undone by rolling the
    Trainer back to its last good state, which the run folder holds; the run is paused, not ended."""

    def __init__(self, step: int, error: BaseException, restored_step: int | None, out_of_memory: bool,
                 device: str = ""):
        self.step, self.error, self.restored_step = step, error, restored_step
        self.out_of_memory = out_of_memory
        where = (f"the run was paused and rolled back to step {restored_step}, which is saved" if restored_step is not None
                 else "there is no earlier state to roll back to, so nothing was saved")
        if out_of_memory:
            what = f"out of memory{' on ' + device if device else ''} at step {step}"
            advice = ("Continue it on the CPU (`--device cpu` with --resume, or in a new run), or start a new run "
                      "with a smaller train.batch_size or smaller networks (model.*).")
        else:
            first = str(error).splitlines()[0][:200] if str(error) else ""
            what = f"step {step} failed: {type(error).__name__}" + (f": {first}" if first else "")
            advice = "Change the setting that caused it, then continue."
        super().__init__(f"{what}; {where}. {advice}")


class EvaluationFailedError(RolledBack):
    """The evaluation after a step raised (out of memory on the GPU while drawing its samples or
    training the image metrics' classifier, say). The step itself was whole and its state finite:
    nothing is rolled back; the run, saved at that step when it has a folder, is paused, not ended."""

    def __init__(self, step: int, error: BaseException, saved: bool, out_of_memory: bool, device: str = ""):
        self.step, self.error, self.restored_step = step, error, step
        self.out_of_memory = out_of_memory
        if out_of_memory:
            what = f"out of memory{' on ' + device if device else ''}"
            on_cpu = device.upper().startswith("CPU")
            advice = ("Continue it with smaller networks (model.*) or on a machine with more memory."
                      if on_cpu else "Continue it on the CPU (`--device cpu` with --resume), or with smaller "
                                     "networks (model.*).")
        else:
            first = str(error).splitlines()[0][:200] if str(error) else ""
            what = f"{type(error).__name__}" + (f": {first}" if first else "")
            advice = "Its training was not affected: continue it once the cause is fixed."
        where = "the run was paused at that step, which is saved" if saved else "the run was paused at that step"
        super().__init__(f"the evaluation at step {step} failed ({what}); {where}. {advice}")


class OutputFailedError(RolledBack):
    """Drawing or writing a step's snapshot or kept samples raised something other than an OSError
    (the renderer's RuntimeError, PIL's ValueError, out of memory while drawing). The step was whole:
    nothing is rolled back; the run, saved at that step, is paused, not ended (an OSError, a file in
    the way or a full disk, is told in words by whoever drives the loop)."""

    def __init__(self, step: int, what: str, error: BaseException, out_of_memory: bool, device: str = "",
                 advice: str = "continue it once the cause is fixed"):
        self.step, self.what, self.error, self.restored_step = step, what, error, step
        self.out_of_memory = out_of_memory
        if out_of_memory:
            cause = f"out of memory{' on ' + device if device else ''}"
        else:
            first = str(error).splitlines()[0][:200] if str(error) else ""
            cause = f"{type(error).__name__}" + (f": {first}" if first else "")
        super().__init__(f"writing the {what} at step {step} failed ({cause}); the run was paused at that step, "
                         f"which is saved. Its training was not affected: {advice}.")


def load_generator_state(gen: torch.Generator, state, seed: tuple[int, ...]) -> bool:
    """Put ``state`` (a torch.Generator's get_state()) into ``gen``; True when it continued. A state
    of another kind of generator (a run trained on a GPU, opened on the CPU or the other way round:
    CUDA's Philox state and the CPU's Mersenne twister differ in size) cannot continue there: ``gen``
    is seeded from ``seed`` (the run's seed and step: the same numbers each time it is opened) and
    False returned, instead of the run refusing to open on the device the user chose."""
    mine = gen.get_state()
    if isinstance(state, torch.Tensor) and state.dtype == mine.dtype and state.numel() != mine.numel():
        gen.manual_seed(sum(int(v) * 1_000_003 ** i for i, v in enumerate(seed)) % (2**63))
        return False
    gen.set_state(state)
    return True


def _floating_tensors(obj, prefix: str = ""):
    """(name, tensor) of every floating-point tensor in a nested state (dicts, lists, tuples)."""
    if isinstance(obj, torch.Tensor):
        if (obj.is_floating_point() or obj.is_complex()) and obj.numel():
            yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _floating_tensors(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _floating_tensors(v, f"{prefix}.{i}" if prefix else str(i))


def nonfinite_tensors(state) -> list[str]:
    """The names of the floating-point tensors of ``state`` (weights, optimiser moments, trick state,
    the moving average of G, ...) that hold a NaN or an infinity; [] when all is finite.

    One fused pass: the max-abs of every tensor (``foreach.norms(inf)``, which propagates NaN)
    per device and dtype, read back once per device. Called before checkpoint writes and at logged
    steps only, never every step."""
    groups: dict[tuple, list[tuple[str, torch.Tensor]]] = {}
    for name, t in _floating_tensors(state):
        groups.setdefault((t.device, t.dtype), []).append((name, t.detach()))
    by_device: dict[torch.device, list[tuple[list[str], torch.Tensor]]] = {}
    for (device, _), items in groups.items():
        names = [n for n, _ in items]
        norms = foreach.norms([t for _, t in items], float("inf"))
        by_device.setdefault(device, []).append((names, torch.isfinite(torch.stack(norms))))
    bad: list[str] = []
    for parts in by_device.values():
        flags = torch.cat([f for _, f in parts]).tolist()   # the one read-back for this device
        names = [n for ns, _ in parts for n in ns]
        bad += [n for n, ok in zip(names, flags) if not ok]
    return bad


def check_layout_sizes(cfg: Config, owner: str, lay: dict, net: torch.nn.Module) -> None:
    """CheckpointError in one line when a network's layout in a checkpoint (extra.layout.<owner>: the
    layers tricks added) asks for sizes beyond the ranges `--set` allows for those tricks: packing m,
    minibatch discrimination's kernels and their dimension, virtual batch norm's reference batch.
    These sizes are the file's, not the config's: a damaged or hostile one would otherwise build a
    layer of many GB before anything else is checked."""
    asks = [("tricks.packing.m", m) for m in [*lay.get("pack_in", []), lay.get("pack", 1), lay.get("pack_from", 1)]
            if m != 1]   # 1: no packing
    for key in lay.get("mbd", []):
        kernels, _, dim = str(key).partition("x")
        asks += [("tricks.minibatch_discrimination.kernels", kernels),
                 ("tricks.minibatch_discrimination.kernel_dim", dim)]
    reference = lay.get("vbn_reference")
    params = net.parameters() if isinstance(net, torch.nn.Module) else ()
    widest = max((p.shape[-1] for p in params if p.dim() == 2), default=0)   # the most inputs of a layer
    if reference:
        if not (isinstance(reference, list) and len(reference) == 2 and isinstance(reference[1], int)
                and 0 < reference[1] <= widest):
            raise CheckpointError(f"the checkpoint's layout of {owner} holds a virtual batch norm reference of "
                                  f"shape {str(reference)[:60]}, which {owner} cannot take: it was damaged or edited")
        asks.append(("tricks.normalization.reference_size", reference[0]))
    probe = cfg.copy()
    for key, value in asks:
        try:
            probe.set(key, value)
        except ConfigError as e:
            raise CheckpointError(f"the checkpoint's layout of {owner} asks for layers out of range ({e}): "
                                  "it was damaged or edited") from None


def refuse_other_shapes(net: torch.nn.Module, weights: dict) -> None:
    """RuntimeError in load_state_dict's own words (runs.state_mismatch reads them) when a tensor of
    ``weights`` has another shape than ``net``'s of that name; only the shapes are compared."""
    own = net.state_dict()
    wrong = [f"\tsize mismatch for {k}: copying a param with shape torch.Size({list(t.shape)}) from checkpoint, "
             f"the shape in current model is torch.Size({list(own[k].shape)})."
             for k, t in weights.items() if isinstance(t, torch.Tensor) and k in own and t.shape != own[k].shape]
    if wrong:
        raise RuntimeError(f"Error(s) in loading state_dict for {type(net).__name__}:\n" + "\n".join(wrong))


def describe_nonfinite(bad: list[str], shown: int = 3) -> str:
    """'G.net.0.weight, D.out.bias and 14 more tensors are' style summary of nonfinite_tensors()."""
    return f"{', '.join(short_names(bad, shown))} {'is' if len(bad) == 1 else 'are'}"


def short_names(bad: list[str], shown: int = 3) -> list[str]:
    """The first ``shown`` of ``bad``, then "N more tensors" (all of them when one more would do)."""
    return bad if len(bad) <= shown + 1 else bad[:shown] + [f"{len(bad) - shown} more tensors"]


class StepMetrics:
    """One step's metrics as a single device tensor; reading a value syncs once with the device."""
    __slots__ = ("step", "values")

    def __init__(self, step: int, values: torch.Tensor):
        self.step, self.values = step, values

    def as_dict(self) -> dict[str, float]:
        vals = self.values.tolist()  # the one host sync
        return {"step": self.step, **dict(zip(METRIC_NAMES, vals))}

    def __getitem__(self, name: str) -> float:
        return self.as_dict()[name]

    def is_finite(self) -> bool:
        return bool(torch.isfinite(self.values).all())


def _total_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """The 2-norm of all gradients together, as torch.nn.utils.get_total_norm computes it for
    tensors on one device (the same kernels), without its grouping and checks; on the device."""
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(foreach.norms(grads)))


def _params(opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for g in opt.param_groups for p in g["params"]]


class Trainer:
    """The plain GAN family, and the base of every other family.

    A family is a subclass with its own ``FAMILY`` declaration (:mod:`gan_studio.core.family_spec`)
    that overrides what differs: :meth:`build_networks` (G and D, and anything else it trains),
    :meth:`build_optimizers`, :meth:`step`, and, as needed, :meth:`grid_latents`,
    :meth:`grid_images`, :meth:`plot`, :meth:`generate`, :meth:`evaluate` and the extra state of
    checkpoints. The constructor builds only through these hooks, so nothing a family replaces is
    built; it applies only the tricks the family declares.
    """

    #: what this family declares (tricks, losses, config section, plot, grid, capabilities)
    FAMILY: FamilySpec = family_spec.GAN

    def __init__(self, cfg: Config, device: str | torch.device | None = None, data=None):
        """``data``: the data set when it is not the one cfg.data builds (the stand-in for a run's
        pictures that cannot be read, :func:`gan_studio.core.runs.trainer_from_run`)."""
        cfg.validate()                                  # includes cfg's family's declaration
        family_spec.check_config(cfg, self.FAMILY)      # and this class's, should they differ
        self.cfg = cfg
        self.device = pick_device(str(device) if device is not None else cfg.train.device)
        self.fast = cfg.train.fast_paths
        seed = cfg.train.seed
        torch.manual_seed(seed)  # network initialisation
        # one generator for everything random in training (data, z, GP interpolation): its state
        # is saved in checkpoints, so a resumed run draws exactly the numbers it would have drawn
        self.rng = torch.Generator(device=self.device).manual_seed(seed)
        self.data = build_dataset(cfg.data, self.device) if data is None else data.to(self.device)
        self.step_count = 0
        self.tricks = TrickSet()
        self.G, self.D = self.build_networks(cfg, self.data)
        self.G.to(self.device)
        self.D.to(self.device)
        self.d_takes_role = _takes_role(self.D)
        # tricks switched on by the config create their state (layers, buffers) before the optimisers
        self.tricks.apply_all(self, self.FAMILY.tricks)
        self.G.to(self.device)
        self.D.to(self.device)
        self.setup_precision()
        self.build_optimizers()
        # a fixed latent batch so the grid of step 100 and step 5000 show the same z
        self.fixed_z = self.grid_latents().to(self.device)
        self.events: list[dict] = []
        #: events recorded while a state was loaded, before anything listened (RunLoop logs them)
        self.unlogged_events: list[dict] = []
        self.on_event: list[Callable[[dict], None]] = []
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        # train.cuda_graphs: the plain step captured and replayed on CUDA (None elsewhere: no cost)
        self.graphs = StepGraph(self) if CudaGraphs.usable(self) else None

    # -- what a family builds (override in a family) ------------------------------------------
    def build_networks(self, cfg: Config, data) -> tuple[torch.nn.Module, torch.nn.Module]:
        """(G, D) for ``cfg`` and the data set; the Trainer moves them to the device. A family
        builds its own networks here (seeding torch first if its initialisation must not depend
        on what ran before) and may set more attributes (labels, a baseline, a text encoder)."""
        return build_models(cfg, data)

    @classmethod
    def classes_without_data(cls, state: dict) -> list[str] | None:
        """The names of the classes G draws, read from a checkpoint's ``state`` to rebuild the run
        without its data set (its pictures moved); None for a family whose G draws no chosen class.
        CheckpointError in one line when the state holds them damaged."""
        return None

    def build_optimizers(self) -> None:
        """``opt_g`` and ``opt_d`` (and any other optimiser the family steps), from the rates in force."""
        t = self.cfg.train
        lr_d, lr_g, _ = self.tricks.two_time_scale.hyper(self)
        self.opt_g = self.make_optimizer(self.G.parameters(), lr_g, t.beta1_g, t.beta2_g)
        self.opt_d = self.make_optimizer(self.D.parameters(), lr_d, t.beta1_d, t.beta2_d)

    def setup_precision(self) -> None:
        """train.amp and train.channels_last, resolved for this device and these networks
        (:mod:`~gan_studio.core.training.precision`). Mixed precision wraps the forward passes of
        the plain GAN family's :meth:`step`; a family with its own step trains in float32."""
        t, conv = self.cfg.train, is_convolutional(self.G, self.D)
        amp = resolve_amp(t.amp, self.device, conv)
        if amp != "off" and type(self).step is not Trainer.step:
            if t.amp != "auto":
                raise ConfigError(f"train.amp = {t.amp!r} works with the plain GAN family's step; "
                                  f"model.family = {self.FAMILY.name!r} trains in float32: use train.amp = 'off'")
            amp = "off"
        self.precision = Precision(amp, self.device)
        self.channels_last = resolve_channels_last(t.channels_last, self.device, conv)
        if self.channels_last:
            to_channels_last(self.G, self.D)

    def make_optimizer(self, params, lr: float, b1: float, b2: float) -> torch.optim.Adam:
        """Adam: the fused kernel on CPU and CUDA (called directly with ``train.fast_paths``)."""
        return make_adam(params, lr, (b1, b2), self.device, lean=self.fast)

    def grid_latents(self) -> torch.Tensor:
        """The fixed latents of the image grid and the 2-D view (the same z at every step)."""
        fixed = torch.Generator().manual_seed(self.cfg.train.seed + 1)
        return torch.randn(64, self.cfg.model.latent_dim, generator=fixed)

    # -- what the window shows (the family's declaration, made concrete) ------------------------
    @property
    def grid_row_names(self) -> list[str] | None:
        """What each row of the grid is (a class, a caption), or None for rows of plain samples."""
        return None

    @property
    def grid_nrow(self) -> int:
        return self.FAMILY.grid.per_row

    @torch.no_grad()
    def grid_images(self) -> tuple[torch.Tensor, int, str]:
        """(images in [-1, 1], tiles per row, caption) of the image grid, as FAMILY.grid declares."""
        rows = self.grid_row_names
        caption = "rows: " + "; ".join(str(r) for r in rows) if rows else ""
        return self.generate(self.fixed_z), self.grid_nrow, caption

    def plot(self) -> Plot | None:
        """The family's extra live plot (FAMILY.plot, with this run's curves)."""
        return self.FAMILY.plot

    @property
    def device_name(self) -> str:
        return describe_device(self.device)

    @property
    def is_image(self) -> bool:
        return self.data.kind == "image"

    # -- commands from other threads --------------------------------------------------------
    def set(self, key: str, value: Any) -> Future:
        """Change a config value from any thread; applied before the next step."""
        return self.call(lambda tr: tr.apply_setting(key, value))

    def call(self, fn: Callable[["Trainer"], Any]) -> Future:
        """Run ``fn(trainer)`` in the trainer's thread between two steps; the Future gets its result."""
        fut: Future = Future()
        self._commands.put((fn, fut))
        return fut

    def drain_commands(self) -> None:
        while True:
            try:
                fn, fut = self._commands.get_nowait()
            except queue.Empty:
                return
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(self))
            except BaseException as e:  # noqa: BLE001 - handed to the caller through the Future
                fut.set_exception(e)

    def apply_setting(self, key: str, value: Any) -> Any:
        """Apply one change now (trainer thread only): validate (the family's declaration first:
        keys that need a Reset, tricks, losses), update live state, record the event."""
        if needs_reset(key, self.FAMILY.name):
            raise ConfigError(f"{key} is fixed when a run is built (its networks, data, batches and seed): "
                              "it needs a new run (Reset)")
        old = self.cfg.get(key)
        self.cfg.set(key, value)
        new = self.cfg.get(key)
        try:
            family_spec.check_config(self.cfg, self.FAMILY)
        except ConfigError:
            self.cfg.set(key, old)   # refused before anything changed
            raise
        try:
            self._on_setting_changed(key)
        except Exception:
            self.cfg.set(key, old)  # a setting the networks cannot take is undone whole
            self._on_setting_changed(key)
            raise
        if new != old:
            self.record_event({"event": "set", "key": key, "value": new, "old": old})
        return new

    def _on_setting_changed(self, key: str) -> None:
        """Bring live state in line with the config: trick state and layers, optimiser settings."""
        if key.startswith("tricks.") and self.FAMILY.supports_trick(key.split(".")[1]):
            self.tricks.units[key.split(".")[1]].apply(self)   # a trick the family lacks stays unused
            self._sync_structure()
        self._sync_hyper()

    def _sync_hyper(self) -> None:
        """Learning rates and betas in force; Adam's moments are kept, only hyper-parameters move."""
        t = self.cfg.train
        lr_d, lr_g, _ = self.tricks.two_time_scale.hyper(self)
        decay = self.lr_factor()
        lr_d, lr_g = lr_d * decay, lr_g * decay
        for opt, lr, betas in ((self.opt_g, lr_g, (t.beta1_g, t.beta2_g)),
                               (self.opt_d, lr_d, (t.beta1_d, t.beta2_d))):
            for g in opt.param_groups:
                g["lr"], g["betas"] = lr, betas

    def lr_factor(self, step: int | None = None) -> float:
        """The learning-rate schedule: 1 until train.lr_decay_start, then linear down to
        train.lr_decay_final over train.lr_decay_steps steps, then constant."""
        t = self.cfg.train
        step = self.step_count + 1 if step is None else step  # the step about to be taken
        if t.lr_decay_start <= 0 or step <= t.lr_decay_start:
            return 1.0
        done = min(1.0, (step - t.lr_decay_start) / t.lr_decay_steps)
        return 1.0 + done * (t.lr_decay_final - 1.0)

    def _sync_structure(self) -> None:
        """After a trick added layers: move them to the device and give them to the optimisers,
        carrying every existing parameter's Adam state over."""
        self.G.to(self.device)
        self.D.to(self.device)
        for attr, net in (("opt_g", self.G), ("opt_d", self.D)):
            opt = getattr(self, attr)
            params = list(net.parameters())
            if [id(p) for p in params] == [id(p) for g in opt.param_groups for p in g["params"]]:
                continue
            g0 = opt.param_groups[0]
            new = self.make_optimizer(params, g0["lr"], *g0["betas"])
            for p in params:
                if p in opt.state:
                    new.state[p] = opt.state[p]
            setattr(self, attr, new)

    def record_event(self, event: dict) -> None:
        event = {"step": self.step_count, **event}
        self.events.append(event)
        for cb in self.on_event:
            cb(event)

    # -- training ---------------------------------------------------------------------------
    def sample_z(self, n: int, out: torch.Tensor | None = None) -> torch.Tensor:
        """n latents from the training RNG; into ``out`` (n, latent_dim) when given (the same numbers)."""
        if out is not None:
            return torch.randn(n, self.cfg.model.latent_dim, generator=self.rng, out=out)
        return torch.randn(n, self.cfg.model.latent_dim, generator=self.rng, device=self.device)

    def d_out(self, x: torch.Tensor, role: str | None) -> torch.Tensor:
        """D(x), telling D whether x is a real or a fake batch when D keeps them apart; under
        train.amp cast back to float32, so the losses are computed in float32."""
        out = self.D(x, role=role) if self.d_takes_role else self.D(x)
        return out.float() if self.precision.dtype is not None else out

    def d_features(self, x: torch.Tensor, role: str | None) -> torch.Tensor:
        out = self.D.features(x, role=role) if self.d_takes_role else self.D.features(x)
        return out.float() if self.precision.dtype is not None else out

    def _d_outputs(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not has_batch_stats(self.D):  # one pass over real and fake: equivalent without batch statistics
            out = self.d_out(torch.cat([real, fake]), None)
            n_real = out.shape[0] * real.shape[0] // (real.shape[0] + fake.shape[0])  # packs of m: fewer
            return out[:n_real], out[n_real:]
        return self.d_out(real, "real"), self.d_out(fake, "fake")

    def step(self) -> StepMetrics:
        """One G update preceded by D updates (``train.d_steps``, or the two-time-scale trick's).
        Tricks that are on change the labelled places; with every trick off this is the plain GAN step.
        Returns metrics on the device. On CUDA the plain step is replayed from a CUDA graph where it
        can be (train.cuda_graphs, :mod:`~gan_studio.core.training.graphs`): the same step,
        launched at once."""
        self.begin_step()
        graphs = self.graphs
        if graphs is None:
            return self.step_body()
        if graphs.ready():
            values = graphs.replay()
            self.step_count += 1
            self._last_metrics = StepMetrics(self.step_count, values.clone())
            return self._last_metrics
        return graphs.eager(self.step_body)

    def step_body(self) -> StepMetrics:
        """The plain step after :meth:`begin_step`: what a CUDA graph records."""
        cfg, t, tk = self.cfg, self.cfg.train, self.tricks
        B = t.batch_size
        d_loss_fn, g_loss_fn = losses.D_LOSS[cfg.loss], losses.G_LOSS[cfg.loss]
        _, _, d_steps = tk.two_time_scale.hyper(self)
        targets = tk.label_smoothing.targets(self)       # (1, 0) unless smoothing
        sigma = tk.instance_noise.sigma(self)            # 0 unless instance noise
        noisy = tk.instance_noise.add
        tk.checkpoint_swap.before_step(self)             # may swap an old snapshot in
        d_frozen, g_frozen = tk.checkpoint_swap.frozen(self, "d"), tk.checkpoint_swap.frozen(self, "g")

        # --- D: minimise d_loss(D(x), D(G(z))) for d_steps batches ---
        for i in range(d_steps):
            real = self.image_format(self.data.sample(B, self.rng))
            z = self.sample_z(B)
            last = i == d_steps - 1
            with self.precision.autocast():              # train.amp: lower precision forward passes
                if last:
                    fake = self.G(z)  # keep G's graph: the G step below reuses this batch
                    fake_d = fake.detach()
                else:
                    with torch.no_grad():
                        fake_d = self.G(z)
                fake_d = tk.replay.mix(self, fake_d)     # replay: some old fakes in the batch
                d_real, d_fake = self._d_outputs(noisy(self, real, sigma), noisy(self, fake_d, sigma))
                loss_d = d_loss_fn(d_real, d_fake, *targets)
                if cfg.loss == "wgan-gp":
                    loss_d = loss_d + t.gp_weight * losses.gradient_penalty(self.D, real, fake_d, self.rng)
            grad_norm_d = self.d_backward(loss_d)
            if d_frozen:  # an old snapshot of D is in: G trains against it, it does not learn
                self.precision.step("d", self.opt_d, skip=True)
                continue
            tk.historical_averaging.add_grad(self, "d", self.D)
            self.precision.step("d", self.opt_d)
            self.clip_critic()
            tk.historical_averaging.update(self, "d", self.D)
        tk.replay.push(self, fake)

        # --- G: minimise g_loss(D(G(z))) against the updated D ---
        fm = tk.feature_matching
        with self.precision.autocast():
            if fm.on(self) and fm.cfg(self).replace_loss:
                loss_g = fm.loss(self, real, fake)
            else:
                if tk.unrolled.on(self):                 # against D after k more updates
                    loss_g = tk.unrolled.g_loss(self, noisy(self, fake, sigma), g_loss_fn, d_loss_fn, targets)
                else:
                    loss_g = g_loss_fn(self.d_out(noisy(self, fake, sigma), "fake"))
                if fm.on(self):
                    loss_g = loss_g + fm.loss(self, real, fake)
        grad_norm_g = self.g_backward(loss_g)
        if not g_frozen:
            tk.historical_averaging.add_grad(self, "g", self.G)
        self.precision.step("g", self.opt_g, skip=g_frozen)
        if not g_frozen:
            tk.historical_averaging.update(self, "g", self.G)
        self.step_count += 1
        tk.instance_noise.after_step(self)
        tk.checkpoint_swap.after_step(self)              # may put the current weights back

        dr, df = self.d_means([(d_real, d_fake)])
        return self.record_metrics(loss_d, loss_g, dr, df, grad_norm_d, grad_norm_g)

    # -- the pieces of a step every model family shares ---------------------------------------
    def begin_step(self) -> None:
        """Apply the commands queued since the last step, then the learning-rate schedule."""
        self.tricks.g_ema.fold(self)                     # the moving average of G takes the last step
        self.drain_commands()
        fade = self.cfg.train.switch_fade_steps
        for net in (self.G, self.D):                     # live switches of layers fade in step by step
            advance_fades(net, 1.0 / fade if fade else 1.0)
        t = self.cfg.train
        if 0 < t.lr_decay_start <= self.step_count < t.lr_decay_start + t.lr_decay_steps:
            self._sync_hyper()                           # the schedule moves the rates this step

    def image_format(self, x: torch.Tensor) -> torch.Tensor:
        """A batch of images in the networks' memory format (channels-last under train.channels_last)."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def d_backward(self, loss_d: torch.Tensor) -> torch.Tensor:
        """Backpropagate D's loss into fresh gradients; returns their norm (on the device). Under
        fp16 the loss is scaled and the gradients unscaled again (:class:`Precision`), so the
        norm, and what a family's step does with the gradients, see true gradients."""
        self.opt_d.zero_grad(set_to_none=True)
        self.precision.backward(loss_d, "d", self.opt_d)
        return _total_norm([p.grad for p in _params(self.opt_d) if p.grad is not None])

    def clip_critic(self) -> None:
        """WGAN with weight clipping: keep every critic weight in [-c, c] after its update."""
        if self.cfg.loss == "wgan":
            c = self.cfg.train.clip
            params = _params(self.opt_d)
            with torch.no_grad():
                foreach.clamp_(params, -c, c)

    def g_backward(self, loss_g: torch.Tensor) -> torch.Tensor:
        """Set G's gradients of its loss; returns their norm. ``backward(inputs=G's parameters)``
        computes only G's gradients: D's weights get none (and need no zeroing); layers of a trick
        that is off were not used and keep None, which Adam skips."""
        g_params = _params(self.opt_g)   # G's parameters (kept in step with G by _sync_structure)
        for p in g_params:
            p.grad = None
        self.precision.backward(loss_g, "g", self.opt_g, inputs=[p for p in g_params if p.requires_grad])
        return _total_norm([p.grad for p in g_params if p.grad is not None])

    @torch.no_grad()
    def d_means(self, outs: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean D(x) and D(G(z)) over (real, fake) output pairs: probabilities for the
        probabilistic losses, raw critic values otherwise."""
        squash = torch.sigmoid if self.cfg.loss in losses.PROBABILISTIC else (lambda v: v)
        if len(outs) == 1:
            return squash(outs[0][0]).mean(), squash(outs[0][1]).mean()
        return (torch.stack([squash(r).mean() for r, _ in outs]).mean(),
                torch.stack([squash(f).mean() for _, f in outs]).mean())

    def record_metrics(self, loss_d, loss_g, d_real, d_fake, grad_norm_d, grad_norm_g) -> StepMetrics:
        """The step's metrics, kept on the device (no host sync) in METRIC_NAMES order."""
        with torch.no_grad():
            values = torch.stack([loss_d.detach(), loss_g.detach(), d_real, d_fake, grad_norm_d, grad_norm_g])
        self._last_metrics = StepMetrics(self.step_count, values)
        return self._last_metrics

    @property
    def last_metrics(self) -> StepMetrics | None:
        """The latest step's metrics, still on the device (no sync); None before the first step."""
        return getattr(self, "_last_metrics", None)

    def step_metrics_now(self) -> dict | None:
        """The metrics of the latest step as floats (one sync), or None before the first step."""
        m = self.last_metrics
        return m.as_dict() if m is not None and m.step == self.step_count else None

    # -- sampling and evaluation -------------------------------------------------------------
    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """G(z) for given latents (any batch size), without touching the training RNG; with
        ``tricks.g_ema`` on, G is the moving average of its weights."""
        z = z.to(self.device, torch.float32)
        with self.tricks.g_ema.averaged(self):
            out = [self.G(chunk) for chunk in z.split(4096)]
        return torch.cat(out) if out else torch.empty(0, *self.data.shape, device=self.device)

    def eval_generator(self, salt: int = 0) -> torch.Generator:
        """A generator seeded from (seed, step): evaluation never consumes the training RNG."""
        g = torch.Generator(device=self.device)
        return g.manual_seed((self.cfg.train.seed * 1_000_003 + self.step_count * 7919 + salt) % (2**63))

    def evaluate(self, n: int = 2500) -> dict[str, Any]:
        """Quality metrics of the current G (its moving average with ``tricks.g_ema`` on): mode
        coverage for 2-D mixtures, classifier metrics for images."""
        from gan_studio.core.metrics import evaluate_trainer
        with self.tricks.g_ema.averaged(self):
            return evaluate_trainer(self, n)

    # -- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue exactly: weights, optimisers, step, RNG, config, events."""
        return {
            "format": "gan-studio-checkpoint/1",
            "step": self.step_count,
            "config_json": self.cfg.dumps("json"),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": self.rng.get_state(),
            "torch_rng": torch.get_rng_state(),
            "events_json": _json_dumps(self.events),
            "extra": self.extra_state_dict(),
            "amp": self.precision.state_dict(),   # fp16: the gradient scalers' scales
        }

    def extra_state_dict(self) -> dict:
        """State of tricks (replay buffer, averages, snapshots) and the layers they added."""
        layout = {name: net.layout() for name, net in (("G", self.G), ("D", self.D)) if hasattr(net, "layout")}
        return {"layout": layout, "tricks": self.tricks.state_dict()}

    def load_extra_state_dict(self, state: dict) -> None:
        self.tricks.load_state_dict(state.get("tricks", {}), self)

    def load_state_dict(self, state: dict, copy: bool = False) -> None:
        """Continue from ``state``. ``copy=True`` for a state memory-mapped from its file
        (:func:`gan_studio.core.runs.load_checkpoint_file`): its tensors are copied into memory once
        they are found to fit, so training never keeps the file mapped nor shares its pages."""
        if getattr(self, "graphs", None) is not None:
            self.graphs.invalidate()   # the graph recorded the state this replaces
        # layers that tricks created exist before the weights and optimiser moments are loaded
        for name, lay in state.get("extra", {}).get("layout", {}).items():
            check_layout_sizes(self.cfg, name, lay, getattr(self, name))   # before any layer is built
            getattr(self, name).restore_layout(lay)
        self.tricks.apply_all(self, self.FAMILY.tricks)  # the switches follow this trainer's config
        self._sync_structure()
        # shapes first, from the tensors' headers alone: a weight that claims gigabytes (a damaged or
        # hostile file) is refused before its bytes are read, by the finiteness check or a copy
        for net_name in ("G", "D"):
            refuse_other_shapes(getattr(self, net_name), state[net_name])
        bad = nonfinite_tensors(state)   # a run is never continued from NaN/inf (written by old versions)
        if bad:
            raise CheckpointError(f"the checkpoint cannot be continued: {describe_nonfinite(bad)} NaN or "
                                  f"infinite (it was saved after the run diverged); start a new run")
        if copy:
            state = clone_state(state)
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.load_optimizer("opt_g", state["opt_g"], "G")
        self.load_optimizer("opt_d", state["opt_d"], "D")
        self.step_count = int(state["step"])
        afresh = not load_generator_state(self.rng, state["rng"], (self.cfg.train.seed, self.step_count))
        torch.set_rng_state(state["torch_rng"])
        self.events = _json_loads(state.get("events_json", "[]"))
        self.precision.load_state_dict(state.get("amp", {}))
        self.load_extra_state_dict(state.get("extra", {}))
        if afresh:   # said in the run's list of changes: the run is not the one it would have been
            event = {"step": self.step_count, "event": "rng_afresh", "key": "train.device",
                     "value": describe_device(self.device)}
            self.events.append(event)
            self.unlogged_events.append(event)   # a RunLoop with the run's folder writes it there

    def load_optimizer(self, attr: str, state, net_name: str) -> None:
        """Load the optimiser ``attr`` of the network ``net_name`` ("G", "D", a family's own) from
        ``state`` once it is found to fit that network's parameters; CheckpointError in one line when
        it does not (a damaged or edited file: the fused kernel would read a moment of another shape
        out of bounds and the process would die)."""
        opt, net = getattr(self, attr), getattr(self, net_name)
        names = {id(p): f"{net_name}.{n}" for n, p in net.named_parameters()}
        problem = adam_state_problem(opt, state, names)
        if problem is not None:
            raise CheckpointError(f"{net_name}'s optimizer state does not fit {net_name}: {problem}; "
                                  "the checkpoint was damaged or edited")
        opt.load_state_dict(state)


def _json_dumps(obj) -> str:
    import json
    return json.dumps(obj, default=str)


def _json_loads(text: str):
    import json
    return json.loads(text)


def clone_state(obj, device: torch.device | str | None = None):
    """A copy of a trainer state whose tensors share no memory with the trainer's: on their own
    device, or on ``device``. Each tensor is copied once either way: one already on ``device`` (a
    CPU run's, kept on the CPU) is cloned there, not copied twice."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone() if device is None else obj.detach().to(device, copy=True)
    if isinstance(obj, dict):
        return {k: clone_state(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [clone_state(v, device) for v in obj]
    return obj
