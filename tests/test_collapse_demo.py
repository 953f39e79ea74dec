"""The default demo (preset `ring8`, what `gan-studio` opens on) collapses, as the README says
(issue 13). The 10-seed tables on 1 and 2 threads come from docs/bench/collapse.py; this test trains
the preset itself for the README's 3,000 steps on one seed, so that a change to the preset or the
training code that stops the demo from collapsing fails CI."""
from __future__ import annotations

import copy

import pytest
import torch

from gan_studio.core.families.registry import make_trainer
from gan_studio.core.presets import load_preset

COLLAPSE_STEPS = 3000


def collapsed(metrics: dict) -> bool:
    """The issue's definition: at most 4 strict modes of 8, or reverse KL above 0.5."""
    return metrics["modes_strict"] <= 4 or metrics["rkl"] > 0.5


def _train(tr, steps: int):
    """``steps`` steps on one thread (the README's tables; two threads: docs/bench/collapse/)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            tr.step()
    finally:
        torch.set_num_threads(threads)
    return tr


@pytest.fixture(scope="module")
def demo_at_3000():
    cfg = load_preset("ring8")
    cfg.set("train.seed", 0)
    return _train(make_trainer(cfg, device="cpu"), COLLAPSE_STEPS)


def test_default_demo_collapses_at_3000_steps(demo_at_3000):
    m = demo_at_3000.evaluate()
    assert collapsed(m), m
    assert m["hq"] > 30, m   # collapsed onto modes, not smeared over the plane


def test_collapse_definition():
    assert collapsed({"modes_strict": 4, "rkl": 0.1})
    assert collapsed({"modes_strict": 8, "rkl": 0.6})
    assert not collapsed({"modes_strict": 7, "rkl": 0.2})


def _continue(state_of, steps: int, switch: str | None):
    tr = make_trainer(state_of.cfg.copy(), device="cpu")
    tr.load_state_dict(copy.deepcopy(state_of.state_dict()))
    if switch:
        tr.apply_setting(switch, True)
    return _train(tr, steps).evaluate()


def test_packing_spreads_the_collapsed_demo_over_the_ring(demo_at_3000):
    """What the user sees on ticking packing (README: "watch it spread back over the ring"): within
    1,000 steps G's samples reach most modes again and the reverse KL falls far below the collapsed
    2.08 = log 8; the same 1,000 steps without the switch stay collapsed. (That the samples also
    settle on the modes, at least 7 strict modes in 3,000 steps, is the issue's target that the
    README reports as missed: HQ stays low.)"""
    before = demo_at_3000.evaluate()
    assert collapsed(before)
    packed = _continue(demo_at_3000, 1000, "tricks.packing.enabled")
    assert packed["modes"] >= 6 and packed["rkl"] < 1.0, packed
    control = _continue(demo_at_3000, 1000, None)
    assert collapsed(control) and control["rkl"] > packed["rkl"] + 0.5, control
