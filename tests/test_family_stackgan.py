"""StackGAN: the text box's words, conditioning augmentation's KL, text-dependent stages, exact resume."""
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
from gan_studio.core.families.stackgan import CondAugment, kl_standard_normal

CAPTION = "a large red circle at the top left"


def tiny_cfg(**over) -> Config:
    d = {"data": {"name": "shapes", "image_size": 16, "num_images": 1200},
         "model": {"family": "stackgan", "latent_dim": 8, "ngf": 8, "ndf": 8},
         "stackgan": {"stage1_size": 8, "text_dim": 16, "ca_dim": 4, "text_steps": 60},
         "train": {"batch_size": 16, "lr_g": 1e-3, "lr_d": 1e-3, "device": "cpu"}}
    cfg = Config.from_dict(d)
    for k, v in over.items():
        cfg.set(k.replace("__", "."), v)
    return cfg


@pytest.fixture(scope="module")
def trainer():
    torch.set_num_threads(1)
    tr = make_trainer(tiny_cfg())
    for _ in range(30):  # enough for batch norm's running statistics, which sampling uses, to settle
        tr.step()
    return tr


def test_an_unknown_caption_word_is_refused_with_the_vocabulary(trainer):
    words = trainer.vocabulary
    assert {"red", "circle", "top", "left", "small", "large"} <= set(words) and "purple" not in words
    with pytest.raises(ConfigError, match=r"caption word 'purple' is not in the vocabulary; known words: a, at, blue"):
        trainer.render_caption("a large purple circle at the top left")
    with pytest.raises(ConfigError, match="has no words"):
        trainer.encode_caption("  ,. ")


def test_the_text_encoder_learned_which_caption_fits_an_image(trainer):
    # retrieval among the set's distinct captions on held-out images: chance is 1 / len(captions)
    assert len(trainer.captions) > 60 and trainer.text_match_accuracy > 10 / len(trainer.captions)
    e = trainer.encode_caption(CAPTION)
    # a bag of words: the same words in another order and case mean the same; another colour does not
    assert torch.allclose(e, trainer.encode_caption("A red large circle, at the top left."))
    assert float((e - trainer.encode_caption("a large blue circle at the top left")).abs().mean()) > 1e-3


def test_the_kl_term_matches_the_closed_form_and_c_is_drawn_from_n_mu_sigma():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                            torch.distributions.Normal(0.0, 1.0)).sum(1).mean()
    assert torch.allclose(kl_standard_normal(mu, logvar), ref, atol=1e-6)
    assert float(kl_standard_normal(torch.zeros(4, 3), torch.zeros(4, 3))) == 0.0
    ca = CondAugment(text_dim=6, ca_dim=3)
    e = torch.randn(1, 6, generator=g).expand(20000, -1)
    c, mu, logvar = ca(e, torch.randn(20000, 3, generator=g))
    assert torch.allclose(c.mean(0), mu[0], atol=0.05)
    assert torch.allclose(c.std(0), (0.5 * logvar[0]).exp(), rtol=0.05)


def test_stage_two_follows_the_text_and_the_stage_one_image(trainer):
    tr = trainer
    s1, s2 = tr.render_caption(CAPTION, 6)
    assert s1.shape == (6, 3, 8, 8) and s2.shape == (6, 3, 16, 16)
    again = tr.render_caption(CAPTION, 6)
    assert torch.equal(again[1], s2)                                    # the text box is reproducible
    _, other = tr.render_caption("a small green triangle at the bottom right", 6)
    assert float((other - s2).abs().mean()) > 0.01                      # new words, new pictures
    e = tr.encode_caption(CAPTION)[None].expand(6, -1)
    tr.G.eval()
    with torch.no_grad():  # the same text with a black stage-I picture: stage II draws from stage I too
        c2 = tr.G.ca2(e, None)[0]
        assert float((tr.G.g2(torch.full_like(s1, -1.0), c2) - s2).abs().mean()) > 0.01
    tr.G.train()
    # the grid: one caption per row of 8
    rows = tr.generate(tr.fixed_z).reshape(8, 8, -1)
    assert torch.allclose(rows[0], tr.generate(tr.fixed_z[:8], tr.display_captions[0]).reshape(8, -1), atol=1e-5)


def test_checkpoint_resume_continues_exactly():
    a = make_trainer(tiny_cfg(train__batch_size=8, stackgan__text_steps=5))
    a.step()
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    later = [a.step().as_dict() for _ in range(2)]
    b = make_trainer(tiny_cfg(train__batch_size=8, stackgan__text_steps=5))
    b.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=False))
    assert [b.step().as_dict() for _ in range(2)] == later
    for p, q in zip(a.G.parameters(), b.G.parameters()):
        assert torch.equal(p, q)


def test_settings_it_cannot_honour_are_refused_by_name():
    with pytest.raises(ConfigError, match=r"stackgan.stage1_size = 16 must be smaller than data.image_size = 16"):
        make_trainer(tiny_cfg(stackgan__stage1_size=16))
    with pytest.raises(ConfigError, match="needs a captioned image set"):
        make_trainer(tiny_cfg(data__name="digits"))


def test_cli_trains_the_preset_with_attribute_match_rates_and_resumes(tmp_path, monkeypatch):
    import gan_studio.core.metrics.images as im
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(im, "CLASSIFIER_STEPS", 20)  # a rough metric classifier is enough here
    monkeypatch.setattr(im, "_models", {})
    out = tmp_path / "run"
    tiny = ["--set", "model.ngf=4", "--set", "model.ndf=4", "--set", "train.batch_size=8",
            "--set", "data.num_images=600", "--set", "stackgan.text_steps=5", "--device", "cpu", "--quiet",
            "--set", "train.snapshot_every=2"]
    assert main(["train", "stackgan-shapes", "--steps", "2", "--out", str(out)] + tiny) == 0
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    for k in ("s2_match", "s1_match", "chance_match", "s2_match_colour", "chance_match_all"):
        assert 0.0 <= row[k] <= 1.0, k
    assert row["chance_match_all"] < row["chance_match"]
    snap = np.asarray(Image.open(out / "snapshots" / "step_00000002.png"))
    assert snap.shape[:2] == (8 * (16 + 2) + 2, 8 * (16 + 2) + 2)  # 8 captions x 8 samples
    assert main(["train", "--resume", str(out), "--steps", "1", "--device", "cpu", "--quiet"]) == 0
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 3


def test_attribute_match_scores_caption_following_pictures_high_and_text_blind_ones_at_chance(
        trainer, tmp_path, monkeypatch):
    import gan_studio.core.metrics.images as im
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(im, "CLASSIFIER_STEPS", 80)  # rough: shape is its weakest head
    monkeypatch.setattr(im, "_models", {})
    tr = trainer
    emb = tr._caption_embeddings()
    first = {k: tr.caption_ids.tolist().index(k) for k in range(len(tr.captions))}
    real = tr.data.images

    def real_pictures(z, e, generator=None, blind=False):
        """Stand-ins for the stages: a real image of the asked caption (or always of caption 0)."""
        cap = torch.cdist(e, emb).argmin(1)
        idx = torch.tensor([first[0 if blind else int(k)] for k in cap])
        x2 = real[idx]
        return torch.nn.functional.avg_pool2d(x2, 2), x2

    monkeypatch.setattr(tr, "stages", real_pictures)
    follows = tr.attribute_match(300)
    monkeypatch.setattr(tr, "stages", lambda z, e, generator=None: real_pictures(z, e, blind=True))
    blind = tr.attribute_match(300)
    assert follows["s2_match_position"] > 0.9 and follows["s2_match_colour"] > 0.9, follows
    assert follows["s2_match"] > 0.7 > 0.4 > follows["chance_match"] > 0.25, follows
    assert abs(blind["s2_match"] - blind["chance_match"]) < 0.06, blind   # ignoring the text scores chance
    assert follows["s1_match_position"] > 0.8                                # 8 px, upsampled, still placed
