"""A live switch that changes layers is a change of method, not a restart of D (issue 13).

Each trick is switched on at step 1,000 of a running ring8 (the default preset): D's loss over the
next 20 steps stays within 3x the largest value of the 100 steps before, and D's gradient norm stays
above 1e-6. Switching it off again is just as smooth. A run resumed in the middle of a fade goes on
exactly as if it had not stopped."""
from __future__ import annotations

import copy

import pytest
import torch

from gan_studio.core.families.registry import make_trainer
from gan_studio.core.presets import load_preset

SWITCHES = ["tricks.packing.enabled", "tricks.normalization.enabled", "tricks.minibatch_discrimination.enabled"]
FADING = SWITCHES   # every switch that changes layers fades


@pytest.fixture(scope="module")
def at_1000():
    """ring8's state at step 1,000 and its D losses over the 100 steps before."""
    torch.manual_seed(0)
    cfg = load_preset("ring8")
    tr = make_trainer(cfg, device="cpu")
    losses = [tr.step()["loss_d"] for _ in range(1000)][-100:]
    return cfg, copy.deepcopy(tr.state_dict()), losses


def _trainer(cfg, state):
    tr = make_trainer(cfg.copy(), device="cpu")
    tr.load_state_dict(copy.deepcopy(state))
    return tr


def _run(tr, n):
    rows = [tr.step().as_dict() for _ in range(n)]
    return [r["loss_d"] for r in rows], [r["grad_norm_d"] for r in rows]


@pytest.mark.parametrize("steps_on", [60, 120])   # off during the fade in, and after it
@pytest.mark.parametrize("key", SWITCHES)
def test_switching_on_and_off_keeps_d_sane(at_1000, key, steps_on):
    cfg, state, before = at_1000
    tr = _trainer(cfg, state)
    tr.apply_setting(key, True)
    after, grads = _run(tr, 20)
    assert max(after) <= 3 * max(before), (key, "on", max(before), after)
    assert min(grads) > 1e-6, (key, "on", grads)
    if steps_on > 60:   # the rest of the fade in goes faster, so that the run is past it at the switch off
        tr.apply_setting("train.switch_fade_steps", 40)

    on_losses, _ = _run(tr, steps_on)
    tr.apply_setting(key, False)
    after, grads = _run(tr, 20)
    ref = max(on_losses[-100:] + before)
    assert max(after) <= 3 * ref, (key, "off", ref, after)
    assert min(grads) > 1e-6, (key, "off", grads)


def test_without_the_fade_packing_jolts_d(at_1000):
    """The check above has teeth: the same switch applied at once (fade 0) blows D's loss up."""
    cfg, state, before = at_1000
    tr = _trainer(cfg, state)
    tr.apply_setting("train.switch_fade_steps", 0)
    tr.apply_setting("tricks.packing.enabled", True)
    after, _ = _run(tr, 20)
    assert max(after) > 3 * max(before)


def test_packing_switch_starts_from_ds_function(at_1000):
    """At the switch D's scores are the unpacked D's scores averaged over each pack."""
    cfg, state, _ = at_1000
    tr = _trainer(cfg, state)
    x = tr.data.sample(64, torch.Generator().manual_seed(3))
    with torch.no_grad():
        per_sample = tr.D(x)
        tr.apply_setting("tricks.packing.enabled", True)
        m = tr.cfg.tricks.packing.m
        packed = tr.D(x)
    assert packed.shape == (64 // m,)
    torch.testing.assert_close(packed, per_sample.view(-1, m).mean(1))


@pytest.mark.parametrize("key", FADING)
def test_resume_in_the_middle_of_a_fade_is_exact(at_1000, key):
    cfg, state, _ = at_1000
    straight = _trainer(cfg, state)
    straight.apply_setting(key, True)
    _run(straight, 30)

    first = _trainer(cfg, state)
    first.apply_setting(key, True)
    _run(first, 10)
    mid = copy.deepcopy(first.state_dict())
    second = make_trainer(first.cfg.copy(), device="cpu")
    second.load_state_dict(mid)
    _run(second, 20)
    for a, b in zip(straight.D.state_dict().values(), second.D.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(straight.G.state_dict().values(), second.G.state_dict().values()):
        assert torch.equal(a, b)
