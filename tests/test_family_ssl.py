"""Semi-supervised K+1 GAN: the loss of METHODS.md, the labelled subset, the baseline, exact resume, errors."""
import json

import pytest
import torch
import torch.nn.functional as F

from gan_studio.cli import main
from gan_studio.core.config import Config
from gan_studio.core.errors import ConfigError
from gan_studio.core.families.registry import make_trainer
from gan_studio.core.families.ssl import k_plus_one_losses
from resume_helper import assert_resumes_exactly


def tiny_cfg(**over) -> Config:
    cfg = Config.from_dict({
        "data": {"name": "digits", "image_size": 8},
        "model": {"family": "ssl", "arch": "mlp", "latent_dim": 8, "g_depth": 1, "g_width": 32,
                  "d_depth": 2, "d_width": 32},
        "ssl": {"labels_per_class": 3},
        "train": {"batch_size": 16, "lr_g": 3e-3, "lr_d": 3e-3, "device": "cpu"}})
    for k, v in over.items():
        cfg.set(k.replace("__", "."), v)
    return cfg


def test_k_plus_one_loss_matches_a_hand_computation():
    g = torch.Generator().manual_seed(0)
    lab, unl, fake = (torch.randn(5, 4, generator=g) * 2 for _ in range(3))
    y = torch.tensor([0, 3, 1, 2, 3])

    def p_k1(logits):  # softmax over K + 1 logits, the last one fixed at 0
        return F.softmax(torch.cat([logits, torch.zeros(len(logits), 1)], 1), 1)

    p = p_k1(lab)
    sup = -torch.log(p[torch.arange(5), y] / (1 - p[:, -1])).mean()   # class given "real"
    unsup = -torch.log(1 - p_k1(unl)[:, -1]).mean() - torch.log(p_k1(fake)[:, -1]).mean()
    got_sup, got_unsup = k_plus_one_losses(lab, y, unl, fake)
    assert torch.allclose(got_sup, sup, atol=1e-5)
    assert torch.allclose(got_unsup, unsup, atol=1e-5)
    # D(x) = Z / (Z + 1): confident "real" logits drive the real part of L_unsup to 0
    assert float(k_plus_one_losses(lab, y, unl + 30, fake - 30)[1]) < 1e-6


def test_labelled_set_has_labels_per_class_and_never_a_test_image():
    a = make_trainer(tiny_cfg())
    counts = torch.bincount(a.labels[a.labelled_idx], minlength=10)
    assert counts.tolist() == [3] * 10
    labelled, test = set(a.labelled_idx.tolist()), set(a.test_idx.tolist())
    assert not labelled & test and labelled <= set(a.train_idx.tolist())
    assert len(test) == round(0.2 * 1797) and len(test) + len(a.train_idx) == 1797
    b = make_trainer(tiny_cfg(train__seed=1))
    assert set(b.labelled_idx.tolist()) != labelled          # the seed picks the labelled examples
    assert set(b.test_idx.tolist()) == test                  # the test split stays put


def test_baseline_learns_from_the_labelled_examples_only():
    """Blank every unlabelled training image: D's weights change, the baseline's do not."""
    a, b = make_trainer(tiny_cfg()), make_trainer(tiny_cfg())
    keep = torch.zeros(len(b.data.pixels), dtype=torch.bool)
    keep[b.labelled_idx] = True
    b.data.pixels[~keep] = 0
    for _ in range(3):
        a.step(), b.step()
    for p, q in zip(a.baseline.parameters(), b.baseline.parameters()):
        assert torch.equal(p, q)
    assert any(not torch.equal(p, q) for p, q in zip(a.D.parameters(), b.D.parameters()))
    ev = a.evaluate()
    assert set(ev) == {"test_accuracy", "baseline_accuracy"} and 0 <= ev["test_accuracy"] <= 1


def test_classifier_learns_the_labelled_digits():
    tr = make_trainer(tiny_cfg(ssl__labels_per_class=10))
    before = tr.evaluate()
    for _ in range(150):
        tr.step()
    after = tr.evaluate()
    assert before["test_accuracy"] < 0.3 and before["baseline_accuracy"] < 0.3   # untrained: near 1/10
    assert after["test_accuracy"] > 0.6 and after["baseline_accuracy"] > 0.6


def test_checkpoint_resume_continues_exactly():
    a, b = assert_resumes_exactly(lambda: make_trainer(tiny_cfg()), before=3, after=3, nets=("G", "D", "baseline"))
    assert a.evaluate() == b.evaluate()


def test_settings_it_cannot_honour_are_refused_by_name():
    with pytest.raises(ConfigError, match=r"ssl.labels_per_class = 500: class 0 has only \d+ training examples"):
        make_trainer(tiny_cfg(ssl__labels_per_class=500))
    with pytest.raises(ConfigError, match=r"loss = 'hinge' does not fit model.family = 'ssl'"):
        make_trainer(tiny_cfg(loss="hinge"))
    with pytest.raises(ConfigError, match=r"tricks.feature_matching.enabled = true .* 'ssl'"):
        make_trainer(tiny_cfg(tricks__feature_matching__enabled=True))
    with pytest.raises(ConfigError, match=r"model.arch = 'dcgan' does not fit model.family = 'ssl'"):
        make_trainer(tiny_cfg(model__arch="dcgan", data__image_size=16))
    tr = make_trainer(tiny_cfg())
    with pytest.raises(ConfigError, match="ssl.labels_per_class is fixed when a run is built"):
        tr.apply_setting("ssl.labels_per_class", 5)
    assert tr.cfg.ssl.labels_per_class == 3
    tr.apply_setting("ssl.unsup_weight", 0.0)                 # live: D becomes the baseline's twin
    tr.step()
    assert tr.cfg.ssl.unsup_weight == 0.0


def test_cli_trains_the_preset_and_logs_both_accuracies(tmp_path):
    out = tmp_path / "run"
    tiny = ["--set", "model.d_width=32", "--set", "model.g_width=32", "--set", "train.batch_size=16",
            "--set", "train.eval_every=4", "--device", "cpu", "--quiet"]
    assert main(["train", "ssl-digits", "--steps", "8", "--out", str(out)] + tiny) == 0
    rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "test_accuracy" in r]
    assert [r["step"] for r in evals] == [4, 8]
    assert all(0 <= r["baseline_accuracy"] <= 1 for r in evals)
    assert (out / "snapshots" / "step_00000008.png").is_file()
    assert main(["train", "--resume", str(out), "--steps", "2", "--device", "cpu", "--quiet"]) == 0


def test_a_setting_of_an_unused_trick_leaves_g_batch_norm_in_place():
    tr = make_trainer(tiny_cfg())
    tr.apply_setting("tricks.normalization.g", "none")       # the trick stays off
    assert tr.G.norms[0].kind == "batch"


def test_the_unconditional_grid_is_not_captioned_as_one_row_per_class():
    tr = make_trainer(tiny_cfg())
    assert not hasattr(tr, "class_names") and tr.label_names == [str(k) for k in range(10)]
