"""tricks.g_ema: a moving average of G's weights for sampling and evaluation; training is untouched."""
from __future__ import annotations

import copy

import pytest
import torch
from torch.func import functional_call

from gan_studio.core.config import Config
from gan_studio.core.errors import ConfigError
from gan_studio.core.metrics.modes import mode_metrics
from gan_studio.core.runs import RunFolder, trainer_from_run
from gan_studio.core.training.run_loop import RunLoop
from gan_studio.core.training.trainer import Trainer


def tiny_cfg(ema: bool = True, decay: float = 0.9, **sets) -> Config:
    cfg = Config()
    for k, v in {"data.name": "ring8", "train.batch_size": 16, "model.latent_dim": 4, "model.g_width": 16,
                 "model.d_width": 16, "model.g_depth": 2, "model.d_depth": 2, "train.device": "cpu",
                 "tricks.g_ema.enabled": ema, "tricks.g_ema.decay": decay}.items():
        cfg.set(k, v)
    for k, v in sets.items():
        cfg.set(k.replace("__", "."), v)
    return cfg


def g_params(tr) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in tr.G.named_parameters()}


def z_batch(tr, n=64):
    return torch.randn(n, tr.cfg.model.latent_dim, generator=torch.Generator().manual_seed(5))


def test_average_follows_the_formula_step_by_step():
    tr = Trainer(tiny_cfg(decay=0.9))
    expected = g_params(tr)                      # the average starts at G's initial weights
    for _ in range(3):
        tr.step()
        live = g_params(tr)
        expected = {n: 0.9 * expected[n] + 0.1 * live[n] for n in expected}
        tr.generate(z_batch(tr, 2))              # folds the step in (the next step would too)
        for n, a in tr.tricks.g_ema.avg.items():
            torch.testing.assert_close(a, expected[n], rtol=0, atol=1e-6)
            assert not torch.equal(a, live[n])
    tr.step()                                    # folded before the next step without any sampling
    live = g_params(tr)
    tr.step()
    expected = {n: 0.9 * expected[n] + 0.1 * live[n] for n in expected}
    expected = {n: 0.9 * expected[n] + 0.1 * p for n, p in g_params(tr).items()}
    tr.tricks.g_ema.fold(tr)
    for n, a in tr.tricks.g_ema.avg.items():
        torch.testing.assert_close(a, expected[n], rtol=0, atol=1e-6)


def test_sampling_and_metrics_use_the_average_and_leave_the_live_weights_alone():
    tr = Trainer(tiny_cfg(decay=0.5))
    for _ in range(5):
        tr.step()
    live = g_params(tr)
    z = z_batch(tr)
    out = tr.generate(z)
    tr.tricks.g_ema.fold(tr)
    avg = tr.tricks.g_ema.avg
    with torch.no_grad():
        torch.testing.assert_close(out, functional_call(tr.G, {**avg, **dict(tr.G.named_buffers())}, (z,)))
        assert not torch.allclose(out, tr.G(z))
    for n, p in tr.G.named_parameters():        # the live weights are back, bit for bit
        assert torch.equal(p, live[n])
    # the metrics draw their 2,500 latents from eval_generator and measure the averaged G's samples
    m = tr.evaluate()
    zz = torch.randn(2500, tr.cfg.model.latent_dim, generator=tr.eval_generator())
    with torch.no_grad():
        ema_samples = functional_call(tr.G, {**avg, **dict(tr.G.named_buffers())}, (zz,))
    assert m == mode_metrics(ema_samples, tr.data.modes, tr.data.sigma)
    for n, p in tr.G.named_parameters():
        assert torch.equal(p, live[n])


def test_the_latent_lab_draws_with_the_average_too():
    """The latent lab's images come from the same G as the grid browser's: the average."""
    from gan_studio.core.latent import render_latents
    tr = Trainer(tiny_cfg(decay=0.5))
    for _ in range(5):
        tr.step()
    live = g_params(tr)
    z = z_batch(tr, 8)
    out = render_latents(tr, z.numpy())
    torch.testing.assert_close(out, tr.generate(z).cpu())
    with torch.no_grad():
        assert not torch.allclose(out, tr.G(z))
    for n, p in tr.G.named_parameters():
        assert torch.equal(p, live[n])


def test_turning_it_off_samples_the_live_g_and_on_again_continues_the_average():
    tr = Trainer(tiny_cfg(decay=0.8))
    for _ in range(3):
        tr.step()
    z = z_batch(tr)
    tr.apply_setting("tricks.g_ema.enabled", False)
    with torch.no_grad():
        assert torch.equal(tr.generate(z), tr.G(z))
    kept = {n: a.clone() for n, a in tr.tricks.g_ema.avg.items()}
    tr.step()
    tr.step()                                    # steps while off are not folded in
    tr.generate(z)
    assert all(torch.equal(kept[n], a) for n, a in tr.tricks.g_ema.avg.items())
    tr.apply_setting("tricks.g_ema.enabled", True)
    tr.step()
    tr.tricks.g_ema.fold(tr)
    for n, p in tr.G.named_parameters():
        torch.testing.assert_close(tr.tricks.g_ema.avg[n], 0.8 * kept[n] + 0.2 * p.detach(), rtol=0, atol=1e-6)


def test_a_new_decay_applies_from_the_next_step():
    tr = Trainer(tiny_cfg(decay=0.9))
    tr.step()
    before = {n: a.clone() for n, a in tr.tricks.g_ema.avg.items()}   # not yet folded
    w1 = g_params(tr)
    tr.apply_setting("tricks.g_ema.decay", 0.5)  # step 1 was taken under 0.9
    tr.step()
    w2 = g_params(tr)
    tr.tricks.g_ema.fold(tr)
    for n, a in tr.tricks.g_ema.avg.items():
        e = 0.5 * (0.9 * before[n] + 0.1 * w1[n]) + 0.5 * w2[n]
        torch.testing.assert_close(a, e, rtol=0, atol=1e-6)


def test_training_itself_is_unchanged():
    on, off = Trainer(tiny_cfg(ema=True)), Trainer(tiny_cfg(ema=False))
    for _ in range(4):
        on.generate(z_batch(on))
        assert on.step().as_dict() == off.step().as_dict()
    for (n, p), q in zip(on.G.named_parameters(), off.G.parameters()):
        assert torch.equal(p, q), n


def test_switched_on_mid_run_it_starts_from_the_current_weights():
    tr = Trainer(tiny_cfg(ema=False))
    tr.step()
    tr.step()
    tr.apply_setting("tricks.g_ema.enabled", True)
    w = g_params(tr)
    assert all(torch.equal(w[n], a) for n, a in tr.tricks.g_ema.avg.items())
    assert tr.events[-1]["key"] == "tricks.g_ema.enabled"


def test_resume_is_exact(tmp_path):
    def cfg():
        return tiny_cfg(decay=0.95, **{"train.log_every": 5, "train.eval_every": 10,
                                      "train.checkpoint_every": 7, "train.snapshot_every": 1000})

    straight = Trainer(cfg())
    for _ in range(30):
        straight.step()
    tr = Trainer(cfg())
    loop = RunLoop(tr, RunFolder.create(tmp_path / "r", tr.cfg))
    for _ in range(16):
        loop.advance()                           # checkpoint at step 14, with step 14 not yet folded in
    resumed, _ = trainer_from_run(tmp_path / "r")
    assert resumed.step_count == 14
    for _ in range(16):
        resumed.step()
    z = z_batch(straight)
    assert torch.equal(resumed.generate(z), straight.generate(z))
    for n, a in straight.tricks.g_ema.avg.items():
        assert torch.equal(resumed.tricks.g_ema.avg[n], a)
    assert resumed.evaluate() == straight.evaluate()


def test_state_round_trips_through_a_state_dict_copy():
    tr = Trainer(tiny_cfg())
    for _ in range(3):
        tr.step()
    again = Trainer(Config.from_dict(tr.cfg.to_dict()))
    again.load_state_dict(copy.deepcopy(tr.state_dict()))
    for _ in range(2):
        assert again.step().as_dict() == tr.step().as_dict()
    z = z_batch(tr)
    assert torch.equal(again.generate(z), tr.generate(z))


def test_other_model_families_are_refused_in_one_line():
    """The families' declarations refuse it (core/family_spec.py), in the config, before any Trainer."""
    import gan_studio.core.families  # noqa: F401  (registers cgan)
    cfg = tiny_cfg()
    cfg.set("model.family", "cgan")
    with pytest.raises(ConfigError, match="tricks.g_ema.enabled = true is not available with model.family = 'cgan'"):
        cfg.validate()


def test_decay_is_validated():
    tr = Trainer(tiny_cfg())
    with pytest.raises(ConfigError, match="tricks.g_ema.decay"):
        tr.apply_setting("tricks.g_ema.decay", 1.0)
