"""LAPGAN: the pyramid reconstructs exactly, a trained level adds detail its D can judge, exact resume."""
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from gan_studio.cli import main
from gan_studio.core.config import Config
from gan_studio.core.data.images import make_shapes
from gan_studio.core.errors import ConfigError
from gan_studio.core.families.lapgan import laplacian_pyramid, reconstruct, up
from gan_studio.core.families.registry import make_trainer
from gan_studio.core.render import render_snapshot_png
from resume_helper import assert_resumes_exactly


def tiny_cfg(**over) -> Config:
    d = {"data": {"name": "shapes", "image_size": 16, "num_images": 1000},
         "model": {"family": "lapgan", "latent_dim": 16, "ngf": 8, "ndf": 8},
         "lapgan": {"base_size": 8},
         "train": {"batch_size": 32, "lr_g": 1e-3, "lr_d": 1e-3, "device": "cpu"}}
    cfg = Config.from_dict(d)
    for k, v in over.items():
        cfg.set(k.replace("__", "."), v)
    return cfg


def test_the_pyramid_reconstructs_the_image_exactly_and_each_level_holds_detail():
    x = make_shapes(16, 32).images
    images, residuals = laplacian_pyramid(x, 3)
    assert [im.shape[-1] for im in images] == [8, 16, 32]
    assert torch.allclose(reconstruct(images[0], residuals), x, atol=1e-6)
    # the coarse image alone, blown up, misses the edges the residuals put back
    assert float((up(up(images[0])) - x).abs().mean()) > 0.01
    assert all(float(h.abs().mean()) > 0.005 for h in residuals[1:])


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    # the easy setup: D learns 30x faster than G, so it stays ahead (0.66 to 0.98 AUC for seeds 0, 1, 2)
    tr = make_trainer(tiny_cfg(train__lr_g=1e-4, train__lr_d=3e-3))
    for _ in range(40):
        tr.step()
    return tr


def test_a_trained_level_draws_a_residual_and_its_D_tells_real_from_fake(trained):
    tr = trained
    stats = tr.level_stats(200)
    # G_1 draws residual detail of the real residuals' order of magnitude, not nothing
    assert stats["lap1_res_fake"] > 0.25 * stats["lap1_res_real"] > 0
    assert stats["lap1_d_auc"] > 0.6, stats        # D_1 ranks real residuals above G_1's; chance is 0.5
    assert stats["lap1_d_acc"] > 0.55, stats       # and puts them on the right side of its threshold
    z = torch.randn(16, 16, generator=torch.Generator().manual_seed(3))
    coarse, fine = tr.render_levels(z)
    assert coarse.shape[-1] == 8 and fine.shape[-1] == 16
    (h1,) = tr.render_residuals(z)
    assert torch.allclose(fine, (up(coarse) + h1).clamp(-1, 1))          # sampling composes the levels
    assert float((fine - up(coarse).clamp(-1, 1)).abs().mean()) > 1e-3   # and level 1 changed the picture


def test_the_grid_shows_the_final_image_and_the_level_strip_every_level(trained):
    tr = trained
    assert torch.allclose(tr.generate(tr.fixed_z)[:8], tr.render_levels(tr.fixed_z[:8])[-1], atol=1e-5)
    img = np.asarray(Image.open(io.BytesIO(render_snapshot_png(tr))))
    assert img.shape[0] == 8 * (16 + 2) + 2                              # 64 final 16 px images
    tiles, ncols, titles = tr.level_grid(tr.fixed_z[:2])
    assert ncols == 3 and tiles.shape == (6, 3, 16, 16) and titles[1].startswith("residual 1")


def test_checkpoint_resume_continues_exactly():
    assert_resumes_exactly(lambda: make_trainer(tiny_cfg(train__batch_size=8)))


def test_settings_it_cannot_honour_are_refused_by_name():
    with pytest.raises(ConfigError, match=r"lapgan.base_size = 16 must be smaller than data.image_size = 16"):
        make_trainer(tiny_cfg(lapgan__base_size=16))
    with pytest.raises(ConfigError, match=r"loss = 'wgan-gp' does not fit model.family = 'lapgan'"):
        make_trainer(tiny_cfg(loss="wgan-gp"))
    with pytest.raises(ConfigError, match="needs an image data set"):
        make_trainer(tiny_cfg(data__name="ring8"))


def test_cli_trains_the_preset_logs_level_stats_and_resumes(tmp_path, monkeypatch):
    import gan_studio.core.metrics.images as im
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(im, "CLASSIFIER_STEPS", 20)  # a rough metric classifier is enough here
    monkeypatch.setattr(im, "_models", {})
    out = tmp_path / "run"
    tiny = ["--set", "model.ngf=4", "--set", "model.ndf=4", "--set", "train.batch_size=8",
            "--set", "data.num_images=600", "--set", "data.image_size=16", "--set", "lapgan.base_size=4",
            "--device", "cpu", "--quiet", "--set", "train.snapshot_every=2"]
    assert main(["train", "lapgan-shapes", "--steps", "2", "--out", str(out)] + tiny) == 0
    rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"lap0_d_acc", "lap1_res_fake", "lap2_d_acc", "fd_classifier"} <= set(rows[-1])
    snap = np.asarray(Image.open(out / "snapshots" / "step_00000002.png"))
    assert snap.shape[0] == 8 * (16 + 2) + 2  # the final 16 px images
    assert main(["train", "--resume", str(out), "--steps", "1", "--device", "cpu", "--quiet"]) == 0
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 3


def test_an_image_D_judges_the_coarse_image_plus_the_residual_next_to_the_coarse_image():
    from gan_studio.core.families.lapgan import LevelDiscriminator
    torch.manual_seed(0)
    img = LevelDiscriminator(8, 3, 16, conditional=True, sees="image")
    res = LevelDiscriminator(8, 3, 16, conditional=True, sees="residual")
    res.load_state_dict(img.state_dict())
    h, c = 0.1 * torch.randn(4, 3, 16, 16), torch.rand(4, 3, 16, 16) * 2 - 1
    # Denton et al.: the low-pass image is added to the residual before D's first layer
    assert torch.allclose(img(h, c), res(c + h, c), atol=1e-6)
    assert not torch.allclose(img(h, c), res(h, c))


def test_level_widths_can_set_level_0_apart_from_the_finer_levels():
    from gan_studio.core.families.lapgan import level_widths
    assert level_widths(16, 3) == [64, 32, 16]
    assert level_widths(16, 3, 32) == [32, 32, 16]
    tr = make_trainer(tiny_cfg(model__ndf=16, lapgan__ndf0=8, model__ngf=8, lapgan__ngf0=4,
                               lapgan__d_input="image"))
    assert [d.body[0].out_channels for d in tr.D] == [8, 16]
    assert tr.G.levels[0].ch == 2 * 4 and tr.G.levels[1].main[0].out_channels == 8
    assert all(d.sees == "image" for d in tr.D)


def test_the_preset_judges_images_with_wider_fine_level_Ds():
    from gan_studio.core.presets import load_preset
    cfg = load_preset("lapgan-shapes")
    assert cfg.lapgan.d_input == "image" and cfg.model.ndf == 16 and cfg.lapgan.ndf0 == 32
    assert cfg.lapgan.base_steps == 4


def test_level_stats_leave_the_generators_batch_norm_statistics_as_they_are(trained):
    before = {k: v.clone() for k, v in trained.G.state_dict().items()}
    trained.level_stats(100)
    assert trained.G.training
    assert all(torch.equal(v, trained.G.state_dict()[k]) for k, v in before.items())


def test_checkpoint_resume_continues_exactly_with_image_Ds():
    over = dict(train__batch_size=8, lapgan__d_input="image", lapgan__ndf0=4)
    assert_resumes_exactly(lambda: make_trainer(tiny_cfg(**over)), nets=("G", "D"))


def _bench():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_lapgan.py"
    spec = importlib.util.spec_from_file_location("bench_lapgan", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_bench_table_gives_each_seed_with_its_spread_and_the_mean_over_seeds():
    b = _bench()
    assert b.parse_seeds("0-2") == [0, 1, 2] and b.parse_seeds("10,12") == [10, 12]
    row = {"step": 2000, "lap0_d_auc": 0.6, "lap1_d_auc": 0.55, "lap2_d_auc": 0.5}
    results = [{"seed": s, "sizes": [8, 16, 32], "rows": [row],
                "fd_sets": [[1000.0 + 10 * k, 900.0, 700.0 + 10 * k + s] for k in range(3)]} for s in (0, 1)]
    table = b.level_table(results, [1400.0, 800.0, 14.0])
    assert table[2].startswith("| 0 | 1010 ± 10 | 900 ± 0 | 710 ± 10 | 29.7 ± 0.3 % | 0.600 | 0.550 | 0.500 |")
    assert table[4].startswith("| mean ± sd over 2 seeds | 1010 ± 0 | 900 ± 0 | 710 ± 1 |")
    assert table[5].startswith("| real images (their pyramid) | 1400 | 800 | 14 | 99.0 % |")
    # a run that samples from G's average also gives D_l's AUC on the live G, per seed and in the mean
    live = {**row, "lap0_d_auc_live": 0.7, "lap1_d_auc_live": 0.52, "lap2_d_auc_live": 0.54}
    table = b.level_table([{**r, "rows": [live]} for r in results], [1400.0, 800.0, 14.0])
    assert table[2].endswith("| 0.600 (live 0.700) | 0.550 (live 0.520) | 0.500 (live 0.540) |")
    assert table[4].endswith("| 0.550 ± 0.000 (live 0.520 ± 0.000) | 0.500 ± 0.000 (live 0.540 ± 0.000) |")


def test_the_bench_gives_the_drop_as_each_classifier_measures_it(monkeypatch):
    b = _bench()
    monkeypatch.setattr(b, "fd_real_levels", lambda data, L, classifier=0: [1000.0 + classifier, 500.0, 10.0])
    results = [{"seed": s, "sizes": [8, 16, 32],
                "fd_sets": [[1000.0, 900.0, 700.0], [1000.0, 900.0, 800.0]],          # drops 30, 20: 25 ± 7.1
                "fd_sets_by_classifier": {"1": [[1000.0, 900.0, 1200.0 + 100 * s]] * 2}} for s in (0, 1)]
    table = b.classifier_table(results, [0, 1], None, 3)
    assert "| 0 | 25.0 ± 7.1 % | -20.0 ± 0.0 % | 2.5 % |" in table
    assert "| 1 | 25.0 ± 7.1 % | -30.0 ± 0.0 % | -2.5 % |" in table
    assert "| mean over seeds | 25.0 % | -25.0 % | 0.0 % |" in table
    assert table[-1].startswith("| real images (their pyramid): fd level 0 / final | 1000 / 10 | 1001 / 10 |")
    # a run without the other classifiers' sets (an earlier cache) gives no table rather than a wrong one
    assert b.classifier_table([{k: v for k, v in results[0].items() if k != "fd_sets_by_classifier"}],
                              [0, 1], None, 3) == []


def test_extra_level_0_updates_move_level_0_alone():
    """lapgan.base_steps: the extra updates train level 0's G and D and leave every finer level
    (its weights and its Adam moments) as it was."""
    from gan_studio.core.training import losses
    tr = make_trainer(tiny_cfg(lapgan__base_steps=3, train__batch_size=8))
    tr.step()
    g0 = {n: p.detach().clone() for n, p in tr.G.named_parameters()}
    d0 = {n: p.detach().clone() for n, p in tr.D.named_parameters()}
    moments = {id(p): s["exp_avg"].clone() for p, s in tr.opt_g.state.items()}
    tr._base_update(8, losses.D_LOSS[tr.cfg.loss], losses.G_LOSS[tr.cfg.loss],
                    tr.tricks.label_smoothing.targets(tr))
    g_moved = {n.split(".")[1] for n, p in tr.G.named_parameters() if not torch.equal(p, g0[n])}
    d_moved = {n.split(".")[0] for n, p in tr.D.named_parameters() if not torch.equal(p, d0[n])}
    assert g_moved == {"0"} and d_moved == {"0"}
    for n, p in tr.G.levels[1].named_parameters():
        if id(p) in moments:
            assert torch.equal(tr.opt_g.state[p]["exp_avg"], moments[id(p)]), n


def test_checkpoint_resume_continues_exactly_with_extra_level_0_updates():
    over = dict(train__batch_size=8, lapgan__base_steps=2)
    assert_resumes_exactly(lambda: make_trainer(tiny_cfg(**over)), nets=("G", "D"))


def test_extra_level_0_updates_out_of_range_are_refused():
    with pytest.raises(ConfigError, match="base_steps"):
        make_trainer(tiny_cfg(lapgan__base_steps=0))


def test_r1_penalises_the_finer_Ds_slope_at_real_inputs_and_leaves_level_0_alone():
    """lapgan.r1: gamma/2 E|grad_h D_l(h, coarse)|^2 on real residuals, finer levels only. From the same
    state and draws, one step with it moves level 0's D exactly as without and the finer Ds otherwise;
    over a few steps the finer Ds get flatter at real inputs than without it."""
    def d_slope(tr, level):
        images, residuals = laplacian_pyramid(tr.data.sample(64, torch.Generator().manual_seed(5)), tr.num_levels)
        h = residuals[level].clone().requires_grad_(True)
        grad, = torch.autograd.grad(tr.D[level](h, up(images[level - 1])).sum(), h)
        return float(grad.pow(2).flatten(1).sum(1).mean())

    plain, r1 = (make_trainer(tiny_cfg(train__batch_size=8, lapgan__r1=g)) for g in (0.0, 100.0))
    plain.step(), r1.step()
    same = {n: torch.equal(p, q) for (n, p), (_, q) in zip(plain.D.named_parameters(), r1.D.named_parameters())}
    assert all(v for n, v in same.items() if n.startswith("0."))
    for level in range(1, r1.num_levels):   # (Adam's first step is lr x sign, so some tensors match)
        assert not all(v for n, v in same.items() if n.startswith(f"{level}."))
    assert r1.step().is_finite()
    for _ in range(20):
        plain.step(), r1.step()
    assert d_slope(r1, 1) < 0.5 * d_slope(plain, 1)


def test_checkpoint_resume_continues_exactly_with_r1():
    assert_resumes_exactly(lambda: make_trainer(tiny_cfg(train__batch_size=8, lapgan__r1=1.0)), nets=("G", "D"))


def test_g_ema_averages_every_level_for_sampling_and_never_changes_training():
    """tricks.g_ema on LAPGAN: training is the same step for step; pictures, the level strip and the
    level statistics come from the moving average of every level's G, and G's live weights and batch
    norm statistics are back after each."""
    plain, avg = (make_trainer(tiny_cfg(train__batch_size=8, tricks__g_ema__enabled=on,
                                        tricks__g_ema__decay=0.9)) for on in (False, True))
    for _ in range(6):
        plain.step(), avg.step()
    for (n, p), (_, q) in zip(plain.G.named_parameters(), avg.G.named_parameters()):
        assert torch.equal(p, q), n                       # the trick never changes a step
    z = torch.randn(4, 16, generator=torch.Generator().manual_seed(0))
    live = {n: p.detach().clone() for n, p in avg.G.named_parameters()}
    buffers = [b.clone() for b in avg.G.buffers()]
    pictures, strip = avg.generate(z), avg.render_levels(z)
    assert not torch.equal(pictures, plain.generate(z))  # drawn by the average, not by the live G
    assert torch.equal(strip[-1], pictures)
    stats = avg.level_stats(64, sampling=True)
    assert stats["lap1_res_fake"] != plain.level_stats(64, sampling=True)["lap1_res_fake"]
    # asked for the live G (the one D_l plays against), the statistics are the plain run's
    assert avg.level_stats(64, sampling=True, live=True) == plain.level_stats(64, sampling=True)
    with avg.tricks.g_ema.averaged(avg):                  # = the live weights swapped for the average
        by_hand = avg.G.eval().compose(z)[0][-1]
        avg.G.train()
    assert torch.equal(by_hand, pictures)
    for n, p in avg.G.named_parameters():
        assert torch.equal(p, live[n]), n
    for b, kept in zip(avg.G.buffers(), buffers):
        assert torch.equal(b, kept)


def test_checkpoint_resume_continues_exactly_with_g_ema():
    assert_resumes_exactly(lambda: make_trainer(tiny_cfg(train__batch_size=8, tricks__g_ema__enabled=True)),
                           nets=("G", "D"))


def test_a_fixed_noise_plane_is_not_trained_and_resumes_as_it_was(tmp_path):
    """lapgan.noise_plane = "fixed": the finer levels get z through a random projection that training
    never changes (unit variance per pixel), kept in the checkpoint; "learned" trains it."""
    tr = make_trainer(tiny_cfg(lapgan__noise_plane="fixed"))
    plane = tr.G.levels[1].noise
    before = plane.weight.detach().clone()
    assert not plane.weight.requires_grad
    assert abs(float(before.std()) - 16 ** -0.5) < 0.03            # z of 16: N(0, 1/16) per weight
    z = torch.randn(4096, 16)
    assert abs(float(plane(z).std()) - 1.0) < 0.1                     # about N(0, 1) per pixel
    for _ in range(3):
        tr.step()
    assert torch.equal(plane.weight, before)
    again = make_trainer(tiny_cfg(lapgan__noise_plane="fixed", train__seed=5))
    again.load_state_dict(tr.state_dict())
    assert torch.equal(again.G.levels[1].noise.weight, before)
    learned = make_trainer(tiny_cfg())
    w0 = learned.G.levels[1].noise.weight.detach().clone()
    for _ in range(3):
        learned.step()
    assert not torch.equal(learned.G.levels[1].noise.weight, w0)


def test_no_noise_plane_makes_a_finer_level_a_function_of_the_coarser_image():
    tr = make_trainer(tiny_cfg(lapgan__noise_plane="none"))
    tr.step()
    level = tr.G.levels[1].eval()
    assert not level.noise.weight.requires_grad and float(level.noise.weight.abs().max()) == 0.0
    coarse = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        a, b = level(torch.randn(2, 16), coarse), level(torch.randn(2, 16), coarse)
    assert torch.equal(a, b)                       # z does not reach the residual
