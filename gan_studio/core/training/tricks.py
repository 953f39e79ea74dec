"""The tricks of the trade, one small unit each, switchable on a running Trainer.

Each unit reads its settings from ``cfg.tricks.<name>`` (see :class:`~gan_studio.core.config.TricksConfig`:
the docstrings there are the window's tooltips) every step, so a change made between two steps
applies from the next one. :meth:`Trick.apply` runs in the trainer's thread right after one of
its settings changed (and when a Trainer starts): it creates the trick's state the first time the
trick is turned on and keeps it, so turning the trick on again picks up where it stopped.
State goes into checkpoints through ``state_dict``/``load_state_dict`` (tensors and plain data
only, so loading never runs code).

The Trainer calls the units at labelled points of its step (see ``Trainer.step``); a trick that
is off returns the plain step's values untouched, so turning it off restores the plain step.
"""
from __future__ import annotations

import contextlib

import torch
from torch.func import functional_call

from gan_studio.core.errors import ConfigError
from gan_studio.core.fast import foreach
from gan_studio.core.fast.unrolled import LookAhead, Workspace, unrolled_outputs
from gan_studio.core.nets.mlp import MLPDiscriminator, has_batch_stats
from gan_studio.core.training import losses


class Trick:
    name = ""

    def cfg(self, tr):
        return getattr(tr.cfg.tricks, self.name)

    def on(self, tr) -> bool:
        return self.cfg(tr).enabled

    def apply(self, tr) -> None:
        """A setting of this trick changed (or the Trainer started): create or update state."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict, tr) -> None:
        pass


def _live(tr) -> bool:
    """A switch during a run fades in over train.switch_fade_steps (a change of method, not a
    restart of D); before the first step there is nothing to keep."""
    return tr.step_count > 0 and tr.cfg.train.switch_fade_steps > 0


def _require(tr, attr: str, trick: str, players=("D",)) -> None:
    for who in players:
        net = getattr(tr, who)
        if not hasattr(net, attr):
            raise ConfigError(f"tricks.{trick} needs the studio's MLP networks (model.arch = 'mlp'); "
                              f"the {type(net).__name__} has no place for it")


# -- labels and loss ------------------------------------------------------------------------------
class LabelSmoothing(Trick):
    name = "label_smoothing"

    def targets(self, tr) -> tuple[float, float]:
        """D's (real, fake) targets: (1, 0) for the plain step."""
        c = self.cfg(tr)
        if not c.enabled:
            return 1.0, 0.0
        return c.real_target, (c.fake_target if c.two_sided else 0.0)


class FeatureMatching(Trick):
    name = "feature_matching"

    def apply(self, tr):
        if self.on(tr) and not hasattr(tr.D, "features"):
            raise ConfigError("tricks.feature_matching needs a discriminator with features(x)")

    def loss(self, tr, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """||E f(x) - E f(G(z))||² on D's last hidden layer; only G receives its gradient."""
        with torch.no_grad():
            f_real = tr.d_features(real, "real").mean(0)
        f_fake = tr.d_features(fake, "fake").mean(0)
        return self.cfg(tr).weight * ((f_real - f_fake) ** 2).sum()


# -- network structure ------------------------------------------------------------------------------
class Normalization(Trick):
    name = "normalization"

    def apply(self, tr):
        c = self.cfg(tr)
        if c.enabled:
            _require(tr, "set_norm", self.name, ("D", "G"))
        d_kind, g_kind = (c.d, c.g) if c.enabled else ("none", "none")
        if hasattr(tr.D, "set_norm"):
            if d_kind == "virtual-batch":
                tr.D.ensure_vbn_reference(tr.data.sample(c.reference_size, tr.eval_generator(salt=11)))
            tr.D.set_norm(d_kind, fade=_live(tr))
        if hasattr(tr.G, "set_norm"):
            if g_kind == "virtual-batch":
                z = torch.randn(c.reference_size, tr.cfg.model.latent_dim, device=tr.device,
                                generator=tr.eval_generator(salt=12))
                tr.G.ensure_vbn_reference(z)
            tr.G.set_norm(g_kind, fade=_live(tr))


class MinibatchDiscrimination(Trick):
    name = "minibatch_discrimination"

    def apply(self, tr):
        c = self.cfg(tr)
        if c.enabled:
            _require(tr, "set_minibatch_discrimination", self.name)
        if hasattr(tr.D, "set_minibatch_discrimination"):
            tr.D.set_minibatch_discrimination(c.kernels if c.enabled else None, c.kernel_dim, fade=_live(tr))


class Packing(Trick):
    name = "packing"

    def apply(self, tr):
        c = self.cfg(tr)
        if c.enabled:
            _require(tr, "set_packing", self.name)
            b = tr.cfg.train.batch_size
            if b % c.m:
                raise ConfigError(f"tricks.packing.m = {c.m} must divide train.batch_size = {b}")
        if hasattr(tr.D, "set_packing"):
            # before the first step a packed layer keeps its random start (nothing to keep yet)
            reinitialised = tr.D.set_packing(c.m if c.enabled else 1, fade=_live(tr),
                                             keep_function=tr.step_count > 0)
            opt_d = getattr(tr, "opt_d", None)   # None while the Trainer is being built
            for p in reinitialised if opt_d is not None else ():
                opt_d.state.pop(p, None)   # moments of the weights the layer had before


# -- what D sees ---------------------------------------------------------------------------------
class InstanceNoise(Trick):
    name = "instance_noise"

    def __init__(self):
        self.t = 0          # steps trained with the noise on: sigma decays with it
        self._tuned = None

    def apply(self, tr):
        c = self.cfg(tr)
        if self._tuned is not None and self._tuned != (c.sigma, c.anneal_steps):
            self.t = 0      # re-tuning starts a new decay (a new floor does not); switching off and on continues
        self._tuned = (c.sigma, c.anneal_steps)

    def sigma(self, tr) -> float:
        c = self.cfg(tr)
        if not c.enabled:
            return 0.0
        if c.anneal_steps == 0:
            return c.sigma
        floor = min(c.floor, c.sigma)   # a floor above the start would be a rise, not a decay
        return floor + (c.sigma - floor) * max(0.0, 1.0 - self.t / c.anneal_steps)

    def add(self, tr, x: torch.Tensor, sigma: float) -> torch.Tensor:
        if sigma <= 0.0:
            return x
        return x + sigma * torch.randn(x.shape, generator=tr.rng, device=x.device, dtype=x.dtype)

    def after_step(self, tr):
        if self.on(tr):
            self.t += 1

    def state_dict(self):
        return {"t": self.t}

    def load_state_dict(self, state, tr):
        self.t = int(state.get("t", 0))


class Replay(Trick):
    name = "replay"

    def __init__(self):
        self.buffer: torch.Tensor | None = None  # (size, *shape), filled as a ring
        self.filled = 0
        self.next = 0

    def apply(self, tr):
        c = self.cfg(tr)
        if not c.enabled:
            return
        if self.buffer is None:   # zeros: the unfilled rows go into checkpoints too, and must be finite
            self.buffer = torch.zeros((c.buffer_size, *tr.data.shape), device=tr.device)
        elif self.buffer.shape[0] != c.buffer_size:  # keep the newest samples that fit
            self._resize(self._ordered(), c.buffer_size, tr)

    def _resize(self, ordered: torch.Tensor, size: int, tr) -> None:
        """A buffer of ``size`` rows holding the newest of ``ordered`` (oldest first) at 0..n-1."""
        old = ordered[-size:]
        self.buffer = torch.zeros((size, *tr.data.shape), device=tr.device)
        self.buffer[: len(old)] = old
        self.filled, self.next = len(old), len(old) % size

    def _ordered(self) -> torch.Tensor:
        if self.filled < self.buffer.shape[0]:
            return self.buffer[: self.filled]
        return torch.cat([self.buffer[self.next:], self.buffer[: self.next]])

    def _n_shown(self, tr, batch: int) -> int:
        return int(round(self.cfg(tr).fraction * batch))

    def mix(self, tr, fake: torch.Tensor) -> torch.Tensor:
        """Replace the tail of D's fake batch by samples drawn from the buffer."""
        if not self.on(tr) or self.filled == 0:
            return fake
        k = min(self._n_shown(tr, fake.shape[0]), fake.shape[0])
        if k == 0:
            return fake
        idx = torch.randint(self.filled, (k,), generator=tr.rng, device=fake.device)
        return torch.cat([fake[: fake.shape[0] - k], self.buffer[idx]])

    def push(self, tr, fake: torch.Tensor) -> None:
        """Store as many of this step's fakes as D is shown, so the buffer reaches further back."""
        if not self.on(tr):
            return
        k = max(1, self._n_shown(tr, fake.shape[0]))
        size = self.buffer.shape[0]
        new = fake[:k].detach()[-size:]
        idx = (torch.arange(len(new), device=fake.device) + self.next) % size
        self.buffer[idx] = new
        self.next = (self.next + len(new)) % size
        self.filled = min(size, self.filled + len(new))

    def state_dict(self):
        """The ring as it lies (row i at position i), its fill count and write position: sampling
        draws raw positions, so a resumed run must find every sample where it was."""
        if self.buffer is None:
            return {}
        return {"ring": self.buffer[: self.filled].clone(), "size": self.buffer.shape[0],
                "filled": self.filled, "next": self.next}

    def load_state_dict(self, state, tr):
        size = self.cfg(tr).buffer_size
        if "ring" in state:
            ring, saved_size = state["ring"].to(tr.device), int(state["size"])
            filled, nxt = int(state["filled"]), int(state["next"])
            if saved_size == size and len(ring) == filled <= size and 0 <= nxt < size:
                self.buffer = torch.zeros((size, *tr.data.shape), device=tr.device)
                self.buffer[:filled] = ring
                self.filled, self.next = filled, nxt
            else:   # another size: the newest samples that fit, oldest first
                full = filled >= saved_size
                self._resize(torch.cat([ring[nxt:], ring[:nxt]]) if full else ring, size, tr)
        elif "buffer" in state:   # checkpoints of older versions: the samples oldest first
            self._resize(state["buffer"].to(tr.device), size, tr)


# -- memory of the past ------------------------------------------------------------------------------
class HistoricalAveraging(Trick):
    name = "historical_averaging"

    def __init__(self):
        self.avg: dict[str, dict[str, torch.Tensor]] = {"g": {}, "d": {}}  # player -> name -> mean
        self.count = {"g": 0, "d": 0}

    def _active(self, tr, player: str) -> bool:
        c = self.cfg(tr)
        return c.enabled and c.players in ("both", player)

    def add_grad(self, tr, player: str, net: torch.nn.Module) -> None:
        """Gradient of weight·||θ - θ̄||² (= 2·weight·(θ - θ̄)) added to the player's gradients."""
        if not self._active(tr, player) or self.count[player] == 0:
            return
        avg = self.avg[player]
        pairs = [(p, avg[n]) for n, p in net.named_parameters() if p.grad is not None and n in avg]
        if not pairs:
            return
        ps, means = zip(*pairs)
        diff = foreach.sub([p.detach() for p in ps], means)
        foreach.add_([p.grad for p in ps], diff, alpha=2.0 * self.cfg(tr).weight)

    def update(self, tr, player: str, net: torch.nn.Module) -> None:
        """Fold the player's weights after its update into the running mean θ̄ = (1/t) Σ θ[i]."""
        if not self._active(tr, player):
            return
        self.count[player] += 1
        t, avg = self.count[player], self.avg[player]
        with torch.no_grad():
            for n, p in net.named_parameters():
                if n not in avg:
                    avg[n] = p.detach().clone()
                else:
                    avg[n].add_(p.detach() - avg[n], alpha=1.0 / t)

    def state_dict(self):
        return {"avg_g": dict(self.avg["g"]), "avg_d": dict(self.avg["d"]),
                "count_g": self.count["g"], "count_d": self.count["d"]}

    def load_state_dict(self, state, tr):
        if state:
            self.avg = {"g": {k: v.to(tr.device) for k, v in state["avg_g"].items()},
                        "d": {k: v.to(tr.device) for k, v in state["avg_d"].items()}}
            self.count = {"g": int(state["count_g"]), "d": int(state["count_d"])}


class CheckpointSwap(Trick):
    """Every ``interval`` steps: snapshot the player; then swap an older snapshot in for
    ``duration`` steps (it is not trained meanwhile) and put the current weights back after."""
    name = "checkpoint_swap"

    def __init__(self):
        self.snapshots: list[dict] = []   # {"step": int, "player": str, "weights": state_dict}
        self.t = 0                        # steps trained with the trick on
        self.swap_left = 0
        self.saved: dict | None = None    # the current weights, while an old snapshot is in
        self.swapped_player: str | None = None
        self.swapped_from: int | None = None

    def frozen(self, tr, player: str) -> bool:
        return self.swap_left > 0 and self.swapped_player == player

    def apply(self, tr):
        c = self.cfg(tr)
        if self.swap_left and (not c.enabled or c.player != self.swapped_player):
            self._end(tr)
        del self.snapshots[: max(0, len(self.snapshots) - c.snapshots)]

    def before_step(self, tr):
        c = self.cfg(tr)
        if not c.enabled or self.swap_left:
            return
        if self.t % c.interval == 0:
            net = tr.G if c.player == "g" else tr.D
            older = [s for s in self.snapshots if s["player"] == c.player]
            self.snapshots.append({"step": tr.step_count, "player": c.player, "weights": _copy_state(net)})
            del self.snapshots[: max(0, len(self.snapshots) - c.snapshots)]
            if older:
                i = int(torch.randint(len(older), (1,), generator=tr.eval_generator(salt=13)).item())
                self._begin(tr, c.player, older[i], c.duration)

    def _begin(self, tr, player, snap, duration):
        net = tr.G if player == "g" else tr.D
        self.saved = _copy_state(net)
        _load_state(net, snap["weights"])
        self.swap_left, self.swapped_player, self.swapped_from = duration, player, snap["step"]
        tr.record_event({"event": "swap-in", "key": f"tricks.checkpoint_swap.{player}", "value": snap["step"]})

    def _end(self, tr):
        net = tr.G if self.swapped_player == "g" else tr.D
        _load_state(net, self.saved)
        tr.record_event({"event": "swap-out", "key": f"tricks.checkpoint_swap.{self.swapped_player}",
                         "value": self.swapped_from})
        self.saved, self.swap_left, self.swapped_player, self.swapped_from = None, 0, None, None

    def after_step(self, tr):
        if not self.on(tr):
            return
        self.t += 1
        if self.swap_left:
            self.swap_left -= 1
            if self.swap_left == 0:
                self._end(tr)

    def state_dict(self):
        return {"snapshots": self.snapshots, "t": self.t, "swap_left": self.swap_left,
                "saved": self.saved, "swapped_player": self.swapped_player, "swapped_from": self.swapped_from}

    def load_state_dict(self, state, tr):
        if state:
            on = lambda w: None if w is None else {k: v.to(tr.device) for k, v in w.items()}  # noqa: E731
            self.snapshots = [{**s, "weights": on(s["weights"])} for s in state["snapshots"]]
            self.t = int(state["t"])
            self.swap_left, self.saved = int(state["swap_left"]), on(state["saved"])
            self.swapped_player, self.swapped_from = state["swapped_player"], state["swapped_from"]


def _copy_state(net: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _load_state(net: torch.nn.Module, weights: dict) -> None:
    """Copy the snapshot's tensors in place (layers created after the snapshot keep their values)."""
    with torch.no_grad():
        for k, v in net.state_dict().items():
            if k in weights and weights[k].shape == v.shape:
                v.copy_(weights[k])


# -- unrolling -------------------------------------------------------------------------------------
class Unrolled(Trick):
    """G's loss against D after k more Adam updates of D. With the fast paths on and a chain D
    (MLP, (leaky) ReLU, no norm layer or minibatch features) the look-ahead runs by hand
    (core/fast/unrolled.py); otherwise, and as the reference, :func:`unrolled_d` with autograd."""
    name = "unrolled"

    def __init__(self):
        self.workspace = Workspace()   # the look-ahead's buffers, reused every step

    def g_loss(self, tr, fake: torch.Tensor, g_loss_fn, d_loss_fn, targets) -> torch.Tensor:
        c = self.cfg(tr)
        second = c.method == "second-order"
        B = tr.cfg.train.batch_size
        look_ahead = self.fast_look_ahead(tr, d_loss_fn, targets, second)
        reals, zs = [], []
        one_pass = look_ahead is not None and not has_batch_stats(tr.G)
        if one_pass:   # the k batches of latents drawn straight into one buffer, for one pass of G
            z_all = self.workspace.buffer("z", (c.k * B, tr.cfg.model.latent_dim),
                                          torch.empty((), device=tr.device))
        for i in range(c.k):  # fresh batches for D's look-ahead updates
            reals.append(tr.data.sample(B, tr.rng))
            zs.append(tr.sample_z(B, out=z_all[i * B:(i + 1) * B] if one_pass else None))
        if look_ahead is not None:   # core/fast/unrolled.py: the same maths, by hand
            with torch.set_grad_enabled(second):  # copy-D: the fakes are plain data to D's copy
                fakes = tr.G(z_all) if one_pass else torch.cat([tr.G(z) for z in zs])
            D = tr.D
            x, n = D.pack_input(fake), D.pack_input(reals[0]).shape[0]
            reals_d = D.pack_input(torch.cat(reals)).view(c.k, n, -1)
            fakes_d = D.pack_input(fakes).view(c.k, n, -1)
            return g_loss_fn(unrolled_outputs(x, reals_d, fakes_d, look_ahead))
        batches = []
        for real, z in zip(reals, zs):
            with torch.set_grad_enabled(second):
                batches.append((real, tr.G(z)))
        params = unrolled_d(tr.D, tr.opt_d, batches, d_loss_fn, targets, second_order=second)
        return g_loss_fn(functional_call(tr.D, params, (fake,), {"role": "fake"}) if tr.d_takes_role
                         else functional_call(tr.D, params, (fake,)))

    def fast_look_ahead(self, tr, d_loss_fn, targets, second_order: bool) -> LookAhead | None:
        """What core/fast/unrolled.py needs, where it applies: fast paths on, D one chain of linear
        layers and (leaky) ReLUs (:meth:`MLPDiscriminator.fused_chain`), a D loss whose derivatives
        are known (:data:`LOSS_DERIVATIVES`); else None (the plain autograd version runs)."""
        derivs = LOSS_DERIVATIVES.get(d_loss_fn)
        chain = tr.D.fused_chain() if tr.fast and isinstance(tr.D, MLPDiscriminator) else None
        if chain is None or derivs is None:
            return None
        layers, slope = chain
        group = tr.opt_d.param_groups[0]
        params = [p for lin in layers for p in (lin.weight, lin.bias)]
        states = [tr.opt_d.state.get(p, {}) for p in params]
        zero = torch.zeros((), device=params[0].device)
        return LookAhead(
            weights=[lin.weight for lin in layers], biases=[lin.bias for lin in layers], slope=slope,
            exp_avg=[st.get("exp_avg", torch.zeros_like(p)) for st, p in zip(states, params)],
            exp_avg_sq=[st.get("exp_avg_sq", torch.zeros_like(p)) for st, p in zip(states, params)],
            steps=[st.get("step", zero) for st in states],
            lr=float(group["lr"]), betas=tuple(group["betas"]), eps=group["eps"],
            loss_derivatives=derivs, targets=targets, second_order=second_order, workspace=self.workspace)


def _per_half(out: torch.Tensor, n: int, real_value: float, fake_value: float) -> torch.Tensor:
    """A (2n, 1) column holding real_value on the first n rows and fake_value on the rest."""
    col = torch.full_like(out, fake_value)
    col[:n].fill_(real_value)
    return col


def _bce_derivatives(out, n, real_target, fake_target):
    # the mean over n of t softplus(-l) + (1 - t) softplus(l): (s(l) - t) / n and s(l) (1 - s(l)) / n
    s = torch.sigmoid(out)
    d1 = (s - fake_target).mul_(1.0 / n)
    if real_target != fake_target:
        d1[:n].sub_((real_target - fake_target) / n)
    return d1, (s - s * s).mul_(1.0 / n)


def _least_squares_derivatives(out, n, real_target, fake_target):
    d1 = (out - fake_target).mul_(1.0 / n)
    d1[:n].sub_((real_target - fake_target) / n)
    return d1, torch.full_like(out, 1.0 / n)


def _hinge_derivatives(out, n, real_target, fake_target):
    # relu(1 - D(x)) and relu(1 + D(G(z))); at the kink the derivative is 0, as autograd's relu has it
    active = torch.cat([out[:n] < 1.0, out[n:] > -1.0]).to(out.dtype)
    return active.mul_(_per_half(out, n, -1.0 / n, 1.0 / n)), torch.zeros_like(out)


def _wasserstein_derivatives(out, n, real_target, fake_target):
    return _per_half(out, n, -1.0 / n, 1.0 / n), torch.zeros_like(out)


#: D's loss -> the elementwise first and second derivatives of its loss in D's outputs on [real;
#: fake] (core/fast/unrolled.py); a loss missing here is unrolled by autograd
LOSS_DERIVATIVES = {losses.d_minimax: _bce_derivatives, losses.d_least_squares: _least_squares_derivatives,
                    losses.d_hinge: _hinge_derivatives, losses.d_wasserstein: _wasserstein_derivatives}


def unrolled_d(D: torch.nn.Module, opt_d: torch.optim.Adam, batches, d_loss_fn, targets,
               second_order: bool) -> dict:
    """D's weights after ``len(batches)`` Adam updates that continue ``opt_d``'s own moments, written
    as a function of the fakes so that G's gradient can flow through them (second order).

    With ``second_order=False`` the updates run on detached copies: the copy-D approximation.
    The D loss here has no gradient penalty or weight clipping (they would need third-order terms).
    """
    group = opt_d.param_groups[0]
    lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
    names, theta, m, v, steps = [], [], [], [], []
    for n, p in D.named_parameters():
        st = opt_d.state.get(p, {})
        names.append(n)
        theta.append(p if second_order else p.detach().requires_grad_(True))
        m.append(st["exp_avg"].detach() if "exp_avg" in st else torch.zeros_like(p))
        v.append(st["exp_avg_sq"].detach() if "exp_avg_sq" in st else torch.zeros_like(p))
        steps.append(float(st["step"]) if "step" in st else 0.0)
    buffers = {n: b.clone() for n, b in D.named_buffers()}  # batch-norm statistics stay untouched
    takes_role = _takes_role(D)
    real_t, fake_t = targets
    for real, fake in batches:
        fake = fake if second_order else fake.detach()
        params = {**dict(zip(names, theta)), **buffers}
        if takes_role:
            d_real = functional_call(D, params, (real,), {"role": "real"})
            d_fake = functional_call(D, params, (fake,), {"role": "fake"})
        else:
            d_real, d_fake = functional_call(D, params, (real,)), functional_call(D, params, (fake,))
        loss = d_loss_fn(d_real, d_fake, real_t, fake_t)
        grads = torch.autograd.grad(loss, theta, create_graph=second_order, allow_unused=True)
        new_theta = []
        for i, g in enumerate(grads):
            if g is None:  # a layer not in use (e.g. a pack size switched away): Adam skips it
                new_theta.append(theta[i])
                continue
            steps[i] += 1.0
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            m_hat = m[i] / (1 - b1 ** steps[i])
            v_hat = v[i] / (1 - b2 ** steps[i])
            # the tiny constant keeps d sqrt(v)/dv finite where a gradient is exactly 0 (dead units)
            new_theta.append(theta[i] - lr * m_hat / ((v_hat + 1e-30).sqrt() + eps))
        theta = new_theta if second_order else [t.detach().requires_grad_(True) for t in new_theta]
    return {**dict(zip(names, theta)), **buffers}


def _takes_role(D) -> bool:
    import inspect
    try:
        return "role" in inspect.signature(D.forward).parameters
    except (TypeError, ValueError):
        return False


# -- optimisation --------------------------------------------------------------------------------------
class TwoTimeScale(Trick):
    name = "two_time_scale"

    def hyper(self, tr) -> tuple[float, float, int]:
        """(lr_d, lr_g, d_steps) in force: the trick's when on, else train's."""
        c, t = self.cfg(tr), tr.cfg.train
        if c.enabled:
            return c.lr_d, c.lr_g, c.d_steps
        return t.lr_d, t.lr_g, t.d_steps


# -- sampling -----------------------------------------------------------------------------------------
class GEma(Trick):
    """An exponential moving average of G's weights, used for sampling and evaluation.

    After every G step taken with the trick on, ``avg <- decay * avg + (1 - decay) * theta``. The
    Trainer folds a step's weights in lazily: before the next step (``Trainer.begin_step``) or when
    the average is used, whichever comes first (the weights do not change in between, so the result
    is the same). ``averaged(tr)`` puts the average into G for the length of a block (sampling,
    metrics, snapshots) and the live weights back after; training never sees it. The average starts
    from G's weights when the trick is first turned on; turned off, it is kept, and turned on again
    it continues from where it was (the steps in between are not folded in).
    """
    name = "g_ema"

    def __init__(self):
        self.avg: dict[str, torch.Tensor] = {}   # G's parameter name -> its average
        self.step: int | None = None              # the trainer step whose weights were folded in last
        self._in_force = (False, 0.999)           # (on, decay) of the steps since the last fold
        self._depth = 0                           # nesting of averaged() blocks

    def apply(self, tr):
        c = self.cfg(tr)
        self.fold(tr)                             # steps taken under the old setting count with it
        if c.enabled and self.step is None:       # first turned on: start from G's weights
            self.avg = {n: p.detach().clone() for n, p in tr.G.named_parameters()}
            self.step = tr.step_count
        elif c.enabled and not self._in_force[0]:  # on again: continue, skipping the steps while off
            self.step = tr.step_count
        self._in_force = (c.enabled, c.decay)

    def fold(self, tr) -> None:
        """Fold in G's weights of the steps taken since the last fold (one, when called every step)."""
        on, decay = self._in_force
        if not on or self.step is None or self.step >= tr.step_count:
            return
        keep = decay ** (tr.step_count - self.step)
        with torch.no_grad():
            for n, p in tr.G.named_parameters():
                a = self.avg.get(n)
                if a is None or a.shape != p.shape:   # a layer a trick added later: starts at its weights
                    self.avg[n] = p.detach().clone()
                else:
                    a.lerp_(p.detach(), 1.0 - keep)
        self.step = tr.step_count

    @contextlib.contextmanager
    def averaged(self, tr):
        """Inside the block G has the averaged weights (when the trick is on); the live ones after."""
        if self._depth or not self.on(tr) or self.step is None:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.fold(tr)
        pairs = [(p, self.avg[n]) for n, p in tr.G.named_parameters()
                 if n in self.avg and self.avg[n].shape == p.shape]
        live = [p.detach().clone() for p, _ in pairs]
        with torch.no_grad():
            for p, a in pairs:
                p.copy_(a)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            with torch.no_grad():
                for (p, _), v in zip(pairs, live):
                    p.copy_(v)

    def state_dict(self):
        if self.step is None:
            return {}
        return {"avg": dict(self.avg), "step": self.step}

    def load_state_dict(self, state, tr):
        if state:
            self.avg = {k: v.to(tr.device) for k, v in state["avg"].items()}
            self.step = int(state["step"])
        else:                                     # a checkpoint from before the trick was on
            self.avg, self.step = {}, None
            if self.on(tr):
                self.avg = {n: p.detach().clone() for n, p in tr.G.named_parameters()}
                self.step = tr.step_count


ALL_TRICKS = (LabelSmoothing, FeatureMatching, Normalization, MinibatchDiscrimination, Packing,
              InstanceNoise, Replay, HistoricalAveraging, CheckpointSwap, Unrolled, TwoTimeScale, GEma)


class TrickSet:
    """One instance of every trick, by config name (``tricks.label_smoothing`` -> ``label_smoothing``)."""

    def __init__(self):
        self.units = {cls.name: cls() for cls in ALL_TRICKS}
        for name, unit in self.units.items():
            setattr(self, name, unit)

    def apply_all(self, tr, names=None) -> None:
        """Bring every trick in ``names`` (None: all; a family's FAMILY.tricks) in line with the config."""
        for name, unit in self.units.items():
            if names is None or name in names:
                unit.apply(tr)

    def state_dict(self) -> dict:
        return {name: unit.state_dict() for name, unit in self.units.items()}

    def load_state_dict(self, state: dict, tr) -> None:
        for name, unit in self.units.items():
            unit.load_state_dict(state.get(name, {}), tr)

    def describe(self, tr) -> str:
        """A short label of the tricks in force, e.g. 'packing(m=4)+unrolled(k=5)' (for tables)."""
        parts = []
        for name in tr.cfg.tricks.__dataclass_fields__:
            c = getattr(tr.cfg.tricks, name)
            if c.enabled:
                args = ",".join(f"{k}={v}" for k, v in vars(c).items() if k != "enabled")
                parts.append(f"{name}({args})")
        return "+".join(parts) or "none"


def trick_docs() -> dict[str, str]:
    """Trick name -> its one-sentence tooltip."""
    from gan_studio.core.config import TricksConfig
    t = TricksConfig()
    return {name: " ".join(type(getattr(t, name)).__doc__.split()) for name in t.__dataclass_fields__}


