"""Mixed precision (train.amp) and channels-last (train.channels_last) on the CPU: the settings
resolve by device, bf16 autocast really lowers the forward passes and still trains, fp16 trains
with its gradient scaler, channels-last gives the same numbers, and runs resume exactly."""
from __future__ import annotations

import pytest
import torch

from gan_studio.core.config import Config
from gan_studio.core.errors import ConfigError
from gan_studio.core.families.registry import make_trainer
from gan_studio.core.family_spec import needs_reset
from gan_studio.core.presets import load_preset
from gan_studio.core.runs import RunFolder, trainer_from_run
from gan_studio.core.training.precision import Precision, resolve_amp, resolve_channels_last
from gan_studio.core.training.trainer import Trainer


def ring(**sets) -> Config:
    cfg = Config()
    for k, v in {"data.name": "ring8", "train.batch_size": 32, "model.g_width": 16, "model.d_width": 16,
                 "train.device": "cpu", **sets}.items():
        cfg.set(k, v)
    return cfg


def dcgan(**sets) -> Config:
    cfg = load_preset("digits")   # DCGAN on 16 px digits
    for k, v in {"model.ngf": 8, "model.ndf": 8, "train.batch_size": 16, "train.device": "cpu", **sets}.items():
        cfg.set(k, v)
    return cfg


def _output_dtypes(tr: Trainer) -> set:
    seen = set()
    hooks = [net.register_forward_hook(lambda m, i, o: seen.add(o.dtype)) for net in (tr.G, tr.D)]
    tr.step()
    for h in hooks:
        h.remove()
    return seen


# -- the settings ------------------------------------------------------------------------------------
def test_the_keys_take_their_values_and_name_themselves_when_wrong():
    cfg = Config()
    assert cfg.train.amp == "auto" and cfg.train.channels_last == "auto"
    with pytest.raises(ConfigError, match="train.amp"):
        cfg.set("train.amp", "fp8")
        cfg.validate()
    assert needs_reset("train.amp") and needs_reset("train.channels_last")


def test_auto_is_off_on_the_cpu_and_on_for_convolutional_nets_on_cuda(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_amp("auto", cpu, True) == "off" and not resolve_channels_last("auto", cpu, True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_amp("auto", cuda, True) == "bf16" and resolve_channels_last("auto", cuda, True)
    assert resolve_amp("auto", cuda, False) == "off" and not resolve_channels_last("auto", cuda, False)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_amp("auto", cuda, True) == "fp16"
    assert resolve_amp("bf16", cpu, False) == "bf16"          # asked for: given
    tr = Trainer(dcgan())
    assert tr.precision.mode == "off" and not tr.channels_last   # the CPU default


# -- bf16 -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [ring, dcgan], ids=["ring8-mlp", "dcgan"])
def test_bf16_autocast_lowers_the_forward_passes_and_trains(make):
    tr = Trainer(make(**{"train.amp": "bf16"}))
    before = [p.detach().clone() for p in (*tr.G.parameters(), *tr.D.parameters())]
    assert torch.bfloat16 in _output_dtypes(tr)                  # autocast was on
    for _ in range(3):
        m = tr.step().as_dict()
    assert all(v == v and abs(v) != float("inf") for v in m.values())
    after = list((*tr.G.parameters(), *tr.D.parameters()))
    assert all(p.dtype == torch.float32 for p in after)          # float32 weights: autocast only computes lower
    assert sum(not torch.equal(a, b) for a, b in zip(before, after)) == len(before)   # every tensor moved
    plain = Trainer(make())
    assert _output_dtypes(plain) == {torch.float32}


def test_bf16_unrolled_look_ahead_stays_float32():
    tr = Trainer(ring(**{"train.amp": "bf16", "tricks.unrolled.enabled": True, "tricks.unrolled.k": 2,
                         "model.d_activation": "relu"}))
    m = tr.step().as_dict()
    assert m["grad_norm_g"] > 0 and m["loss_g"] == m["loss_g"]


# -- fp16 ----------------------------------------------------------------------------------------------------
def test_fp16_on_the_cpu_trains_with_a_gradient_scaler():
    tr = Trainer(ring(**{"train.amp": "fp16"}))
    assert set(tr.precision.scalers) == {"d", "g"}
    before = tr.G.out.weight.detach().clone()
    for _ in range(3):
        m = tr.step().as_dict()
    assert m["loss_d"] == m["loss_d"] and not torch.equal(before, tr.G.out.weight)
    assert tr.precision.scalers["g"].get_scale() > 0


def test_an_overflowing_gradient_skips_the_update_and_lowers_the_scale():
    p = torch.nn.Parameter(torch.ones(3))
    from gan_studio.core.fast.adam import make_adam
    opt = make_adam([p], 1e-2, (0.5, 0.999), torch.device("cpu"))
    amp = Precision("fp16", torch.device("cpu"))
    amp.backward((p * torch.tensor([1.0, float("inf"), 1.0])).sum(), "d", opt)
    scale = amp.scalers["d"].get_scale()
    amp.step("d", opt)
    assert torch.equal(p.detach(), torch.ones(3))               # the lean fused Adam honoured found_inf
    assert amp.scalers["d"].get_scale() < scale


# -- channels-last --------------------------------------------------------------------------------------------
def test_channels_last_gives_the_same_numbers_in_another_memory_format():
    a, b = Trainer(dcgan(**{"train.channels_last": "on"})), Trainer(dcgan(**{"train.channels_last": "off"}))
    conv = next(m for m in a.D.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    for _ in range(3):
        ma, mb = a.step().as_dict(), b.step().as_dict()
    for k in ma:
        assert ma[k] == pytest.approx(mb[k], rel=1e-3, abs=1e-4), k
    mlp = Trainer(ring(**{"train.channels_last": "on"}))
    assert not mlp.channels_last                                  # nothing to lay out for an MLP


# -- a family with its own step -----------------------------------------------------------------------------
def test_a_family_with_its_own_step_refuses_amp_it_would_not_use():
    cfg = ring(**{"model.family": "cgan", "data.name": "digits", "data.image_size": 8, "train.amp": "bf16"})
    with pytest.raises(ConfigError, match="train.amp = 'bf16'"):
        make_trainer(cfg)
    cfg.set("train.amp", "auto")
    assert make_trainer(cfg).precision.mode == "off"


# -- exact resume ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_a_run_with_amp_resumes_exactly(amp, tmp_path):
    from tests.test_exact_resume import assert_same
    cfg = ring(**{"train.amp": amp, "tricks.unrolled.enabled": True, "tricks.unrolled.k": 2})
    straight = Trainer(cfg.copy())
    for _ in range(6):
        straight.step()
    first = Trainer(cfg.copy())
    for _ in range(3):
        first.step()
    run = RunFolder.create(tmp_path / "run", first.cfg)
    run.save_checkpoint(first)
    resumed, _ = trainer_from_run(tmp_path / "run")
    assert resumed.precision.mode == amp
    for _ in range(3):
        resumed.step()
    a, b = straight.state_dict(), resumed.state_dict()
    for key in ("G", "D", "opt_g", "opt_d", "rng", "step", "amp"):
        assert_same(a[key], b[key], key)



@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_an_amp_step_reads_nothing_back_from_the_device(amp):
    from tests.test_unrolled_fast import _host_reads
    tr = Trainer(ring(**{"train.amp": amp}))
    tr.step()
    assert _host_reads(lambda: [tr.step() for _ in range(2)]) == []
