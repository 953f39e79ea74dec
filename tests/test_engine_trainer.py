"""The Trainer: reproducible, every loss trains, live changes apply between steps and are recorded."""
import math
import subprocess
import sys
import threading

import pytest
import torch

from gan_studio.core.config import Config
from gan_studio.core.errors import ConfigError
from gan_studio.core.training.run_loop import RunLoop
from gan_studio.core.training.trainer import DivergedError, Trainer


def tiny(**sets) -> Config:
    cfg = Config()
    for k, v in {"model.g_width": 16, "model.d_width": 16, "model.g_depth": 2, "model.d_depth": 2,
                 "train.batch_size": 32, "train.device": "cpu", **sets}.items():
        cfg.set(k, v)
    return cfg


def params(tr):
    return torch.cat([p.detach().flatten() for p in list(tr.G.parameters()) + list(tr.D.parameters())])


def test_core_imports_no_qt():
    code = ("import sys, importlib, pkgutil, gan_studio.core as c;"
            "[importlib.import_module(m.name)"
            " for m in pkgutil.walk_packages(c.__path__, 'gan_studio.core.')];"
            "bad=[m for m in sys.modules if m.split('.')[0] in ('PySide6','PyQt5','PyQt6','pyqtgraph','shiboken6')];"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_same_seed_same_run_on_cpu():
    a, b = Trainer(tiny()), Trainer(tiny())
    for _ in range(5):
        ma, mb = a.step().as_dict(), b.step().as_dict()
    assert ma == mb
    assert torch.equal(params(a), params(b))
    c = Trainer(tiny(**{"train.seed": 1}))
    c.step()
    assert not torch.equal(params(Trainer(tiny())), params(c))


@pytest.mark.parametrize("loss", ["minimax", "non-saturating", "least-squares", "hinge", "wgan", "wgan-gp"])
def test_every_loss_trains_and_reports_metrics(loss):
    tr = Trainer(tiny(loss=loss, **{"train.d_steps": 2}))
    before = params(tr)
    m = tr.step().as_dict()
    assert set(m) >= {"loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"}
    assert all(torch.isfinite(torch.tensor(v)) for v in m.values())
    assert not torch.equal(before, params(tr))
    if loss in ("minimax", "non-saturating"):
        assert 0 < m["d_real"] < 1 and 0 < m["d_fake"] < 1  # probabilities
    if loss == "wgan":
        assert max(p.abs().max().item() for p in tr.D.parameters()) <= 0.01 + 1e-7


def test_non_saturating_and_minimax_g_gradients_differ():
    a, b = Trainer(tiny(loss="minimax")), Trainer(tiny(loss="non-saturating"))
    ga, gb = a.step().as_dict()["grad_norm_g"], b.step().as_dict()["grad_norm_g"]
    assert ga != pytest.approx(gb)


def test_live_learning_rate_change_keeps_adam_state_and_is_recorded():
    tr = Trainer(tiny())
    seen = []
    tr.on_event.append(seen.append)
    tr.step()
    state_before = {k: v["exp_avg"].clone() for k, v in tr.opt_d.state_dict()["state"].items()}
    fut = tr.set("train.lr_d", "1e-4")
    assert tr.opt_d.param_groups[0]["lr"] == 1e-3  # not applied mid-way: only between steps
    tr.step()
    assert fut.result(timeout=1) == 1e-4
    assert tr.opt_d.param_groups[0]["lr"] == 1e-4 and tr.cfg.train.lr_d == 1e-4
    assert seen == [{"step": 1, "event": "set", "key": "train.lr_d", "value": 1e-4, "old": 1e-3}]
    assert set(tr.opt_d.state_dict()["state"]) == set(state_before)  # moments kept


def test_settings_that_need_a_new_model_are_refused_live():
    tr = Trainer(tiny())
    fut = tr.set("model.g_width", 64)
    tr.step()
    with pytest.raises(ConfigError, match="needs a new run"):
        fut.result(timeout=1)
    bad = tr.set("train.lr_g", -3)
    tr.step()
    with pytest.raises(ConfigError, match="out of range"):
        bad.result(timeout=1)
    assert tr.cfg.train.lr_g == 1e-3


def test_commands_from_another_thread_apply_at_step_boundaries():
    tr = Trainer(tiny())
    stop = threading.Event()
    applied_at = []

    def worker():
        while not stop.is_set():
            tr.step()

    t = threading.Thread(target=worker)
    t.start()
    try:
        futs = [tr.call(lambda tr: applied_at.append(tr.step_count)) for _ in range(5)]
        for f in futs:
            f.result(timeout=10)
    finally:
        stop.set()
        t.join(5)
    assert len(applied_at) == 5 and applied_at == sorted(applied_at)


def test_nan_rolls_back_and_raises_a_clear_error():
    cfg = tiny(**{"train.log_every": 2, "train.eval_every": 4})
    tr = Trainer(cfg)
    loop = RunLoop(tr)
    loop.advance()
    loop.advance()  # logged at step 2: last good state
    good = params(tr).clone()

    def poison(tr):
        with torch.no_grad():
            next(tr.D.parameters()).fill_(float("nan"))
    tr.call(poison)
    loop.advance()
    with pytest.raises(DivergedError, match="diverged at step 4.*rolled back to step 2"):
        loop.advance()
    assert tr.step_count == 2 and torch.equal(params(tr), good)
    assert tr.events[-1]["event"] == "diverged"
    loop.advance()  # the run stays usable
    assert tr.step_count == 3


def test_step_never_reads_a_value_back_from_the_device():
    """On a GPU a host read (.item(), float(), bool(), .tolist()) is a sync point. Every such read goes
    through aten::_local_scalar_dense (or a copy to the CPU), so catching it on the CPU proves step()
    would not sync on a GPU."""
    from torch.utils._python_dispatch import TorchDispatchMode

    reads = []

    class CatchHostReads(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func is torch.ops.aten._local_scalar_dense.default:
                reads.append(str(func))
            return func(*args, **(kwargs or {}))

    with CatchHostReads():  # the probe itself sees a host read
        torch.ones(2).sum().item()
    assert reads
    reads.clear()
    for loss in ("non-saturating", "wgan-gp", "wgan"):
        tr = Trainer(tiny(loss=loss))
        tr.step()
        with CatchHostReads():
            for _ in range(3):
                m = tr.step()
        assert reads == [], (loss, reads)
    assert m.as_dict()["step"] == 4  # reading the metrics afterwards is the one deliberate sync


def test_lr_decay_schedule_moves_both_rates_and_keeps_adam_state():
    from gan_studio.core.config import Config
    from gan_studio.core.training.trainer import Trainer
    cfg = Config()
    cfg.set("model.g_width", 8)
    cfg.set("model.d_width", 8)
    cfg.set("train.batch_size", 16)
    cfg.set("train.lr_d", 1e-3)
    cfg.set("train.lr_g", 2e-3)
    cfg.set("train.lr_decay_start", 2)
    cfg.set("train.lr_decay_steps", 4)
    cfg.set("train.lr_decay_final", 0.5)
    tr = Trainer(cfg, device="cpu")
    lrs = []
    for _ in range(8):
        tr.step()
        lrs.append((tr.opt_d.param_groups[0]["lr"], tr.opt_g.param_groups[0]["lr"]))
    # the rates in force during steps 1..8: constant to step 2, linear to half by step 6, then flat
    factors = [d / 1e-3 for d, _ in lrs]
    assert factors == pytest.approx([1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.5, 0.5])
    assert all(g == pytest.approx(2 * d) for d, g in lrs)
    assert len(tr.opt_d.state) > 0  # the moments survived the changes


def test_data_scale_is_a_change_of_units_for_the_networks():
    """G(z) with data_scale s equals s times the unscaled G(z); D(x) equals the unscaled D(x / s)."""
    from gan_studio.core.config import Config
    from gan_studio.core.training.trainer import Trainer
    cfgs = []
    for scale in (1.0, 4.0):
        cfg = Config()
        cfg.set("data.name", "grid25")
        cfg.set("model.data_scale", scale)
        cfgs.append(Trainer(cfg, device="cpu"))
    plain, scaled = cfgs
    z = torch.randn(5, plain.cfg.model.latent_dim)
    x = torch.randn(6, 2) * 4
    with torch.no_grad():
        assert torch.allclose(scaled.G(z), 4.0 * plain.G(z), atol=1e-5)   # same init (same seed)
        assert torch.allclose(scaled.D(x), plain.D(x / 4.0), atol=1e-5)


def test_uniform_latent_prior_is_the_normal_cdf_of_the_drawn_latent():
    """model.latent_prior = uniform: G's layers see 2 Phi(z) - 1, uniform on (-1, 1), on the fused
    and the module path alike, and the same latents drawn as with the normal prior."""
    uni, plain = (Trainer(tiny(**{"data.name": "grid25", "model.latent_prior": p}), device="cpu")
                  for p in ("uniform", "normal"))
    z = torch.randn(4096, plain.cfg.model.latent_dim, generator=torch.Generator().manual_seed(3))
    u = uni.G.prior(z)
    assert float(u.abs().max()) < 1.0
    for q in (0.1, 0.5, 0.9):   # its quantiles are those of U(-1, 1)
        assert float(torch.quantile(u.flatten(), q)) == pytest.approx(2 * q - 1, abs=0.03)
    with torch.no_grad():
        assert torch.allclose(uni.G(z), plain.G(u), atol=1e-6)   # same init: only the input differs
        uni.G.fused = False
        assert torch.allclose(uni.G(z), plain.G(u), atol=1e-6)
    assert torch.equal(uni.sample_z(8), plain.sample_z(8))   # the drawn latents do not change
    assert all(map(math.isfinite, uni.step().as_dict().values()))


def test_uniform_latent_prior_refused_where_g_has_no_place_for_it():
    cfg = tiny(**{"data.name": "shapes", "model.arch": "dcgan"})
    with pytest.raises(ConfigError, match="latent_prior"):
        cfg.set("model.latent_prior", "uniform")
        cfg.validate()
    with pytest.raises(ConfigError):
        tiny().set("model.latent_prior", "cauchy")
