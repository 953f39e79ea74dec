"""The command line's edges, as a new user meets them: values that start with a minus, values too
long to echo, pictures too large to read, indices out of range, a run whose data have moved. Each
ends in one line naming the option and what it takes (or, where nothing is wrong, works)."""
from __future__ import annotations

import pytest

from cli_helpers import cli
from test_bad_input import one_line_error


# -- values that start with a minus -------------------------------------------------------------------
@pytest.mark.parametrize("option", ["--size", "--panel-size"])
def test_a_negative_size_is_one_line_naming_the_option_and_its_range(tmp_path, capsys, option):
    """argparse took '-5x10' for an unknown option: the usage block and 'expected one argument'."""
    rc, _, err = cli(capsys, "gui", option, "-5x10", "--screenshot", tmp_path / "w.png")
    assert rc == 2
    one_line_error(rc, err, f"{option} '-5x10'", "100 to 8000 pixels")
    assert "usage:" not in err and not (tmp_path / "w.png").exists()


def test_a_bad_command_line_is_one_line_that_points_at_the_help(capsys):
    """argparse's own errors (a word that is not a number, a missing option) printed the usage block first."""
    for argv, words in ((["train", "ring8", "--steps", "abc"], "invalid int value: 'abc'"),
                        (["train", "ring8"], "required: --steps")):
        rc, _, err = cli(capsys, *argv)
        assert rc == 2
        one_line_error(rc, err, words, "see `gan-studio train --help`")
        assert "usage:" not in err


# -- values too long to echo ------------------------------------------------------------------------
def test_a_very_long_steps_value_is_cut_in_the_message_and_the_bad_step_named(tmp_path, capsys):
    """figure timeline --steps echoed all of a 14,000-character value in its one line."""
    steps = ",".join(str(i) for i in range(3000)) + ",x"
    rc, _, err = cli(capsys, "figure", "timeline", tmp_path / "run", "--steps", steps, "--out", tmp_path / "f.png")
    line = one_line_error(rc, err, "--steps '0,1,2,3,", "... (", "'x' is not a step", "e.g. 0,5000,10000")
    assert len(line) < 300 and steps not in line and rc == 2


def test_a_step_in_other_digits_is_refused_in_words(tmp_path, capsys):
    """'²'.isdigit() is True and int('²') raises: a traceback."""
    rc, _, err = cli(capsys, "figure", "timeline", tmp_path / "run", "--steps", "0,²", "--out", tmp_path / "f.png")
    one_line_error(rc, err, "'²' is not a step")


# -- pictures whose header claims too many pixels ---------------------------------------------------------
def _no_bomb_warning(record) -> None:
    from PIL import Image
    assert not [w for w in record if issubclass(w.category, Image.DecompressionBombWarning)], \
        "Pillow's DecompressionBombWarning was printed"


@pytest.mark.parametrize("side", [10_000, 30_000], ids=["100M-pixels-pillow-warns", "900M-pixels-pillow-refuses"])
def test_a_picture_claiming_too_many_pixels_is_refused_without_pillows_warning(tmp_path, capsys, side):
    """A header claiming 89-179 million pixels printed Pillow's DecompressionBombWarning, then 'not a
    readable picture (OSError)' (above 179 million: our 'too many pixels' line, with no warning)."""
    import warnings

    import numpy as np
    from PIL import Image

    from gan_studio.cli.translate import read_picture
    from gan_studio.core.errors import DataError
    from test_bad_input_more import png_claiming
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for i in range(4):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(pictures / f"ok{i}.png")
    png_claiming(pictures / "bomb.png", side, side)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        rc, _, err = cli(capsys, "train", "shapes", "--steps", "1", "--out", tmp_path / "run", "--quiet",
                         "--device", "cpu", "--set", "data.name=folder", f"--set=data.path={pictures}",
                         "--set", "data.image_size=16", "--set", "model.ngf=4", "--set", "model.ndf=4")
        one_line_error(rc, err, "bomb.png: too many pixels", f"more than {Image.MAX_IMAGE_PIXELS:,}")
        with pytest.raises(DataError, match=f"bomb.png: its header claims more than {Image.MAX_IMAGE_PIXELS:,} "
                                            "pixels; this run translates 16x16 pictures"):
            read_picture(pictures / "bomb.png", 16, 3)   # gan-studio translate --in
    _no_bomb_warning(record)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_tensorboard_export_passes_over_a_forged_grid_without_pillows_warning(tmp_path):
    import warnings

    from gan_studio.core.tensorboard_export import _read_png
    from test_bad_input_more import png_claiming
    png_claiming(tmp_path / "step_100.png", 10_000, 10_000)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert _read_png(tmp_path / "step_100.png") is None   # not a picture it draws
    _no_bomb_warning(record)


# -- latent: indices ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A 1-step digits run (DCGAN at 16 px, 4 feature maps) and the 16 latents of its sample grid."""
    from gan_studio.cli import main
    path = tmp_path_factory.mktemp("edges") / "run"
    assert main(["train", "digits", "--steps", "1", "--out", str(path), "--quiet", "--device", "cpu",
                 "--set", "model.ngf=4", "--set", "model.ndf=4", "--set", "train.batch_size=4"]) == 0
    z = path.parent / "z.npy"
    assert main(["sample", str(path), "--n", "16", "--out", str(path.parent / "grid.png"),
                 "--latents-out", str(z)]) == 0
    return path, z


@pytest.mark.parametrize("spec", ["-1", "3,-2"])
def test_a_negative_latent_index_is_out_of_range_not_a_missing_file(digits_run, tmp_path, capsys, spec):
    """`latent --a -1` said '--a -1: no such file'."""
    run, z = digits_run
    rc, _, err = cli(capsys, "latent", run, "--z", z, "--a", spec, "--b", "1", "--c", "2", "--out", tmp_path / "l.png")
    bad = min(int(t) for t in spec.split(","))
    one_line_error(rc, err, f"--a {spec}: index {bad} is out of range: indices count from 0",
                   f"rows 0..15 of --z {z}")
    assert "no such file" not in err and not (tmp_path / "l.png").exists()
    rc, _, err = cli(capsys, "latent", run, "--interpolate", spec, "--out", tmp_path / "l.png")   # without --z
    one_line_error(rc, err, f"--interpolate {spec}: index {bad} is out of range")


# -- a run whose pictures have moved -----------------------------------------------------------------------
@pytest.fixture
def quick_classifier(tmp_path, monkeypatch):
    """The run's last evaluation trains a classifier of its pictures: a rough one, cached in tmp_path."""
    import gan_studio.core.metrics.images as im
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(im, "CLASSIFIER_STEPS", 20)
    monkeypatch.setattr(im, "_models", {})


def _folder_run(tmp_path, pictures, family: str, *settings: str):
    from gan_studio.cli import main
    run = tmp_path / f"run-{family}"
    assert main(["train", "shapes", "--steps", "1", "--out", str(run), "--quiet", "--device", "cpu",
                 "--set", "data.name=folder", f"--set=data.path={pictures}", "--set", "data.image_size=16",
                 "--set", "model.ngf=4", "--set", "model.ndf=4", "--set", "train.batch_size=4",
                 "--set", f"model.family={family}", *settings]) == 0
    return run


@pytest.mark.parametrize("grey", [False, True], ids=["colour", "grey"])
def test_sample_and_latent_draw_from_a_run_whose_pictures_have_moved(tmp_path, capsys, quick_classifier, grey):
    """sample said "data.path = '...': no such folder" though G draws without a single picture; the
    same samples come out as when the pictures were there (grey pictures: data.channels = 0 read as 1
    from the weights). Training on needs them, and still says so."""
    import numpy as np
    from PIL import Image
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for i in range(4):
        Image.fromarray(np.full((16, 16) if grey else (16, 16, 3), 40 * i, np.uint8)).save(pictures / f"p{i}.png")
    run = _folder_run(tmp_path, pictures, "gan")
    assert cli(capsys, "sample", run, "--n", "4", "--out", tmp_path / "before.npy")[0] == 0
    pictures.rename(tmp_path / "moved")
    rc, out, err = cli(capsys, "sample", run, "--n", "4", "--out", tmp_path / "after.npy",
                       "--latents-out", tmp_path / "z.npy")
    assert rc == 0 and "wrote 4 samples" in out, err
    before, after = np.load(tmp_path / "before.npy"), np.load(tmp_path / "after.npy")
    assert after.shape == (4, 1 if grey else 3, 16, 16) and np.array_equal(before, after)
    rc, out, err = cli(capsys, "latent", run, "--z", tmp_path / "z.npy", "--interpolate", "0,3", "--steps", "3",
                       "--out", tmp_path / "strip.png")
    assert rc == 0 and "interpolation strip (3 images" in out, err
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "1", "--quiet")
    one_line_error(rc, err, f"data.path = '{pictures}': no such folder")


def test_sampling_a_run_built_from_its_pictures_whose_pictures_have_moved_says_it_needs_them(tmp_path, capsys,
                                                                                             quick_classifier):
    """An ssl run's networks are built from its labelled pictures: G cannot be built without them. (A cgan
    run's classes, the sub-folders, are kept in its checkpoint: tests/test_cgan_class_names.py.)"""
    import numpy as np
    from PIL import Image
    pictures = tmp_path / "pictures"
    for c in ("cats", "dogs"):
        (pictures / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((16, 16, 3), 60 * i, np.uint8)).save(pictures / c / f"{i}.png")
    run = _folder_run(tmp_path, pictures, "ssl", "--set", "model.arch=mlp", "--set", "loss=non-saturating",
                      "--set", "model.g_width=16", "--set", "model.d_width=16", "--set", "ssl.labels_per_class=1")
    capsys.readouterr()
    pictures.rename(tmp_path / "moved")
    rc, _, err = cli(capsys, "sample", run, "--n", "4", "--out", tmp_path / "s.png")
    one_line_error(rc, err, f"data.path = '{pictures}': no such folder",
                   "a model.family = 'ssl' run needs its pictures even to draw", "put them back at data.path")
    assert not (tmp_path / "s.png").exists()


# -- digits that are not ASCII -------------------------------------------------------------------------------
def test_a_superscript_digit_is_refused_in_words(tmp_path, capsys, quick_classifier):
    """'²'.isdigit() is True but int('²') raises: gui --change '²:...' and sample --label ² were tracebacks."""
    from gan_studio.cli import main
    rc, _, err = cli(capsys, "gui", "--run-steps", "2", "--change", "²:tricks.packing.enabled=true",
                     "--screenshot", tmp_path / "w.png")
    one_line_error(rc, err, "--change expects STEP:KEY=VALUE", "got '²:tricks.packing.enabled=true'")
    run = tmp_path / "cgan"
    assert main(["train", "digits", "--steps", "1", "--out", str(run), "--quiet", "--device", "cpu", "--set",
                 "model.family=cgan", "--set", "model.ngf=4", "--set", "model.ndf=4", "--set", "train.batch_size=4"]) == 0
    capsys.readouterr()
    rc, _, err = cli(capsys, "sample", run, "--n", "4", "--label", "²", "--out", tmp_path / "s.png")
    one_line_error(rc, err, "--label '²' is not a class of this run; choose an index 0..9")
    assert not (tmp_path / "s.png").exists()


# -- empty values and names too long for the file system -----------------------------------------------------
def test_an_empty_value_is_refused_by_name(digits_run, tmp_path, capsys, monkeypatch):
    """`sample "$RUN"` with RUN unset sampled the current folder ('--out s.png is inside the run folder ;'),
    `--z ""` drew 2,500 random latents as if no --z were given, `presets ""` listed every preset."""
    run, _ = digits_run
    monkeypatch.chdir(tmp_path)
    for argv, name in ((["sample", "", "--n", "4", "--out", "s.png"], "DIR"),
                       (["sample", run, "--z", "", "--out", "s.png"], "--z"),
                       (["compare", run, "--metrics", ""], "--metrics"),
                       (["presets", ""], "NAME")):
        rc, out, err = cli(capsys, *argv)
        one_line_error(rc, err, f"argument {name}: the value is empty")
        assert rc == 2 and not out
    assert not (tmp_path / "s.png").exists()


def test_a_name_too_long_for_the_file_system_is_the_input_in_one_short_line(digits_run, tmp_path, capsys):
    """'File name too long: <the whole path>' with exit 1 (the machine's status); a preset name of 300
    letters reached the file system too, and argparse echoed a 300-letter --steps whole."""
    run, _ = digits_run
    long = "x" * 300
    for argv in (["metrics", tmp_path / long], ["sample", run, "--n", "4", "--out", tmp_path / f"{long}.png"]):
        rc, _, err = cli(capsys, *argv)
        line = one_line_error(rc, err, "a name in the path is longer than the file system allows", "characters)")
        assert rc == 2 and long not in line
    for argv, words in ((["presets", long], "unknown preset 'xxxx"),
                        (["train", "ring8", "--steps", long], "invalid int value: 'xxxx")):
        rc, _, err = cli(capsys, *argv)
        assert rc == 2 and long not in one_line_error(rc, err, words, "...")


# -- latent --strength ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("strength, words", [("1e39", "moves the latents beyond float32's range"),
                                             ("nan", "must be a finite number")])
def test_a_strength_that_breaks_the_latents_is_named(digits_run, tmp_path, capsys, strength, words):
    """--strength 1e39 printed numpy's 'overflow encountered in cast' and then 'latents: holds NaN or
    infinite values', naming neither the option nor the value."""
    import warnings

    import numpy as np

    from gan_studio.core.latent import Direction, save_directions
    from test_bad_input import copy_run
    run = copy_run(digits_run[0], tmp_path / "run")
    save_directions(run, [Direction("up", np.ones(64, np.float32))], 64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # numpy's RuntimeWarning, printed on stderr outside the tests
        rc, _, err = cli(capsys, "latent", run, "--direction", "up", "--to", digits_run[1], "--strength", strength,
                         "--out", tmp_path / "moved.png")
    one_line_error(rc, err, f"--strength = {float(strength)}: {words}")
    assert not (tmp_path / "moved.png").exists()


# -- import-generator's sizes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("option, value, key", [("--ngf", "0", "model.ngf"), ("--nz", "99999", "model.latent_dim")])
def test_an_import_size_out_of_range_names_the_option(tmp_path, capsys, option, value, key):
    """'model.ngf = 0 is out of range' named a config key the command line never mentioned."""
    import torch

    from test_import_generator import ExamplesGenerator
    torch.save(ExamplesGenerator(nz=8, ngf=4, nc=1).state_dict(), tmp_path / "netG.pth")
    argv = {"--nz": "8", "--ngf": "4", option: value}
    rc, _, err = cli(capsys, "import-generator", tmp_path / "netG.pth", "--nc", "1",
                     *[w for kv in argv.items() for w in kv], "--out", tmp_path / "run")
    one_line_error(rc, err, f"{option}: {key} = {value} is out of range")
    assert not (tmp_path / "run").exists()


# -- sweep --address ---------------------------------------------------------------------------------------------
def test_an_address_whose_port_is_no_number_is_one_line(tmp_path, capsys):
    """--address h:² ended in int('²')'s traceback ('²'.isdigit() is True)."""
    pytest.importorskip("ray")
    rc, _, err = cli(capsys, "sweep", "ring8", "--param", "train.lr_d=1e-4", "--steps", "1", "--samples", "1",
                     "--address", "h:²", "--out", tmp_path / "sweep")
    one_line_error(rc, err, "--address h:²: the port '²' is not a number; give HOST:PORT")
    assert not (tmp_path / "sweep").exists()


# -- latents files that are not .npy arrays --------------------------------------------------------------------
@pytest.mark.parametrize("kind, words", [
    ("text", "not a .npy file (it does not start with NumPy's header)"),
    ("npz", "an .npz archive of several arrays, not a single .npy array"),
    ("folder", "is a folder, not a .npy file"),
])
def test_a_latents_file_that_is_no_npy_array_says_what_it_is(digits_run, tmp_path, capsys, kind, words):
    """A text file was 'This file contains pickled (object) data. If you trust the file you can load it
    unsafely using the `allow_pickle=` keywo' (numpy's guess, cut mid-word, and advice never to follow);
    sample --z on a folder was '[Errno 21] Is a directory'."""
    import numpy as np
    path = tmp_path / "z.npy"
    if kind == "text":
        path.write_text("0.1 0.2 0.3\n")
    elif kind == "npz":
        with open(path, "wb") as fh:
            np.savez(fh, z=np.zeros((2, 64), np.float32))
    else:
        path.mkdir()
    run, _ = digits_run
    for argv, option in ((["sample", run, "--z", path, "--out", tmp_path / "s.png"], "--z"),
                         (["latent", run, "--a", path, "--b", "1", "--c", "2", "--out", tmp_path / "l.png"], "--a")):
        rc, _, err = cli(capsys, *argv)
        line = one_line_error(rc, err, f"{option} {path}: {words}")
        assert "pickle" not in line and "Errno" not in line


# -- a file or a run folder given where a preset goes -------------------------------------------------------------
def test_a_file_or_run_folder_given_as_the_preset_says_what_it_is(digits_run, tmp_path, capsys, monkeypatch):
    """`train notes.txt` and `train run` (a run folder in the current folder) said 'unknown preset' and listed
    the presets, as for a typo."""
    import shutil
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("lr 1e-4\n")
    shutil.copytree(digits_run[0], tmp_path / "myrun", ignore=shutil.ignore_patterns(".lock"))
    rc, _, err = cli(capsys, "train", "notes.txt", "--steps", "1")
    one_line_error(rc, err, "notes.txt is a file here, but a config file must end in .toml or .json")
    rc, _, err = cli(capsys, "train", "myrun", "--steps", "1")
    one_line_error(rc, err, "myrun is a folder, not a config file",
                   "it is a run folder: continue it with gan-studio train --resume myrun")


# -- metrics --classifiers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("seeds, reason", [("5-2", "the range 5-2 runs backwards"), ("0-99999", "at most 10,000 seeds")])
def test_classifier_seeds_out_of_range_say_why(digits_run, capsys, seeds, reason):
    """'5-2' and '0-99999' were told only 'give seeds as 0,1,2 or 0-2', which they look like."""
    rc, _, err = cli(capsys, "metrics", digits_run[0], "--classifiers", seeds)
    one_line_error(rc, err, f"argument --classifiers: '{seeds}': {reason}; give seeds as 0,1,2 or 0-2")


# -- compare: one run named twice ---------------------------------------------------------------------------------
def test_compare_refuses_a_run_named_twice(digits_run, tmp_path, capsys):
    """compare RUN RUN drew every curve twice under one name, and its CSV held two columns of one name."""
    run = digits_run[0]
    rc, _, err = cli(capsys, "compare", run, f"{run}/", "--out", tmp_path / "c.csv")
    one_line_error(rc, err, f"{run} and {run}/ are the same run: name each run once")
    assert not (tmp_path / "c.csv").exists()


def test_a_step_past_ten_digits_is_told_as_too_large_not_as_no_number(tmp_path, capsys):
    """'99999999999 is not a step; expected whole numbers' said of a whole number."""
    rc, _, err = cli(capsys, "figure", "timeline", tmp_path / "run", "--steps", "0,99999999999",
                     "--out", tmp_path / "f.png")
    line = one_line_error(rc, err, "'99999999999' is past any step a run keeps (at most 10 digits)")
    assert "whole numbers" not in line


# -- --device ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["sample", "latent", "train"])
def test_a_device_that_is_not_here_is_said_of_the_option(digits_run, tmp_path, capsys, command):
    """sample --device cuda said "train.device = 'cuda': ..." (a config key the command line never named),
    after reading the run."""
    run, z = digits_run
    argv = {"sample": ["sample", run, "--n", "4", "--out", tmp_path / "s.png"],
            "latent": ["latent", run, "--interpolate", z, z, "--out", tmp_path / "s.png"],
            "train": ["train", "ring8", "--steps", "1", "--out", tmp_path / "run"]}[command]
    rc, _, err = cli(capsys, *argv, "--device", "tpu")
    line = one_line_error(rc, err, "--device = 'tpu' is not allowed; choose auto, cpu, cuda, cuda:N or mps")
    assert "train.device" not in line and not (tmp_path / "s.png").exists() and not (tmp_path / "run").exists()


# -- metrics on what is not a run's log ------------------------------------------------------------------------------
def test_metrics_says_which_of_no_folder_no_rows_yet_or_a_folder_in_the_logs_place(digits_run, tmp_path, capsys):
    """Each was 'X has no metrics.jsonl: it is not a run folder', of a missing path, of a run before its
    first row and of a run whose log is a folder alike."""
    import shutil
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy(digits_run[0] / "config.json", fresh)
    broken = tmp_path / "broken"
    shutil.copytree(digits_run[0], broken, ignore=shutil.ignore_patterns(".lock", "metrics.jsonl"))
    (broken / "metrics.jsonl").mkdir()
    for path, words in ((tmp_path / "nowhere", f"no run folder at {tmp_path / 'nowhere'}"),
                        (fresh, f"{fresh} has no metrics.jsonl yet: no step of this run was logged"),
                        (broken, f"{broken / 'metrics.jsonl'} is a folder, where a file is needed")):
        rc, _, err = cli(capsys, "metrics", path)
        assert "not a run folder" not in one_line_error(rc, err, words)


# -- step counts past what a run can hold -----------------------------------------------------------------
def test_a_step_count_past_what_a_run_holds_is_refused_before_training(tmp_path, capsys):
    """train --steps 10**23 (and bench modes, gui --run-steps) was accepted and trained for ever towards a step
    no checkpoint may hold (a resume refuses a step past 9,999,999,999 as damaged)."""
    from gan_studio.core.runs import MAX_STEP
    huge = str(10 ** 23)
    for argv in (["train", "ring8", "--steps", huge, "--out", tmp_path / "r", "--quiet"],
                 ["bench", "modes", "--steps", huge, "--seeds", "1", "--data", "ring8"],
                 ["gui", "--run-steps", huge, "--screenshot", tmp_path / "s.png"]):
        rc, _, err = cli(capsys, *argv)
        option = "--run-steps" if argv[0] == "gui" else "--steps"
        one_line_error(rc, err, f"{option} = {10 ** 23:,}", f"at most {MAX_STEP:,} steps in all")
    assert not (tmp_path / "r").exists() and not (tmp_path / "s.png").exists()
    # a run already at step 1: one more than the rest is refused, naming where the run is
    rc, _, _ = cli(capsys, "train", "ring8", "--steps", "1", "--out", tmp_path / "r", "--quiet",
                   "--set", "model.g_width=8", "--set", "model.d_width=8")
    assert rc == 0
    before = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    rc, _, err = cli(capsys, "train", "--resume", tmp_path / "r", "--steps", str(MAX_STEP), "--quiet")
    one_line_error(rc, err, f"--steps = {MAX_STEP:,}", "(the run is at step 1)")
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == before
