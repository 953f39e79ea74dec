"""StackGAN: the text box's words, conditioning augmentation's KL, text-dependent stages, exact resume."""
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
from resume_helper import assert_resumes_exactly

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
    assert_resumes_exactly(lambda: make_trainer(tiny_cfg(train__batch_size=8, stackgan__text_steps=5)), before=1)


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


def _attribute_changes(tr, cap, wrong):
    """How many of the four attributes differ between each caption and its mismatched one, and which."""
    diff = torch.stack([tr.caption_attributes[a][cap] != tr.caption_attributes[a][wrong]
                        for a in ("shape", "colour", "size", "position")], 1)
    return diff.sum(1), diff


def test_near_miss_captions_differ_in_exactly_one_attribute_each_equally_often(trainer, monkeypatch):
    tr = trainer
    cap = torch.randint(len(tr.captions), (4000,), generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(tr.cfg.stackgan, "hard_negatives", 1.0)
    state = tr.rng.get_state()
    try:
        wrong = tr.wrong_captions(cap)
        n_diff, which = _attribute_changes(tr, cap, wrong)
        have_all = len(tr.captions) == 96        # every combination of the 3 x 4 x 2 x 4 values is in the set
        assert (wrong != cap).all()
        if have_all:
            assert (n_diff == 1).all()
            share = which.float().mean(0)         # each attribute is the changed one about 1/4 of the time
            assert torch.allclose(share, torch.full((4,), 0.25), atol=0.03), share
            # every near miss of a caption is drawn: 2 other shapes + 3 colours + 1 size + 3 positions
            one = torch.full((2000,), tr.captions.index(CAPTION))
            assert len(set(tr.wrong_captions(one).tolist())) == 9
        # half near misses, half any other caption
        monkeypatch.setattr(tr.cfg.stackgan, "hard_negatives", 0.5)
        n_half, _ = _attribute_changes(tr, cap, tr.wrong_captions(cap))
        assert 0.45 < float((n_half == 1).float().mean()) < 0.65          # 1/2 + 1/2 * P(one change) at random
        # the default: any other caption, with a random one differing in one attribute only ~10% of the time
        monkeypatch.setattr(tr.cfg.stackgan, "hard_negatives", 0.0)
        n_any, _ = _attribute_changes(tr, cap, tr.wrong_captions(cap))
        assert float((n_any == 1).float().mean()) < 0.2 and (n_any >= 1).all()
    finally:
        tr.rng.set_state(state)


def test_checkpoint_resume_continues_exactly_with_near_misses_projection_and_matching_loss():
    over = dict(train__batch_size=8, stackgan__text_steps=5, stackgan__hard_negatives=0.5,
                stackgan__d_projection=True, stackgan__match_weight=1.0)
    assert_resumes_exactly(lambda: make_trainer(tiny_cfg(**over)), before=1)


def test_projection_adds_the_inner_product_of_image_features_and_text_to_d():
    from gan_studio.core.families.stackgan import TextDiscriminator
    torch.manual_seed(0)
    plain = TextDiscriminator(8, 3, 16, 6)
    assert plain.project is None                       # off by default: earlier runs' Ds are unchanged
    d = TextDiscriminator(8, 3, 16, 6, projection=True)
    x, e = torch.randn(5, 3, 16, 16), torch.randn(5, 6)
    h = d.image(x)
    t = d.text(e)[:, :, None, None].expand(-1, -1, 4, 4)
    concat_only = d.head(d.joint(torch.cat([h, t], 1))).squeeze(1)
    assert torch.allclose(d(x, e) - concat_only, (h.sum((2, 3)) * d.project(e)).sum(1), atol=1e-5)
    # the projection is bilinear in (image features, text): doubling W doubles the term
    with torch.no_grad():
        d.project.weight.mul_(2.0)
    assert torch.allclose(d(x, e) - concat_only, 2 * (h.sum((2, 3)) * (d.project(e) / 2)).sum(1), atol=1e-5)


def test_the_matching_loss_uses_the_frozen_pretrained_image_encoder(trainer, monkeypatch):
    tr = trainer
    enc = tr.image_encoder
    assert not any(p.requires_grad for p in enc.parameters()) and not enc.training
    emb = tr._caption_embeddings()
    first = [tr.caption_ids.tolist().index(k) for k in range(len(tr.captions))]
    logits = enc.match_logits(tr.data.images[first], emb)
    assert logits.shape == (len(tr.captions), len(tr.captions))
    assert float((logits.argmax(1) == torch.arange(len(tr.captions))).float().mean()) > 10 / len(tr.captions)
    # with match_weight, G's loss grows by the weighted cross-entropy; the encoder itself is not trained
    before = [p.clone() for p in enc.parameters()]
    calls = []
    real = type(enc).match_logits
    monkeypatch.setattr(type(enc), "match_logits", lambda self, x, e: calls.append(x.shape) or real(self, x, e))
    monkeypatch.setattr(tr.cfg.stackgan, "match_weight", 1.0)
    state = tr.state_dict()
    try:
        tr.step()
    finally:
        tr.load_state_dict(state)
    assert calls == [(tr.cfg.train.batch_size, 3, 16, 16)]
    assert all(torch.equal(p, q) for p, q in zip(before, enc.parameters()))


def test_the_new_weights_change_live_and_the_projection_needs_a_new_run():
    from gan_studio.core.family_spec import needs_reset
    assert not needs_reset("stackgan.hard_negatives") and not needs_reset("stackgan.match_weight")
    assert needs_reset("stackgan.d_projection")
    with pytest.raises(ConfigError, match="hard_negatives"):
        tiny_cfg(stackgan__hard_negatives=1.5)
