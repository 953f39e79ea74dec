"""A command that reads a run folder never writes into it: an output (--out, --latents-out, --sheet)
inside a run folder the command reads is one line and exit 2, before anything is read or written, for
every command that has one (sample, latent, translate, export, compare, figure, fork), however the path
gets there: the folder itself, a sub-folder of it, a relative path, a symlink. An output outside works.
The run folder belongs to its training (one writer, atomic files, a window watching it); a stray file
in it confuses its readers. One check, core.io.refuse_output_in_runs, for all of them."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_studio.cli import main
from cli_helpers import cli

TINY = ["--quiet", "--device", "cpu", "--set", "model.g_width=8", "--set", "model.d_width=8",
        "--set", "model.g_depth=1", "--set", "model.d_depth=1", "--set", "train.batch_size=8"]
LATENT = 8   # the image run's latent size


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A 2-D run that kept samples (sample, compare, figure, export, fork), an image run (latent) and a
    CycleGAN run (translate), each tiny; and their inputs (latents, a picture)."""
    from gan_studio.core.presets import load_preset
    from gan_studio.core.runs import RunFolder
    from gan_studio.core.families.registry import make_trainer
    root = tmp_path_factory.mktemp("out-outside")
    ring = root / "ring"
    assert main(["train", "ring8", "--steps", "2", "--out", str(ring), *TINY,
                 "--set", "train.keep_samples_at=[0,2]"]) == 0
    made = {"ring": ring}
    for name, preset, settings in [
        ("shapes", "shapes", {"data.image_size": 16, "data.num_images": 64, "model.latent_dim": LATENT,
                              "model.ngf": 8, "model.ndf": 8, "train.batch_size": 8, "train.eval_every": 10_000}),
        ("cyclegan", "cyclegan-shapes", {"model.ngf": 4, "model.ndf": 4, "train.batch_size": 4,
                                         "data.num_images": 600, "cyclegan.res_blocks": 1,
                                         "train.eval_every": 10_000})]:
        cfg = load_preset(preset)
        for key, value in settings.items():
            cfg.set(key, value)
        tr = make_trainer(cfg, device="cpu")
        RunFolder.create(root / name, tr.cfg).save_checkpoint(tr)
        made[name] = root / name
    np.save(root / "z.npy", np.random.default_rng(0).standard_normal((2, LATENT)).astype(np.float32))
    picture = np.zeros((16, 16, 3), np.uint8)
    picture[4:8, 4:8] = (200, 30, 30)
    Image.fromarray(picture).save(root / "circle.png")
    made["inputs"] = root
    return made


#: command -> (the run it reads, argv before the output option, the output option, what it names: file or folder)
COMMANDS = {
    "sample": ("ring", lambda r, i: ["sample", r, "--n", "10"], "--out", "x.png"),
    "sample --latents-out": ("ring", lambda r, i: ["sample", r, "--n", "10", "--out", i / "s.npy"],
                             "--latents-out", "z.npy"),
    "latent": ("shapes", lambda r, i: ["latent", r, "--interpolate", i / "z.npy"], "--out", "x.png"),
    "latent --latents-out": ("shapes", lambda r, i: ["latent", r, "--interpolate", i / "z.npy", "--out", i / "l.png"],
                             "--latents-out", "z.npy"),
    "translate": ("cyclegan", lambda r, i: ["translate", r, "--in", i / "circle.png", "--direction", "a2b"],
                  "--out", "x.png"),
    "translate --sheet": ("cyclegan", lambda r, i: ["translate", r, "--in", i / "circle.png", "--direction", "a2b",
                                                    "--out", i / "t.png"], "--sheet", "sheet.png"),
    "export": ("ring", lambda r, i: ["export", "tensorboard", r], "--out", "tb"),
    "compare": ("ring", lambda r, i: ["compare", r], "--out", "x.png"),
    "figure": ("ring", lambda r, i: ["figure", "timeline", r], "--out", "x.png"),
    "fork": ("ring", lambda r, i: ["fork", r], "--out", "fork"),
}


def listing(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` and its size (the lock file a fork takes aside)."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


@pytest.mark.parametrize("way", ["the run folder", "a sub-folder", "a relative path", "a symlink"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_output_inside_the_run_folder_read_is_refused(runs, tmp_path, capsys, monkeypatch, command, way):
    kind, argv, option, name = COMMANDS[command]
    run, inputs = runs[kind], runs["inputs"]
    before = listing(run)
    if way == "the run folder":
        out = run / name
    elif way == "a sub-folder":
        out = run / "snapshots" / name          # where the training writes its pictures
    elif way == "a relative path":
        monkeypatch.chdir(run.parent)           # RUN/snapshots/../x.png, relative: the run folder itself
        out = Path(run.name) / "snapshots" / ".." / name
    else:
        (tmp_path / "link").symlink_to(run, target_is_directory=True)   # looks like a folder of its own
        out = tmp_path / "link" / name
    rc, _, err = cli(capsys, *argv(run, inputs), option, out)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert f"{option} {out} is inside the run folder {run}; choose a path outside it" in lines[0]
    assert listing(run) == before and not (run / name).exists() and not (run / "snapshots" / name).exists()


def test_a_run_named_through_a_symlink_is_the_same_run(runs, tmp_path, capsys):
    run = runs["ring"]
    (tmp_path / "alias").symlink_to(run, target_is_directory=True)
    rc, _, err = cli(capsys, "sample", tmp_path / "alias", "--n", "10", "--out", run / "x.npy")
    assert rc == 2 and f"--out {run / 'x.npy'} is inside the run folder {tmp_path / 'alias'}" in err
    assert not (run / "x.npy").exists()


def test_a_sibling_whose_name_begins_with_the_runs_is_outside(runs, capsys):
    """runs/ring-notes/x.npy is beside runs/ring, not inside it (a prefix of the text is not a parent)."""
    run = runs["ring"]
    sibling = run.parent / f"{run.name}-notes"
    sibling.mkdir(exist_ok=True)
    rc, _, err = cli(capsys, "sample", run, "--n", "10", "--out", sibling / "x.npy")
    assert rc == 0, err
    assert np.load(sibling / "x.npy").shape == (10, 2)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_output_outside_the_run_folder_is_written(runs, tmp_path, capsys, command):
    kind, argv, option, name = COMMANDS[command]
    run, inputs = runs[kind], runs["inputs"]
    before = listing(run)
    out = tmp_path / "elsewhere" / name
    out.parent.mkdir()
    rc, _, err = cli(capsys, *argv(run, inputs), option, out)
    assert rc == 0, err
    assert out.is_file() or (out.is_dir() and any(out.iterdir()))
    assert listing(run) == before


def test_the_commands_share_one_check():
    """compare, figure, export, sample, latent, translate and fork ask core.io.refuse_output_in_runs; no copy
    of the check is left in any command."""
    import gan_studio.cli as cli_package
    import gan_studio.core.fork as fork
    folder = Path(cli_package.__file__).parent
    for module in ("compare", "figure", "export", "sample", "latent", "translate"):
        text = (folder / f"{module}.py").read_text()
        assert "refuse_output_in_runs(" in text and "is_relative_to" not in text, module
    text = Path(fork.__file__).read_text()
    assert "refuse_output_in_runs(" in text and "is_relative_to" not in text
    assert os.path.isfile(folder.parent / "core" / "io.py")
