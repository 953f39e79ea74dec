"""Each trick shows its effect on a tiny model, and turning it off restores the plain step exactly."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from gan_studio.core.config import Config
from gan_studio.core.errors import ConfigError
from gan_studio.core.nets.mlp import MLPDiscriminator, MLPGenerator
from gan_studio.core.training import losses
from gan_studio.core.training.trainer import Trainer
from gan_studio.core.training.tricks import trick_docs, unrolled_d

#: every test runs with the fast paths (core/fast) on and off (the fast_paths fixture in conftest.py)
pytestmark = pytest.mark.usefixtures("fast_paths")


def tiny_cfg(**sets) -> Config:
    cfg = Config()
    cfg.set("data.name", "ring8")
    cfg.set("train.batch_size", 16)
    cfg.set("model.latent_dim", 4)
    for k in ("g_width", "d_width"):
        cfg.set(f"model.{k}", 16)
    cfg.set("model.g_depth", 2)
    cfg.set("model.d_depth", 2)
    for k, v in sets.items():
        cfg.set(k.replace("__", "."), v)
    return cfg


def tiny(**sets) -> Trainer:
    return Trainer(tiny_cfg(**sets), device="cpu")


def replay_draws(tr: Trainer):
    """The real batch and z the next step will draw (the trainer's RNG is left untouched)."""
    g = torch.Generator().manual_seed(0)
    g.set_state(tr.rng.get_state())
    real = tr.data.sample(tr.cfg.train.batch_size, g)
    z = torch.randn(tr.cfg.train.batch_size, tr.cfg.model.latent_dim, generator=g)
    return real, z


# -- every trick has a tooltip and validated parameters ---------------------------------------------
def test_every_trick_has_a_tooltip_a_group_and_an_on_switch():
    docs = trick_docs()
    cfg = Config()
    assert len(docs) == 12
    for name, doc in docs.items():
        sub = getattr(cfg.tricks, name)
        assert sub.enabled is False  # off by default: a preset that says nothing trains the plain GAN
        assert isinstance(type(sub).GROUP, str) and type(sub).GROUP
        assert len(doc) > 40 and doc.endswith((".", ")"))


def test_trick_parameters_are_validated_with_the_key_named():
    tr = tiny()
    with pytest.raises(ConfigError, match=r"tricks.packing.m = 40 is out of range"):
        tr.apply_setting("tricks.packing.m", 40)
    with pytest.raises(ConfigError, match="tricks.normalization.d = 'group'"):
        tr.apply_setting("tricks.normalization.d", "group")
    tr.apply_setting("tricks.packing.m", 3)
    with pytest.raises(ConfigError, match="must divide train.batch_size = 16"):
        tr.apply_setting("tricks.packing.enabled", True)
    assert tr.cfg.tricks.packing.enabled is False  # a refused change is undone whole
    tr.step()


# -- label smoothing -------------------------------------------------------------------------------
@pytest.mark.parametrize("two_sided", [False, True])
def test_label_smoothing_sets_the_real_target_to_alpha(two_sided):
    tr = tiny()
    tr.step()
    tr.set("tricks.label_smoothing.enabled", True)
    tr.set("tricks.label_smoothing.two_sided", two_sided)
    tr.drain_commands()
    real, z = replay_draws(tr)
    with torch.no_grad():
        d_real, d_fake = tr.D(real), tr.D(tr.G(z))
    loss_d = tr.step().as_dict()["loss_d"]
    fake_target = 0.1 if two_sided else 0.0
    expected = (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, 0.9))
                + F.binary_cross_entropy_with_logits(d_fake, torch.full_like(d_fake, fake_target)))
    assert loss_d == pytest.approx(expected.item(), rel=1e-5)
    plain = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
             + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
    assert abs(loss_d - plain.item()) > 1e-3


# -- normalisation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["virtual-batch", "instance"])
def test_per_example_norms_do_not_let_the_batch_leak_into_an_example(kind):
    # the switch to batch norm below is checked at once, not faded in over train.switch_fade_steps
    tr = tiny(**{"tricks.normalization.enabled": True, "tricks.normalization.d": kind,
                 "tricks.normalization.g": kind, "train.switch_fade_steps": 0})
    for _ in range(3):
        tr.step()
    z = torch.randn(8, 4)
    z2 = torch.cat([z[:1], torch.randn(7, 4) * 3])
    x = torch.randn(8, 2)
    x2 = torch.cat([x[:1], torch.randn(7, 2) * 3])
    with torch.no_grad():
        assert torch.allclose(tr.G(z)[0], tr.G(z2)[0], atol=1e-6)
        assert torch.allclose(tr.D(x)[0], tr.D(x2)[0], atol=1e-6)
        tr.apply_setting("tricks.normalization.g", "batch")
        tr.apply_setting("tricks.normalization.d", "batch")
        assert not torch.allclose(tr.G(z)[0], tr.G(z2)[0], atol=1e-4)   # batch norm does leak
        assert not torch.allclose(tr.D(x)[0], tr.D(x2)[0], atol=1e-4)


def test_virtual_batch_norm_weights_the_example_one_in_n_plus_one():
    from gan_studio.core.nets.mlp import VirtualBatchNorm
    vbn = VirtualBatchNorm(3)
    ref, x = torch.randn(4, 3), torch.randn(1, 3)
    out = vbn(torch.cat([ref, x]), 4)
    both = torch.cat([ref, x])  # R ∪ {x} with equal weights is exactly 1/(N+1) on x
    mu, var = both.mean(0), both.var(0, unbiased=False)
    assert torch.allclose(out[4], (x[0] - mu) / torch.sqrt(var + 1e-5), atol=1e-5)
    assert torch.allclose(out[:4], (ref - ref.mean(0)) / torch.sqrt(ref.var(0, unbiased=False) + 1e-5),
                          atol=1e-5)


def test_separate_batch_norms_keep_real_and_fake_statistics_apart():
    tr = tiny(**{"tricks.normalization.enabled": True, "tricks.normalization.d": "separate-batch"})
    for _ in range(3):
        tr.step()
    slot = tr.D.norms[0]
    real_mean, fake_mean = slot.layers["batch-real"].running_mean, slot.layers["batch-fake"].running_mean
    assert not torch.allclose(real_mean, fake_mean)
    assert "batch" not in slot.layers  # no shared batch norm was made


# -- minibatch discrimination, packing -------------------------------------------------------------------
def test_minibatch_discrimination_lets_d_see_the_rest_of_the_batch():
    tr = tiny()
    x = torch.randn(8, 2)
    with torch.no_grad():
        before = tr.D(x)
        tr.apply_setting("tricks.minibatch_discrimination.enabled", True)
        assert torch.equal(tr.D(x), before)  # the new head starts at zero: no jolt when turned on
    for _ in range(5):
        tr.step()
    mbd = tr.D.mbd[tr.D.mbd_key]
    with torch.no_grad():
        x2 = torch.cat([x[:1], x[:1].repeat(7, 1)])  # the same first example in a collapsed batch
        assert not torch.allclose(tr.D(x)[0], tr.D(x2)[0], atol=1e-5)
        f = tr.D.features(x2)
        # a batch of identical samples: every kernel sees 7 perfectly close neighbours
        assert torch.allclose(mbd.closeness(f), torch.full((8, mbd.B), 7.0), atol=1e-4)
        assert (mbd.closeness(tr.D.features(torch.randn(8, 2) * 3)) < 7.0).all()


def test_packing_makes_d_judge_m_samples_at_once():
    tr = tiny(**{"tricks.packing.enabled": True, "tricks.packing.m": 4})
    x = torch.randn(16, 2)
    with torch.no_grad():
        out = tr.D(x)
        assert out.shape == (4,)
        x2 = x.clone()
        x2[5] += 1.0  # a member of the second pack
        out2 = tr.D(x2)
    assert torch.equal(out[[0, 2, 3]], out2[[0, 2, 3]]) and out[1] != out2[1]
    assert tr.D.pack_in["4"].in_features == 8
    tr.step()


def _slots(tr, m):
    return tr.D.pack_in[str(m)].weight.detach().view(tr.D.width, m, -1)


def test_packing_from_the_first_step_starts_from_a_random_layer():
    """A preset with packing on from step 0 (best, best-grid, pac2, pac4) gets a packed layer with its
    own random start, as PacGAN's D has: the function-preserving start (each slot the unpacked
    weights / m) is for a live switch only. With m equal slots D would first see only each pack's
    mean; that start, used from step 0 for a while, cost `best` about 1 HQ point on every seed."""
    tr = tiny(**{"tricks.packing.enabled": True, "tricks.packing.m": 4})
    w = _slots(tr, 4)
    assert not torch.allclose(w[:, 0], w[:, 1])
    live = tiny()
    live.step()
    unpacked = live.D.body[0].weight.detach().clone()
    live.apply_setting("tricks.packing.enabled", True)
    live.apply_setting("tricks.packing.m", 4)
    w = _slots(live, 4)
    assert torch.allclose(w, (unpacked / 4)[:, None].expand_as(w))


# -- instance noise, replay, historical averaging, checkpoint swapping ------------------------------------
def test_instance_noise_decays_linearly_and_reaches_d():
    tr = tiny(**{"tricks.instance_noise.enabled": True, "tricks.instance_noise.sigma": 0.5,
                 "tricks.instance_noise.anneal_steps": 10})
    seen = []
    orig = tr._d_outputs
    tr._d_outputs = lambda r, f: (seen.append(r.clone()), orig(r, f))[1]
    real, _ = replay_draws(tr)
    sigmas = []
    for _ in range(12):
        sigmas.append(tr.tricks.instance_noise.sigma(tr))
        tr.step()
    assert sigmas[0] == 0.5 and sigmas[5] == pytest.approx(0.25) and sigmas[10] == 0.0
    noise = seen[0] - real
    assert 0.3 < noise.std().item() < 0.7


def test_instance_noise_falls_to_its_floor_and_keeps_it():
    tr = tiny(**{"tricks.instance_noise.enabled": True, "tricks.instance_noise.sigma": 0.5,
                 "tricks.instance_noise.anneal_steps": 10, "tricks.instance_noise.floor": 0.1})
    sigmas = []
    for _ in range(14):
        sigmas.append(tr.tricks.instance_noise.sigma(tr))
        tr.step()
    assert sigmas[0] == 0.5 and sigmas[5] == pytest.approx(0.3) and sigmas[10:] == [pytest.approx(0.1)] * 4
    tr.apply_setting("tricks.instance_noise.floor", 0.05)     # a new floor: the decay goes on, no restart
    assert tr.tricks.instance_noise.sigma(tr) == pytest.approx(0.05)
    tr.apply_setting("tricks.instance_noise.floor", 0.9)      # above the start: kept at the start, never a rise
    assert tr.tricks.instance_noise.sigma(tr) == pytest.approx(0.5)
    with pytest.raises(Exception, match="floor"):
        tr.apply_setting("tricks.instance_noise.floor", -1.0)


def test_replay_buffer_feeds_old_samples_to_d():
    tr = tiny(**{"tricks.replay.enabled": True, "tricks.replay.fraction": 0.5,
                 "tricks.replay.buffer_size": 1000})
    g_outputs, d_fakes = [], []
    tr.G.register_forward_hook(lambda m, i, o: g_outputs.append((tr.step_count, o.detach().clone())))
    orig = tr._d_outputs
    tr._d_outputs = lambda r, f: (d_fakes.append((tr.step_count, f.clone())), orig(r, f))[1]
    for _ in range(6):
        tr.step()
    step, fake = d_fakes[-1]
    current = torch.cat([o for s, o in g_outputs if s == step])
    older = torch.cat([o for s, o in g_outputs if s < step])
    tail = fake[8:]  # fraction 0.5 of 16: the last 8 rows come from the buffer
    for row in tail:
        assert (older == row).all(1).any(), "a replayed sample is one G made at an earlier step"
        assert not (current == row).all(1).any()
    assert torch.equal(fake[:8], current[:8])


def test_historical_averaging_keeps_the_mean_and_pulls_towards_it():
    tr = tiny(**{"tricks.historical_averaging.enabled": True, "tricks.historical_averaging.players": "g",
                 "tricks.historical_averaging.weight": 0.5})
    history = []
    for _ in range(4):
        tr.step()
        history.append(tr.G.out.weight.detach().clone())
    avg = tr.tricks.historical_averaging.avg["g"]["out.weight"].clone()
    assert torch.allclose(avg, torch.stack(history).mean(0), atol=1e-6)
    # the penalty's gradient: 2·w·(θ - θ̄), on top of the plain gradient of the same step
    other = tiny()
    other.load_state_dict(copy.deepcopy(tr.state_dict()))
    other.apply_setting("tricks.historical_averaging.enabled", False)
    theta = tr.G.out.weight.detach().clone()
    tr.step()
    other.step()
    assert torch.allclose(tr.G.out.weight.grad - other.G.out.weight.grad, 2 * 0.5 * (theta - avg), atol=1e-5)


def test_checkpoint_swapping_brings_back_an_old_snapshot_and_then_returns():
    tr = tiny(**{"tricks.checkpoint_swap.enabled": True, "tricks.checkpoint_swap.interval": 3,
                 "tricks.checkpoint_swap.duration": 2})
    first = {k: v.clone() for k, v in tr.D.state_dict().items()}  # snapshot at the first step
    for _ in range(3):
        tr.step()
    before_swap = {k: v.clone() for k, v in tr.D.state_dict().items()}
    tr.step()  # t = 3: snapshot, then the old one is swapped in for 2 steps
    swapped = tr.D.state_dict()
    assert all(torch.equal(swapped[k], first[k]) for k in first)
    assert tr.events[-1]["event"] == "swap-in" and tr.events[-1]["value"] == 0
    tr.step()
    back = tr.D.state_dict()
    assert all(torch.equal(back[k], before_swap[k]) for k in first)  # the current D, untrained meanwhile
    assert tr.events[-1]["event"] == "swap-out"
    tr.step()
    assert not torch.equal(tr.D.state_dict()["head.weight"], before_swap["head.weight"])  # learning again


# -- feature matching ------------------------------------------------------------------------------------
def test_feature_matching_is_gs_loss():
    """G's loss is ||E f(x) - E f(G(z))||² on D's last hidden layer, D as updated in this step."""
    tr2 = tiny(**{"tricks.feature_matching.enabled": True})
    tr2.step()
    G_before = copy.deepcopy(tr2.G)
    real2, z2 = replay_draws(tr2)
    holder = {}
    orig_step = tr2.opt_g.step
    tr2.opt_g.step = lambda *a, **k: (holder.setdefault("D", copy.deepcopy(tr2.D)), orig_step(*a, **k))[1]
    loss_g = tr2.step().as_dict()["loss_g"]
    with torch.no_grad():
        D_after = holder["D"]
        expected = ((D_after.features(real2).mean(0) - D_after.features(G_before(z2)).mean(0)) ** 2).sum()
    assert loss_g == pytest.approx(expected.item(), rel=1e-5)


# -- unrolled GAN ---------------------------------------------------------------------------------------
def _double_models(seed=0):
    torch.manual_seed(seed)
    G = MLPGenerator(3, (2,), 2, 8, "tanh").double()
    D = MLPDiscriminator((2,), 2, 8, "tanh").double()
    opt = torch.optim.Adam(D.parameters(), lr=0.05, betas=(0.5, 0.999), foreach=False)
    for _ in range(3):  # Adam with some history: its first step is sign-like and hides the 2nd order
        opt.zero_grad()
        losses.d_minimax(D(torch.randn(8, 2, dtype=torch.float64)),
                         D(G(torch.randn(8, 3, dtype=torch.float64)).detach())).backward()
        opt.step()
    return G, D, opt


def _reference_unrolled_loss(G, D, opt, batches, z0) -> torch.Tensor:
    """The unrolled G loss the slow way: a copy of D with a real Adam optimiser, k real updates."""
    Dc = copy.deepcopy(D)
    oc = torch.optim.Adam(Dc.parameters(), lr=0.05, betas=(0.5, 0.999), foreach=False)
    oc.load_state_dict(copy.deepcopy(opt.state_dict()))
    with torch.enable_grad():
        for real, z in batches:
            oc.zero_grad()
            losses.d_minimax(Dc(real), Dc(G(z).detach())).backward()
            oc.step()
    return losses.g_non_saturating(Dc(G(z0)))


def test_unrolled_gradient_flows_through_the_d_updates_and_matches_finite_differences():
    G, D, opt = _double_models()
    k = 3
    gen = torch.Generator().manual_seed(1)
    batches = [(torch.randn(8, 2, generator=gen, dtype=torch.float64),
                torch.randn(8, 3, generator=gen, dtype=torch.float64)) for _ in range(k)]
    z0 = torch.randn(8, 3, generator=gen, dtype=torch.float64)
    w = G.out.weight

    def grad_of(second_order: bool, unroll: bool = True):
        if unroll:
            params = unrolled_d(D, opt, [(r, G(z)) for r, z in batches], losses.d_minimax, (1.0, 0.0),
                                second_order=second_order)
            loss = losses.g_non_saturating(functional_call(D, params, (G(z0),)))
        else:
            loss = losses.g_non_saturating(D(G(z0)))
        return torch.autograd.grad(loss, w)[0]

    second, copy_d, plain = grad_of(True), grad_of(False), grad_of(False, unroll=False)
    # finite differences of the slow reference (a real Adam on a copy of D) in float64
    fd = torch.zeros_like(w)
    eps = 1e-6
    with torch.no_grad():
        for idx in [(0, 0), (0, 3), (1, 5), (1, 7)]:
            old = w[idx].item()
            w[idx] = old + eps
            up = _reference_unrolled_loss(G, D, opt, batches, z0).item()
            w[idx] = old - eps
            down = _reference_unrolled_loss(G, D, opt, batches, z0).item()
            w[idx] = old
            fd[idx] = (up - down) / (2 * eps)
            assert second[idx].item() == pytest.approx(fd[idx].item(), rel=1e-4, abs=1e-8)
    picked = torch.tensor([[1, 0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1, 0, 1]], dtype=torch.bool)
    # the copy-D approximation misses the second-order term, and both differ from the plain gradient
    assert (second - copy_d)[picked].abs().max() > 1e-3 * second[picked].abs().max()
    assert (second - plain).abs().max() > 1e-2 * plain.abs().max()
    # D itself was not changed by unrolling
    assert opt.state[D.head.weight]["step"].item() == 3


def test_unrolled_trick_on_a_trainer_changes_gs_update_not_ds():
    a, b = tiny(), tiny(**{"tricks.unrolled.enabled": True, "tricks.unrolled.k": 2})
    ma, mb = a.step().as_dict(), b.step().as_dict()
    assert ma["loss_d"] == mb["loss_d"]                  # D's step is the plain one
    assert torch.equal(a.D.head.weight, b.D.head.weight)
    assert not torch.allclose(a.G.out.weight, b.G.out.weight)


# -- optimisation: TTUR, D steps, loss switched live ----------------------------------------------------------
def test_two_time_scale_and_d_steps_change_live_keeping_adams_state():
    tr = tiny()
    tr.step()
    p = tr.D.head.weight
    state_before = {k: v.clone() for k, v in tr.opt_d.state[p].items()}
    tr.apply_setting("tricks.two_time_scale.enabled", True)
    tr.apply_setting("tricks.two_time_scale.d_steps", 3)
    assert tr.opt_d.param_groups[0]["lr"] == 4e-4 and tr.opt_g.param_groups[0]["lr"] == 1e-4
    assert all(torch.equal(tr.opt_d.state[p][k], v) for k, v in state_before.items())  # moments kept
    tr.step()
    assert tr.opt_d.state[p]["step"].item() == 4      # 1 + 3 D updates
    tr.apply_setting("tricks.two_time_scale.enabled", False)
    assert tr.opt_d.param_groups[0]["lr"] == 1e-3
    tr.apply_setting("train.lr_d", 3e-4)
    assert tr.opt_d.param_groups[0]["lr"] == 3e-4


def test_loss_switched_live_to_wgan_clips_the_critic():
    tr = tiny()
    tr.step()
    assert tr.D.head.weight.abs().max() > 0.01
    tr.apply_setting("loss", "wgan")
    tr.step()
    assert max(p.abs().max().item() for p in tr.D.parameters()) <= 0.01 + 1e-7


# -- off restores the plain step exactly --------------------------------------------------------------------
TOGGLES = {
    "label_smoothing": {}, "feature_matching": {}, "instance_noise": {}, "replay": {},
    "historical_averaging": {}, "unrolled": {"k": 2},
    "normalization": {"d": "virtual-batch", "g": "batch"},
    "minibatch_discrimination": {"kernels": 8, "kernel_dim": 3}, "packing": {"m": 4},
    "checkpoint_swap": {"interval": 2, "duration": 1}, "two_time_scale": {"d_steps": 2},
    "g_ema": {"decay": 0.9},
}


@pytest.mark.parametrize("name", sorted(TOGGLES))
def test_turning_a_trick_off_restores_the_plain_step_exactly(name):
    tr = tiny(**{"train.switch_fade_steps": 2})   # layer switches fade over 2 steps
    tr.step()
    tr.apply_setting(f"tricks.{name}.enabled", True)
    for k, v in TOGGLES[name].items():
        tr.apply_setting(f"tricks.{name}.{k}", v)
    for _ in range(3):
        tr.step()
    tr.apply_setting(f"tricks.{name}.enabled", False)
    for _ in range(2):   # the fade out: after it, nothing of the trick is left
        tr.step()
    # a Trainer that never had the trick, given the same weights, Adam moments and RNG state
    plain = tiny()
    plain.G.load_state_dict({k: v for k, v in tr.G.state_dict().items() if k in plain.G.state_dict()})
    plain.D.load_state_dict({k: v for k, v in tr.D.state_dict().items() if k in plain.D.state_dict()})
    for net_a, net_b, opt_a, opt_b in ((tr.G, plain.G, tr.opt_g, plain.opt_g), (tr.D, plain.D, tr.opt_d, plain.opt_d)):
        pa = dict(net_a.named_parameters())
        for n, p in net_b.named_parameters():
            opt_b.state[p] = {k: v.clone() for k, v in opt_a.state[pa[n]].items()}
    plain.rng.set_state(tr.rng.get_state())
    for _ in range(2):
        ma, mb = tr.step().as_dict(), plain.step().as_dict()
        assert ma == {**mb, "step": ma["step"]}
    for n, p in plain.G.named_parameters():
        assert torch.equal(p, dict(tr.G.named_parameters())[n])
    for n, p in plain.D.named_parameters():
        assert torch.equal(p, dict(tr.D.named_parameters())[n])


def test_trick_state_is_kept_when_turned_off_and_on_and_survives_a_checkpoint():
    # switches at once (no fade): while off, the kept layer must not train at all
    tr = tiny(**{"tricks.minibatch_discrimination.enabled": True, "tricks.replay.enabled": True,
                 "tricks.normalization.enabled": True, "tricks.normalization.d": "virtual-batch",
                 "train.switch_fade_steps": 0})
    for _ in range(3):
        tr.step()
    mbd = tr.D.mbd[tr.D.mbd_key]
    T = mbd.T.detach().clone()
    filled = tr.tricks.replay.filled
    tr.apply_setting("tricks.minibatch_discrimination.enabled", False)
    tr.apply_setting("tricks.replay.enabled", False)
    tr.step()
    tr.apply_setting("tricks.minibatch_discrimination.enabled", True)
    tr.apply_setting("tricks.replay.enabled", True)
    assert tr.D.mbd[tr.D.mbd_key] is mbd and torch.equal(mbd.T, T)
    assert tr.tricks.replay.filled == filled
    state = copy.deepcopy(tr.state_dict())
    again = Trainer(Config.from_dict(tr.cfg.to_dict()), device="cpu")
    again.load_state_dict(state)
    assert again.step().as_dict() == tr.step().as_dict()


def test_dcgan_takes_the_tricks_that_fit_it_and_refuses_the_rest_in_one_line():
    cfg = Config()
    for k, v in {"data.name": "digits", "data.image_size": 16, "model.arch": "dcgan", "model.ngf": 8,
                 "model.ndf": 8, "train.batch_size": 8}.items():
        cfg.set(k, v)
    tr = Trainer(cfg, device="cpu")
    for name in ("label_smoothing", "feature_matching", "instance_noise", "replay", "historical_averaging"):
        tr.apply_setting(f"tricks.{name}.enabled", True)
    tr.apply_setting("tricks.unrolled.enabled", True)
    tr.apply_setting("tricks.unrolled.k", 1)
    assert tr.step().is_finite()
    with pytest.raises(ConfigError, match="tricks.packing needs the studio's MLP networks"):
        tr.apply_setting("tricks.packing.enabled", True)
    assert tr.cfg.tricks.packing.enabled is False
