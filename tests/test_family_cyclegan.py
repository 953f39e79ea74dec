"""CycleGAN: two domains cut out of one set by filters, the paper's losses and image pool, exact resume,
translations scored by the shapes classifiers, and `gan-studio translate` with one line per bad input."""
import copy

import numpy as np
import pytest
import torch
from PIL import Image

from gan_studio.cli import main
from gan_studio.core.config import Config, field_docs
from gan_studio.core.data.domains import split_domains
from gan_studio.core.data.images import make_shapes
from gan_studio.core.errors import ConfigError
from gan_studio.core.families.cyclegan import ImagePool
from gan_studio.core.families.registry import FAMILIES, make_trainer
from gan_studio.core.family_spec import SPECS, needs_reset
from resume_helper import assert_resumes_exactly


def tiny_cfg(**over) -> Config:
    d = {"loss": "least-squares",
         "data": {"name": "shapes", "image_size": 16, "num_images": 600, "domain_a": "shape=circle",
                  "domain_b": "shape=square"},
         "model": {"family": "cyclegan", "ngf": 4, "ndf": 4},
         "cyclegan": {"res_blocks": 1, "pool_size": 6},
         "train": {"batch_size": 4, "lr_g": 1e-3, "lr_d": 1e-3, "device": "cpu"}}
    cfg = Config.from_dict(d)
    for k, v in over.items():
        cfg.set(k.replace("__", "."), v)
    return cfg


@pytest.fixture(scope="module")
def trainer():
    torch.set_num_threads(1)
    tr = make_trainer(tiny_cfg())
    for _ in range(3):
        tr.step()
    return tr


def test_the_family_declares_its_section_and_capability():
    spec = SPECS["cyclegan"]
    assert spec.has("translation") and spec.losses == ("least-squares",) and spec.tricks == ()
    assert not needs_reset("cyclegan.lambda_cycle") and not needs_reset("cyclegan.lambda_identity")
    assert needs_reset("cyclegan.pool_size") and needs_reset("data.domain_a")
    cfg = Config()
    assert (cfg.cyclegan.lambda_cycle, cfg.cyclegan.lambda_identity, cfg.cyclegan.pool_size) == (10.0, 0.5, 50)
    docs = field_docs()
    assert all(docs[key] for key in spec.section_keys() + ["data.domain_a", "data.domain_b"])
    assert FAMILIES["cyclegan"].FAMILY is spec and "cyclegan" in cfg.to_dict()
    with pytest.raises(ConfigError, match=r"loss = 'non-saturating' does not fit model.family = 'cyclegan'"):
        Config.from_dict({"model": {"family": "cyclegan"}})


def test_domains_are_unpaired_parts_of_the_set_picked_by_filters():
    data = make_shapes(600, 16)
    a, b = split_domains(data, "shape=circle", "Shape = Square , colour=red")
    shape, colour = data.attributes["shape"], data.attributes["colour"]
    assert (shape[a.index] == 0).all() and (shape[b.index] == 1).all() and (colour[b.index] == 0).all()
    assert len(a.index) > 3 * len(b.index) > 0 and not set(a.index.tolist()) & set(b.index.tolist())
    bare, cls = split_domains(data, "circle", "red square")            # a value alone; a class name
    assert torch.equal(bare.index, a.index) and torch.equal(cls.index, b.index)
    for a_text, b_text, message in (
            ("hue=red", "shape=square", r"data.domain_a = 'hue=red': 'hue' is not an attribute of shapes; use one "
                                        r"of: shape, colour, size, position, class"),
            ("shape=circle", "shape=hexagon", r"data.domain_b = 'shape=hexagon': shape = 'hexagon' is not a value "
                                              r"of shapes; choose one of: circle, square, triangle"),
            ("", "shape=square", r"data.domain_a is empty: model.family = 'cyclegan' needs two domains"),
            ("shape=circle", "circle", r"pick the same images: translation needs two different domains"),
            ("shape=circle,shape=square", "square", r"shape is given twice"),
            ("shape=circle", "purple", r"'purple' names no value of shapes \(shape: circle, square, triangle;")):
        with pytest.raises(ConfigError, match=message):
            split_domains(data, a_text, b_text)
    few = make_shapes(20, 16)   # 20 images: no small green triangle at the top left
    with pytest.raises(ConfigError, match=r"matches none of the 20 images of shapes: the domain is empty"):
        split_domains(few, "shape=circle", "shape=triangle,colour=green,size=small,position=top left")


def test_two_folders_are_a_users_domains_and_an_empty_one_is_one_line(tmp_path):
    rng = np.random.default_rng(0)
    for name, count in (("trainA", 5), ("trainB", 3), ("empty", 0)):
        (tmp_path / name).mkdir()
        for i in range(count):
            Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    base = {"data__name": "folder", "data__path": str(tmp_path), "data__domain_a": "trainA",
            "data__domain_b": "class=trainB"}
    tr = make_trainer(tiny_cfg(**base))
    assert len(tr.domain_pixels["a"]) == 5 and len(tr.domain_pixels["b"]) == 3
    m = tr.step().as_dict()
    assert all(np.isfinite(v) for v in m.values())
    scores = tr.translation_scores()          # no attributes to classify: the cycle error only
    assert set(scores) == {"a2b_cycle_l1", "b2a_cycle_l1"} and 0 < scores["a2b_cycle_l1"] < 1
    with pytest.raises(ConfigError, match=r"data.domain_b = 'empty' matches none of the 8 images of folder \(its "
                                          r"sub-folder 'empty' holds no pictures\): the domain is empty"):
        make_trainer(tiny_cfg(**{**base, "data__domain_b": "empty"}))


def test_a_step_trains_both_generators_and_both_ds_with_finite_losses(trainer):
    tr = trainer
    assert set(tr.G) == {"a2b", "b2a"} and set(tr.D) == {"a", "b"}
    before = copy.deepcopy(tr.state_dict())
    m = tr.step().as_dict()
    assert all(np.isfinite(v) for v in m.values()) and m["loss_g"] > m["loss_d"] > 0
    for net in ("G", "D"):
        for name, p in getattr(tr, net).state_dict().items():
            assert not torch.equal(p, before[net][name]), f"{net}.{name} did not learn"
    # a PatchGAN judges patches: a map of logits per image
    assert tr.D["b"](tr.real_images("b", 2)).shape[-2:] == (2, 2)


def test_lambda_weighs_the_cycle_loss_live(trainer):
    """G's loss is linear in lambda (the cycle L1 times lambda); the change applies between steps."""
    state = copy.deepcopy(trainer.state_dict())
    losses = []
    for lam in (0.0, 10.0, 20.0):
        tr = make_trainer(tiny_cfg(cyclegan__lambda_identity=0.0))
        tr.load_state_dict(copy.deepcopy(state))
        tr.apply_setting("cyclegan.lambda_cycle", lam)
        losses.append(tr.step()["loss_g"])
    assert losses[1] - losses[0] == pytest.approx(losses[2] - losses[1], rel=1e-4) and losses[1] > losses[0]
    assert tr.events[-1]["key"] == "cyclegan.lambda_cycle"


def test_the_image_pool_fills_then_swaps_half_and_resumes_exactly():
    g = torch.Generator().manual_seed(0)
    pool = ImagePool(3, torch.device("cpu"), seed=5)
    first = torch.randn(3, 1, 2, 2, generator=g)
    assert torch.equal(pool.query(first), first) and pool.count == 3          # filling: shown as they are
    saved = copy.deepcopy(pool.state_dict())
    news = [torch.randn(1, 1, 2, 2, generator=g) for _ in range(200)]
    outs = [pool.query(x) for x in news]
    history = list(first) + [x[0] for x in news]
    swapped = [not torch.equal(o, x) for o, x in zip(outs, news)]
    assert 0.35 < np.mean(swapped) < 0.65                                      # about half
    for i, (o, s) in enumerate(zip(outs, swapped)):
        if s:   # an older fake came back: one G made before this one
            assert any(torch.equal(o[0], h) for h in history[:3 + i])
    again = ImagePool(3, torch.device("cpu"), seed=99)                       # its own seed is overwritten
    again.load_state_dict(saved)
    assert all(torch.equal(again.query(x), o) for x, o in zip(news, outs))
    off = ImagePool(0, torch.device("cpu"), seed=1)
    assert torch.equal(off.query(first), first)


def test_checkpoint_resume_continues_exactly_pool_included():
    # two steps first: the pools are full (2 x batch 4 > 3) and now swap
    a, b = assert_resumes_exactly(lambda: make_trainer(tiny_cfg(cyclegan__pool_size=3)), weights_only=True)
    for d in "ab":
        assert torch.equal(a.pools[d].images, b.pools[d].images)


def test_translate_gives_translation_and_reconstruction_and_refuses_other_sizes(trainer):
    tr = trainer
    x = tr.real_images("a", 5)
    y, rec = tr.translate(x, "a2b")
    assert y.shape == rec.shape == x.shape and y.abs().max() <= 1
    assert torch.allclose(rec, tr.G["b2a"](tr.G["a2b"](x)), atol=1e-5)
    assert torch.allclose(tr.translate(x[:1], "a2b")[0], y[:1], atol=1e-5)    # an image alone, as in a batch
    with pytest.raises(ConfigError, match=r"this run translates 16x16 images with 3 channel\(s\) "
                                          r"\(data.image_size = 16\); got 32x32"):
        tr.translate(torch.zeros(1, 3, 32, 32), "a2b")
    with pytest.raises(ConfigError, match="direction = 'a2c'"):
        tr.translate(x, "a2c")
    with pytest.raises(ConfigError, match="translates images and draws nothing from a latent z"):
        tr.generate(torch.randn(4, tr.cfg.model.latent_dim))
    grid, nrow, caption = tr.grid_images()                                    # rows: A, A->B, A->B->A, B, ...
    assert grid.shape == (48, 3, 16, 16) and nrow == 8 and "A -> B -> A" in caption
    y8, rec8 = tr.translate(tr.real_images("a", 8), "a2b")
    assert torch.equal(grid[:8], tr.real_images("a", 8))
    assert torch.allclose(grid[8:16], y8, atol=1e-5) and torch.allclose(grid[16:24], rec8, atol=1e-5)


class KnownShapes:
    """A stand-in for the shapes classifiers that is right about every real image it was shown: the
    attributes of the identical one, as certain probabilities."""
    accuracy = {"shape": 1.0, "colour": 1.0}

    def __init__(self, tr):
        sets = [(tr.data.pixels, tr.data.attributes)] + [tr.heldout[d] for d in "ab"]
        self.images = torch.cat([p for p, _ in sets]).float().flatten(1) / 127.5 - 1
        self.attributes = {k: torch.cat([a[k] for _, a in sets]) for k in tr.data.attributes}
        self.sizes = {k: len(v) for k, v in tr.data.attribute_values.items()}

    def predict(self, images):
        idx = torch.cdist(images.flatten(1), self.images).argmin(1)
        return None, {k: torch.nn.functional.one_hot(v[idx], self.sizes[k]).float() for k, v in self.attributes.items()}


def test_scores_call_a_faithful_translation_right_and_an_unchanged_image_wrong(trainer, monkeypatch):
    import gan_studio.core.metrics.images as im
    tr = trainer
    data = tr.data
    monkeypatch.setattr(im, "get_metric_model", lambda d: KnownShapes(tr))
    keys = ("colour", "size", "position")

    def faithful(x, direction):
        """Stand-in for the generators: a real image of the other shape with the input's other attributes."""
        src, dst = ("a", 1) if direction == "a2b" else ("b", 0)
        truth = tr.heldout[src][1]
        out = []
        for i in range(len(x)):
            same = data.attributes["shape"] == dst
            for k in keys:
                same &= data.attributes[k] == truth[k][i]
            out.append(data.images[same.nonzero()[0, 0]])
        y = torch.stack(out)
        return y, x

    monkeypatch.setattr(tr, "translate", faithful)
    good = tr.translation_scores(200)
    monkeypatch.setattr(tr, "translate", lambda x, direction: (x, x))
    unchanged = tr.translation_scores(200)
    assert good["a2b_right"] == good["b2a_right"] == 1.0, good
    assert unchanged["a2b_shape"] == unchanged["a2b_right"] == unchanged["b2a_right"] == 0.0, unchanged
    assert unchanged["a2b_position"] == unchanged["a2b_colour"] == 1.0            # kept: it is the input
    assert unchanged["a2b_cycle_l1"] == 0.0 and "classifier_acc" in good


def write_png(path, size, colour=(200, 30, 30)):
    arr = np.zeros((size, size, 3), np.uint8)
    arr[size // 4: size // 2, size // 4: size // 2] = colour
    Image.fromarray(arr).save(path)


def test_cli_trains_the_preset_and_translates_files_and_folders(tmp_path, monkeypatch, capsys):
    import gan_studio.core.metrics.images as im
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(im, "CLASSIFIER_STEPS", 20)
    monkeypatch.setattr(im, "_models", {})
    run = tmp_path / "run"
    tiny = ["--set", "model.ngf=4", "--set", "model.ndf=4", "--set", "train.batch_size=4", "--set",
            "data.num_images=600", "--set", "cyclegan.res_blocks=1", "--device", "cpu", "--quiet"]
    assert main(["train", "cyclegan-shapes", "--steps", "2", "--out", str(run)] + tiny) == 0
    pics = tmp_path / "pics"
    pics.mkdir()
    for i in range(3):
        write_png(pics / f"p{i}.png", 16)
    (pics / "notes.txt").write_text("not a picture")
    capsys.readouterr()
    assert main(["translate", str(run), "--in", str(pics / "p0.png"), "--direction", "a2b",
                 "--out", str(tmp_path / "one.png"), "--sheet", str(tmp_path / "sheet.png")]) == 0
    assert "translated 1 picture A -> B (shape=circle -> shape=square)" in capsys.readouterr().out
    assert np.asarray(Image.open(tmp_path / "one.png")).shape == (16, 16, 3)
    assert Image.open(tmp_path / "sheet.png").height > 3 * 16
    assert main(["translate", str(run), "--in", str(pics), "--direction", "b2a", "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.png", "p1.png", "p2.png"]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    import gan_studio.core.metrics.images as im
    run = tmp_path_factory.mktemp("cg") / "run"
    with pytest.MonkeyPatch.context() as mp:   # the run's last evaluation: a rough classifier, cached here
        mp.setenv("XDG_CACHE_HOME", str(run.parent / "cache"))
        mp.setattr(im, "CLASSIFIER_STEPS", 20)
        mp.setattr(im, "_models", {})
        assert main(["train", "cyclegan-shapes", "--steps", "1", "--out", str(run), "--device", "cpu", "--quiet",
                     "--set", "model.ngf=4", "--set", "model.ndf=4", "--set", "train.batch_size=4", "--set",
                     "data.num_images=600", "--set", "cyclegan.res_blocks=1"]) == 0
    return run


def test_translate_refuses_bad_input_with_one_line_each(cli_run, tmp_path, capsys):
    good = tmp_path / "good.png"
    write_png(good, 16)
    big = tmp_path / "big.png"
    write_png(big, 32)
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    write_png(mixed / "a.png", 16)
    write_png(mixed / "b.png", 24)
    cases = [
        (["--in", str(big), "--out", str(tmp_path / "o.png")],
         "big.png: 32x32 pixels; this run translates 16x16 pictures (data.image_size = 16): resize it first"),
        (["--in", str(mixed), "--out", str(tmp_path / "mixed-out")], "b.png: 24x24 pixels"),
        (["--in", str(empty), "--out", str(tmp_path / "o2")], "no pictures in the folder"),
        (["--in", str(broken), "--out", str(tmp_path / "o.png")], "broken.png: not a readable picture"),
        (["--in", str(tmp_path / "nowhere.png"), "--out", str(tmp_path / "o.png")], "no such file or folder"),
        (["--in", str(good), "--out", str(tmp_path / "o.jpg")], "ending in .png"),
        (["--in", str(mixed), "--out", str(mixed)], "the same folder as --in"),
        (["--in", str(good), "--out", str(good)], "the same file as --in"),   # was overwritten in place
        (["--in", str(good), "--out", str(tmp_path / "o.png"), "--sheet", str(tmp_path / "o.png")],
         "also the file of a translation (--out) or an input (--in)"),          # the sheet replaced the translation
        (["--in", str(mixed), "--out", str(tmp_path / "mixed-out"), "--sheet", str(tmp_path / "mixed-out" / "a.png")],
         "also the file of a translation"),
    ]
    before = good.read_bytes()
    for extra, message in cases:
        capsys.readouterr()
        assert main(["translate", str(cli_run), "--direction", "a2b"] + extra) == 2, extra
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "mixed-out").exists()   # nothing half-written
    assert good.read_bytes() == before
    ring = tmp_path / "ring"
    assert main(["train", "ring8", "--steps", "1", "--out", str(ring), "--device", "cpu", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["translate", str(ring), "--in", str(good), "--direction", "a2b",
                 "--out", str(tmp_path / "r.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "translate needs one that translates between two domains (model.family = cyclegan)" in err
