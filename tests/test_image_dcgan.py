"""DCGAN networks, image training through the Trainer and the CLI, presets."""
import json

import pytest
import torch
from PIL import Image
from torch import nn

from gan_studio.cli import main
from gan_studio.core.config import Config
from gan_studio.core.errors import ConfigError
from gan_studio.core.metrics import images as im
from gan_studio.core.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_studio.core.presets import load_preset, preset_descriptions
from gan_studio.core.training.trainer import Trainer


@pytest.mark.parametrize("size", [16, 32, 64])
@pytest.mark.parametrize("nc", [1, 3])
def test_dcgan_shapes(size, nc):
    G, D = DCGANGenerator(12, 4, nc, size), DCGANDiscriminator(4, nc, size)
    x = G(torch.randn(5, 12))
    assert x.shape == (5, nc, size, size) and x.abs().max() <= 1
    assert torch.equal(G(torch.ones(3, 12)), G(torch.ones(3, 12, 1, 1)))  # (N, nz) or (N, nz, 1, 1)
    assert D(x).shape == (5,)
    f = D.features(x)
    assert f.shape == (5, D.feature_dim)
    torch.testing.assert_close(D.head(f).squeeze(1), D(x))
    convs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(convs) == {16: 3, 32: 4, 64: 5}[size]  # every stage doubles the side from 4x4


@pytest.mark.parametrize("size", [16, 32, 64])
def test_resize_generator_doubles_by_upsampling_then_convolving(size):
    G = DCGANGenerator(12, 4, 3, size, upsample="resize")
    x = G(torch.randn(5, 12))
    assert x.shape == (5, 3, size, size) and x.abs().max() <= 1
    # only the 1x1 -> 4x4 layer stays transposed; every doubling is nearest up-sampling + a 3x3 conv
    assert [type(m) for m in G.modules() if isinstance(m, nn.ConvTranspose2d)] == [nn.ConvTranspose2d]
    ups = [m for m in G.modules() if isinstance(m, nn.Upsample)]
    convs = [m for m in G.modules() if isinstance(m, nn.Conv2d) and not isinstance(m, nn.ConvTranspose2d)]
    assert len(ups) == len(convs) == {16: 2, 32: 3, 64: 4}[size]
    assert all(c.kernel_size == (3, 3) and c.stride == (1, 1) for c in convs)


def test_resize_doubling_has_no_checkerboard_where_transposed_has_one():
    """Odena et al.'s point, on the layer itself: a flat map through any kernel. A 4x4 stride-2
    transposed convolution builds each of the four pixel parities from a different quarter of its
    kernel, so a flat input comes out as a period-2 checkerboard unless the four quarters happen to
    sum alike; up-sampling then a 3x3 convolution gives every interior pixel the same sum."""
    from gan_studio.core.nets.dcgan import _doubling
    torch.manual_seed(0)
    flat = torch.ones(1, 2, 6, 6)
    out = {}
    for kind in ("transpose", "resize"):
        layers = nn.Sequential(*_doubling(2, 1, kind))       # a random (DCGAN-initialised-like) kernel
        with torch.no_grad():
            out[kind] = layers(flat)[0, 0, 2:-2, 2:-2]       # the interior, away from the zero padding
    t, r = out["transpose"], out["resize"]
    assert t.shape == r.shape == (8, 8)
    torch.testing.assert_close(t[0::2, 0::2], t[0, 0].expand(4, 4))  # period 2: four phases ...
    assert (t[0::2, 0::2][0, 0] - t[1::2, 1::2][0, 0]).abs() > 1e-3   # ... that differ: the checkerboard
    torch.testing.assert_close(r, r[0, 0].expand(8, 8))              # flat


def test_g_upsample_is_a_checked_setting_and_trains():
    cfg = _tiny("shapes")
    cfg.set("model.g_upsample", "resize")
    tr = Trainer(cfg)
    assert any(isinstance(m, nn.Upsample) for m in tr.G.modules())
    m = tr.step()
    assert torch.isfinite(m.values).all()
    with pytest.raises(ConfigError, match="g_upsample"):
        Config().set("model.g_upsample", "bilinear")
    with pytest.raises(ConfigError, match="g_upsample"):
        DCGANGenerator(12, 4, 3, 16, upsample="bilinear")


def test_64px_generator_has_the_pytorch_examples_layout():
    sd = DCGANGenerator(100, 64, 3, 64).state_dict()
    convs = {k: tuple(v.shape) for k, v in sd.items() if v.ndim == 4}
    assert convs == {"main.0.weight": (100, 512, 4, 4), "main.3.weight": (512, 256, 4, 4),
                     "main.6.weight": (256, 128, 4, 4), "main.9.weight": (128, 64, 4, 4),
                     "main.12.weight": (64, 3, 4, 4)}
    assert "main.10.running_var" in sd and not any(k.startswith("main.12.b") for k in sd)


def test_dcgan_init_follows_the_paper():
    G = DCGANGenerator(100, 64, 3, 64)
    w = G.main[3].weight
    assert abs(w.std().item() - 0.02) < 0.002 and abs(w.mean().item()) < 0.002
    assert abs(G.main[1].weight.mean().item() - 1) < 0.01


def test_dcgan_needs_images_and_a_supported_size():
    cfg = Config()
    cfg.set("model.arch", "dcgan")
    with pytest.raises(ConfigError, match="image data set"):
        Trainer(cfg)
    cfg.set("data.name", "digits")
    cfg.set("data.image_size", 8)
    with pytest.raises(ConfigError, match="mlp"):
        Trainer(cfg)


def _tiny(name="digits", **kv):
    cfg = load_preset(name)
    cfg.set("model.ngf", 8)
    cfg.set("model.ndf", 8)
    cfg.set("train.device", "cpu")
    for k, v in kv.items():
        cfg.set(k.replace("__", "."), v)
    return cfg


def test_dcgan_training_moves_samples_towards_the_data():
    tr = Trainer(_tiny(train__batch_size=32, train__lr_g=1e-3, train__lr_d=1e-3))
    real_mean = tr.data.images.mean(0)  # the average digit: a bright blob on black
    z = torch.randn(256, tr.cfg.model.latent_dim, generator=torch.Generator().manual_seed(0))

    def distance():
        return (tr.generate(z).mean(0) - real_mean).pow(2).mean().sqrt().item()

    before = distance()
    for _ in range(60):
        tr.step()
    assert distance() < 0.85 * before


def test_cli_trains_digits_with_grids_and_image_metrics(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(im, "CLASSIFIER_STEPS", 30)
    out = tmp_path / "run"
    code = main(["train", "digits", "--steps", "4", "--out", str(out), "--quiet",
                 "--set", "model.ngf=8", "--set", "model.ndf=8", "--set", "train.batch_size=16",
                 "--set", "train.eval_every=2", "--set", "train.snapshot_every=2", "--set", "train.log_every=2"])
    assert code == 0
    assert "classes_covered" in capsys.readouterr().out
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "fd_classifier" in r]
    assert [r["step"] for r in evals][:2] == [2, 4]
    assert all(0 <= r["classes_covered"] <= 10 for r in evals)
    grids = sorted((out / "snapshots").glob("*.png"))
    assert [g.name for g in grids] == ["step_00000002.png", "step_00000004.png"]
    with Image.open(grids[-1]) as im_:
        assert im_.size == (8 * 18 + 2, 8 * 18 + 2)  # 64 fixed latents, 16 px tiles, 2 px padding
    # the same fixed z is drawn at every snapshot, so the grids compare over time
    png = tmp_path / "again.png"
    assert main(["sample", str(out), "--n", "4", "--out", str(png)]) == 0 and png.is_file()


def test_presets_for_images():
    descs = preset_descriptions()
    for name in ("digits", "shapes", "mnist"):
        assert descs[name] and "\n" not in descs[name]
        cfg = load_preset(name)
        assert cfg.model.arch == "dcgan" and cfg.data.name == name
    assert load_preset("shapes").data.image_size in (16, 32)


def test_mnist_preset_names_the_missing_folder(tmp_path, capsys):
    assert main(["train", "mnist", "--steps", "1", "--out", str(tmp_path / "r"), "--quiet"]) == 2
    assert "data.path" in capsys.readouterr().err
    code = main(["train", "mnist", "--steps", "1", "--out", str(tmp_path / "r"), "--quiet",
                 "--set", f"data.path={tmp_path}"])
    err = capsys.readouterr().err
    assert code == 2 and "train-images-idx3-ubyte" in err and len(err.strip().splitlines()) == 1


def test_mlp_option_for_small_images():
    cfg = Config()
    cfg.set("data.name", "digits")
    cfg.set("data.image_size", 8)
    cfg.set("model.arch", "mlp")
    cfg.set("train.batch_size", 32)
    cfg.set("train.device", "cpu")
    tr = Trainer(cfg)
    before = tr.generate(tr.fixed_z).clone()
    tr.step()
    after = tr.generate(tr.fixed_z)
    assert after.shape == (64, 1, 8, 8) and after.abs().max() <= 1  # tanh output, image shaped
    assert not torch.equal(before, after)


def test_spectral_norm_discriminator_has_unit_layers_and_no_batch_norm():
    D = DCGANDiscriminator(4, 3, 16, norm="spectral")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    x = torch.randn(8, 3, 16, 16)
    for _ in range(30):                       # power iterations run in training forward passes
        D(x)
    layers = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 3                   # two convolutions at 16 px and the head
    for layer in layers:
        w = layer.weight.detach().flatten(1)  # the normalised weight the layer uses
        assert abs(torch.linalg.matrix_norm(w, ord=2).item() - 1.0) < 0.05
        raw = layer.parametrizations.weight.original.detach().flatten(1)
        assert torch.linalg.matrix_norm(raw, ord=2).item() > 0.05   # DCGAN's N(0, 0.02) start, rescaled
    # and the default keeps DCGAN's batch norm
    assert any(isinstance(m, nn.BatchNorm2d) for m in DCGANDiscriminator(4, 3, 16).modules())
    with pytest.raises(ConfigError, match="d_norm"):
        DCGANDiscriminator(4, 3, 16, norm="layer")


@pytest.mark.parametrize("preset", ["shapes", "infogan-shapes"])
def test_spectral_norm_trains_and_resumes_exactly(preset):
    from resume_helper import assert_resumes_exactly

    def make():
        cfg = _tiny(preset, train__batch_size=16, model__d_norm="spectral")
        if preset == "infogan-shapes":
            cfg.set("infogan.q_width", 16)
        return Trainer(cfg)

    a, b = assert_resumes_exactly(make, weights_only=True, nets=("G", "D"))
    for (name, u), (_, v) in zip(a.D.named_buffers(), b.D.named_buffers()):
        assert torch.equal(u, v), name       # the power iteration's vectors travel with the checkpoint
    assert any(name.endswith("._u") for name, _ in a.D.named_buffers())
