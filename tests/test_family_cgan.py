"""Conditional GAN: samples follow the label asked for, one grid row per class, exact resume, clear errors."""
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from gan_studio.cli import main
from gan_studio.core.config import Config
from gan_studio.core.errors import ConfigError
from gan_studio.core.families.registry import make_trainer
from gan_studio.core.render import render_snapshot_png


def tiny_cfg(**over) -> Config:
    d = {"data": {"name": "digits", "image_size": 8},
         "model": {"family": "cgan", "arch": "mlp", "latent_dim": 16, "g_depth": 2, "g_width": 128,
                   "d_depth": 2, "d_width": 128},
         "cgan": {"embed_dim": 16},
         "train": {"batch_size": 64, "lr_g": 1e-3, "lr_d": 1e-3, "device": "cpu"}}
    cfg = Config.from_dict(d)
    for k, v in over.items():
        cfg.set(k.replace("__", "."), v)
    return cfg


def nearest_centroid(tr):
    """A cheap but real classifier of 8 px digits: the nearest class mean (about 90% right on real digits)."""
    x, y = tr.data.images.flatten(1), tr.labels
    centres = torch.stack([x[y == k].mean(0) for k in range(tr.num_classes)])
    return lambda imgs: torch.cdist(imgs.flatten(1), centres).argmin(1)


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    tr = make_trainer(tiny_cfg())
    for _ in range(300):  # about 2 s; 0.60 to 0.69 of samples right for seeds 0, 1, 2
        tr.step()
    return tr


def test_conditional_samples_are_classified_as_their_label(trained):
    tr = trained
    classify = nearest_centroid(tr)
    real_acc = float((classify(tr.data.images) == tr.labels).float().mean())
    z = torch.randn(500, 16, generator=torch.Generator().manual_seed(5))
    y = tr.default_labels(500)
    pred = classify(tr.generate(z, y))
    acc = float((pred == y).float().mean())
    wrong = float((pred == (y + 1) % 10).float().mean())
    assert real_acc > 0.85
    assert acc > 0.45, acc         # chance is 0.1
    assert wrong < 0.2, wrong      # it is the label that decides, not a favourite digit


def test_the_label_can_be_held_fixed_or_changed_for_the_same_latents(trained):
    tr = trained
    classify = nearest_centroid(tr)
    z = torch.randn(200, 16, generator=torch.Generator().manual_seed(6))
    threes, sevens = classify(tr.generate(z, labels=3)), classify(tr.generate(z, labels=7))
    assert float((threes == 3).float().mean()) > 0.4
    assert float((sevens == 7).float().mean()) > 0.4
    with pytest.raises(ConfigError, match="out of range; allowed 0..9"):
        tr.generate(z[:2], labels=[3, 12])


def test_snapshot_grid_has_one_row_per_class(trained):
    tr = trained
    assert tr.fixed_labels.tolist() == [k for k in range(10) for _ in range(8)]
    img = np.asarray(Image.open(io.BytesIO(render_snapshot_png(tr))))
    assert img.shape[0] == 10 * (8 + 2) + 2 and img.shape[1] == 8 * (8 + 2) + 2  # 10 rows of 8 tiles
    rows = tr.generate(tr.fixed_z).reshape(10, 8, -1)
    classify = nearest_centroid(tr)
    row_pred = classify(rows.reshape(80, 1, 8, 8)).reshape(10, 8)
    assert float((row_pred == torch.arange(10)[:, None]).float().mean()) > 0.4  # row k draws digit k


def test_checkpoint_resume_continues_exactly():
    a = make_trainer(tiny_cfg(train__batch_size=16))
    for _ in range(3):
        a.step()
    state = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in a.state_dict().items()}
    state = torch.load(io.BytesIO(_save(state)), weights_only=False)
    later = [a.step().as_dict() for _ in range(3)]
    b = make_trainer(tiny_cfg(train__batch_size=16))
    b.load_state_dict(state)
    again = [b.step().as_dict() for _ in range(3)]
    assert later == again
    for p, q in zip(a.G.parameters(), b.G.parameters()):
        assert torch.equal(p, q)


def _save(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def test_tricks_and_losses_it_cannot_honour_are_refused_by_name():
    with pytest.raises(ConfigError, match=r"tricks.packing.enabled = true .* 'cgan'; tricks there: label_smoothing"):
        make_trainer(tiny_cfg(tricks__packing__enabled=True))
    with pytest.raises(ConfigError, match=r"loss = 'wgan-gp' does not fit model.family = 'cgan'"):
        make_trainer(tiny_cfg(loss="wgan-gp"))
    with pytest.raises(ConfigError, match="needs a labelled image set"):
        make_trainer(tiny_cfg(data__name="ring8"))
    tr = make_trainer(tiny_cfg(train__batch_size=8))
    with pytest.raises(ConfigError, match="tricks.unrolled.enabled"):
        tr.apply_setting("tricks.unrolled.enabled", True)
    assert tr.cfg.tricks.unrolled.enabled is False           # refused whole
    tr.apply_setting("tricks.label_smoothing.enabled", True)  # a supported trick goes live
    tr.step()
    assert tr.cfg.tricks.label_smoothing.enabled


def test_cli_trains_the_preset_with_cond_accuracy_and_resumes(tmp_path, monkeypatch, capsys):
    import gan_studio.core.metrics.images as im
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(im, "CLASSIFIER_STEPS", 30)  # a rough metric classifier is enough here
    monkeypatch.setattr(im, "_models", {})
    out = tmp_path / "run"
    tiny = ["--set", "model.ngf=8", "--set", "model.ndf=8", "--set", "train.batch_size=16",
            "--device", "cpu", "--quiet", "--set", "train.snapshot_every=2"]
    assert main(["train", "cgan-digits", "--steps", "2", "--out", str(out)] + tiny) == 0
    rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert 0.0 <= rows[-1]["cond_accuracy"] <= 1.0 and rows[-1]["classes_covered"] >= 1
    snap = np.asarray(Image.open(out / "snapshots" / "step_00000002.png"))
    assert snap.shape[0] == 10 * (16 + 2) + 2  # one row per digit
    assert main(["train", "--resume", str(out), "--steps", "1", "--device", "cpu", "--quiet"]) == 0
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 3
    # gan-studio sample --label: the same latents drawn as another class
    for label in ("3", "7"):
        assert main(["sample", str(out), "--n", "6", "--label", label, "--out", str(tmp_path / f"{label}.npy")]) == 0
    threes, sevens = np.load(tmp_path / "3.npy"), np.load(tmp_path / "7.npy")
    assert threes.shape == (6, 1, 16, 16) and not np.allclose(threes, sevens)
    assert main(["sample", str(out), "--n", "6", "--label", "12", "--out", str(tmp_path / "x.npy")]) != 0
    assert "--label '12' is not a class of this run; choose an index 0..9" in capsys.readouterr().err
