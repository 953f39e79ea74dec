"""A conditional run keeps its class names in its checkpoint: it draws a class by name with its pictures
gone, damaged names are refused in one line, and a checkpoint saved before names were kept still works
(by name with its pictures, by index without them, said so)."""
from __future__ import annotations

import contextlib
import queue
import shutil

import numpy as np
import pytest
import torch

from cli_helpers import cli
from test_bad_input import one_line_error

CLASSES = {"cats": 30, "dogs": 220}   # sub-folder -> grey level of its pictures


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory):
    """A 2-step cgan run (DCGAN, 16 px, 4 feature maps) on a folder of two classes, and that folder."""
    from PIL import Image

    import gan_studio.core.metrics.images as im
    from gan_studio.cli import main
    root = tmp_path_factory.mktemp("cgan-names")
    pictures = root / "pictures"
    for name, level in CLASSES.items():
        (pictures / name).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((16, 16, 3), level + 10 * i, np.uint8)).save(pictures / name / f"{i}.png")
    with pytest.MonkeyPatch.context() as mp:   # the run's last evaluation trains a rough metric classifier
        mp.setenv("XDG_CACHE_HOME", str(root / "cache"))
        mp.setattr(im, "CLASSIFIER_STEPS", 20)
        mp.setattr(im, "_models", {})
        assert main(["train", "shapes", "--steps", "2", "--out", str(root / "run"), "--quiet", "--device", "cpu",
                     "--set", "data.name=folder", f"--set=data.path={pictures}", "--set", "data.image_size=16",
                     "--set", "model.ngf=4", "--set", "model.ndf=4", "--set", "train.batch_size=4",
                     "--set", "model.family=cgan"]) == 0
    return root / "run", pictures


@contextlib.contextmanager
def pictures_moved(pictures):
    """The run's pictures are elsewhere for the block (put back after it)."""
    away = pictures.with_name("moved")
    pictures.rename(away)
    try:
        yield
    finally:
        away.rename(pictures)


def copy_with(run, tmp_path, edit):
    """A copy of ``run`` whose checkpoint's state went through ``edit(state)``."""
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    state = torch.load(copy / "checkpoint.pt", weights_only=True)
    edit(state)
    torch.save(state, copy / "checkpoint.pt")
    return copy


def sample(capsys, run, out, *more):
    rc, said, err = cli(capsys, "sample", run, "--n", "4", "--seed", "3", "--out", out, *more)
    return rc, said, err, (np.load(out) if rc == 0 else None)


def test_the_checkpoint_keeps_the_class_names(cgan_run):
    run, _ = cgan_run
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["extra"]["class_names"] == ["cats", "dogs"]


def test_a_run_whose_pictures_moved_draws_a_class_by_name(cgan_run, tmp_path, capsys):
    """sample said 'a model.family = 'cgan' run needs its pictures even to draw'."""
    run, pictures = cgan_run
    _, _, _, dogs_by_index = sample(capsys, run, tmp_path / "i.npy", "--label", "1")   # pictures there
    with pictures_moved(pictures):
        rc, said, err, dogs = sample(capsys, run, tmp_path / "d.npy", "--label", "dogs")
        assert rc == 0 and "wrote 4 samples" in said and not err, err
        _, _, _, cats = sample(capsys, run, tmp_path / "c.npy", "--label", "cats")
        rc, _, err, _ = sample(capsys, run, tmp_path / "x.npy", "--label", "cows")
        one_line_error(rc, err, "--label 'cows' is not a class of this run", "one of: cats, dogs")
    np.testing.assert_array_equal(dogs, dogs_by_index)   # the class drawn is the run's class 1, dogs
    assert not np.allclose(dogs, cats)


def test_the_engine_opens_a_run_whose_pictures_moved_to_draw_not_to_train(cgan_run, tmp_path):
    """The window's engine could not open it; it now shows its classes and refuses to train or fork
    it (its stand-in config names no pictures: saving it would lose them)."""
    from gan_studio.session import protocol as P
    from gan_studio.session.engine import TrainingEngine
    run, pictures = cgan_run
    before = (run / "checkpoint.pt").read_bytes()
    replies: list = []
    engine = TrainingEngine(tmp_path, "cpu", queue.Queue(), replies.append)
    with pictures_moved(pictures):
        engine.open_run(P.Open(str(run)))
        opened = [r for r in replies if isinstance(r, P.Opened)]
        assert opened and opened[-1].info.class_names == ["cats", "dogs"], replies
        z = np.zeros((2, engine._tr.cfg.model.latent_dim), np.float32)
        _, dogs = engine.render_latents(P.RenderLatents(z, 1))
        _, cats = engine.render_latents(P.RenderLatents(z, 0))
        assert dogs.shape[0] == 2 and not np.array_equal(dogs, cats)   # the lab draws the class it is given
        engine.run_steps(P.RunSteps(1))
        failed = [r.message for r in replies if isinstance(r, P.Failed)]
        assert failed and "opened without its pictures" in failed[-1] and "to train it" in failed[-1], failed
        assert not engine._busy()
        with pytest.raises(Exception, match="open it again to fork it"):
            engine.fork(P.Fork(out_dir=str(tmp_path / "fork")))
        engine._finish_run()
    assert (run / "checkpoint.pt").read_bytes() == before


@pytest.mark.parametrize("names, problem", [
    (["cats"], "1 name for the 2 classes its generator draws"),
    (["cats", 7], "name 1 is not text but int"),
    (["cats"] * 70_000, "70,000 names, more than the 65,536 a run may have"),
    ("cats,dogs", "not a list of names but str"),
    (["cats", "x" * 10_000], "name 1 has 10,000 characters; a name has 1 to 255"),
    (["cats", "cats"], "name 1, 'cats', names another class too"),
], ids=["too-few", "not-text", "huge", "not-a-list", "too-long", "twice"])
def test_damaged_class_names_are_refused_in_one_line(cgan_run, tmp_path, capsys, names, problem):
    run, pictures = cgan_run
    damaged = copy_with(run, tmp_path, lambda s: s["extra"].__setitem__("class_names", names))
    for where in ("there", "moved"):
        with pictures_moved(pictures) if where == "moved" else contextlib.nullcontext():
            rc, _, err, _ = sample(capsys, damaged, tmp_path / "s.npy", "--label", "cats")
        line = one_line_error(rc, err, f"the checkpoint's class names are damaged ({problem})",
                              "damaged or edited")
        assert len(line) < 300 and not (tmp_path / "s.npy").exists()


def test_a_checkpoint_saved_before_class_names_were_kept_still_draws(cgan_run, tmp_path, capsys):
    """With its pictures: by name, as before. Without them: by index (the rows of G's label embedding),
    and it says why the names are indices."""
    run, pictures = cgan_run
    old = copy_with(run, tmp_path, lambda s: s["extra"].pop("class_names", None))
    _, _, _, dogs = sample(capsys, run, tmp_path / "new.npy", "--label", "dogs")
    rc, _, err, old_dogs = sample(capsys, old, tmp_path / "old.npy", "--label", "dogs")
    assert rc == 0 and not err, err
    np.testing.assert_array_equal(old_dogs, dogs)
    with pictures_moved(pictures):
        rc, _, err, by_index = sample(capsys, old, tmp_path / "i.npy", "--label", "1")
        assert rc == 0 and "no class names" in err and "named by index, 0..1" in err, err
        rc, _, err, _ = sample(capsys, old, tmp_path / "x.npy", "--label", "dogs")
        one_line_error(rc, err, "--label 'dogs' is not a class of this run; choose an index 0..1",
                       "the checkpoint holds no class names")
    np.testing.assert_array_equal(by_index, dogs)
