"""More bad input that must end in one line or be read past, never in a traceback: hand-broken
metrics.jsonl rows (numbers too long for int() or float()), ..."""
from __future__ import annotations

import pytest

from gan_studio.cli import main
from cli_helpers import cli
from test_bad_input import TINY, copy_run, one_line_error


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 4-step ring8 run with tiny networks (about a second)."""
    path = tmp_path_factory.mktemp("bad-input-more") / "run"
    assert main(["train", "ring8", "--steps", "4", "--out", str(path), *TINY]) == 0
    return path


# -- metrics.jsonl ------------------------------------------------------------------------------------
@pytest.mark.parametrize("row", [
    '{"step": ' + "9" * 5000 + "}",               # past int()'s 4,300 digits: ValueError, not JSONDecodeError
    '{"step": 30, "hq": ' + "9" * 4000 + "}",     # an int, but too large for float(): OverflowError
    "[" * 100_000 + "]" * 100_000,                # nested past the recursion limit
], ids=["step-5000-digits", "value-4000-digits", "nested"])
def test_a_hand_broken_metrics_row_is_read_past(tiny_run, tmp_path, capsys, row):
    run = copy_run(tiny_run, tmp_path / "run")
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as fh:
        fh.write(row + "\n")
    rc, out, err = cli(capsys, "metrics", run)
    assert rc == 0 and "hq" in out, err
    rc, _, err = cli(capsys, "compare", run, "--out", tmp_path / "c.csv")
    assert rc == 0, err
    assert "step" in (tmp_path / "c.csv").read_text().splitlines()[0]
    rc, _, err = cli(capsys, "fork", run, "--out", tmp_path / "fork")
    assert rc == 0, err
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "1", "--quiet")
    assert rc == 0, err
    assert row not in (run / "metrics.jsonl").read_text()   # the resume rewrote the log without it


# -- image folders ------------------------------------------------------------------------------------
def png_claiming(path, width: int, height: int) -> None:
    """A 1-pixel PNG whose header claims width x height pixels (a decompression bomb's header: Pillow
    refuses it on open, before any pixel is decoded)."""
    import io
    import struct
    import zlib

    from PIL import Image
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = struct.pack(">II", width, height)                         # IHDR's width, height
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)   # and its CRC
    path.write_bytes(bytes(data))


def test_a_picture_claiming_too_many_pixels_in_a_data_folder_is_one_line(tmp_path, capsys):
    import numpy as np
    from PIL import Image
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for i in range(4):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(pictures / f"ok{i}.png")
    png_claiming(pictures / "bomb.png", 30_000, 30_000)
    rc, _, err = cli(capsys, "train", "shapes", "--steps", "1", "--out", tmp_path / "run", "--quiet",
                     "--device", "cpu", "--set", "data.name=folder", f"--set=data.path={pictures}",
                     "--set", "data.image_size=16", "--set", "model.ngf=4", "--set", "model.ndf=4")
    one_line_error(rc, err, "bomb.png", "too many pixels")


# -- --seed of sample and latent --------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [-1, 2 ** 63, 2 ** 80])
def test_a_seed_outside_train_seeds_range_is_one_line(tiny_run, tmp_path, capsys, seed):
    """torch.Generator.manual_seed(2**80) and numpy's default_rng(-1) raised from deep inside: a traceback."""
    import numpy as np
    z = tmp_path / "z.npy"
    np.save(z, np.zeros((2, 16), np.float32))
    for argv in (["sample", tiny_run, "--n", "4", "--seed", seed, "--out", tmp_path / "s.npy"],
                 ["train", "ring8", "--steps", "1", "--seed", seed, "--out", tmp_path / "run"],   # said train.seed
                 ["latent", tiny_run, "--a", z, "--b", z, "--c", z, "--seed", seed, "--out", tmp_path / "l.png"]):
        rc, _, err = cli(capsys, *argv)
        one_line_error(rc, err, f"--seed = {seed}: must be between 0 and 9223372036854775807")


def test_latents_out_on_the_out_file_is_refused(tiny_run, tmp_path, capsys, monkeypatch):
    """It wrote the samples, then the latents over them, and said it wrote both."""
    monkeypatch.chdir(tmp_path)
    rc, _, err = cli(capsys, "sample", tiny_run, "--n", "4", "--out", tmp_path / "s.npy", "--latents-out", "s.npy")
    one_line_error(rc, err, "--latents-out s.npy is the --out file")
    assert not (tmp_path / "s.npy").exists()


# -- a checkpoint copied from another run folder -------------------------------------------------------
@pytest.fixture(scope="module")
def image_checkpoint(tmp_path_factory):
    """The checkpoint.pt of a 1-step digits run (DCGAN at 16 px)."""
    path = tmp_path_factory.mktemp("digits") / "run"
    assert main(["train", "digits", "--steps", "1", "--out", str(path), "--quiet", "--device", "cpu",
                 "--set", "model.ngf=4", "--set", "model.ndf=4", "--set", "train.batch_size=4"]) == 0
    return path / "checkpoint.pt"


def test_a_checkpoint_of_another_run_is_refused_and_nothing_is_cut(tiny_run, image_checkpoint, tmp_path, capsys):
    """`--resume` trained the other run in this folder and cut this run's log and kept states at the
    other run's step: the message that a cut checkpoint gets invites exactly this copy."""
    import shutil
    run = copy_run(tiny_run, tmp_path / "run")
    shutil.copy(image_checkpoint, run / "checkpoint.pt")
    log = (run / "metrics.jsonl").read_text()
    for argv in (["train", "--resume", run, "--steps", "1", "--quiet"],
                 ["sample", run, "--n", "4", "--out", tmp_path / "s.png"],
                 ["fork", run, "--out", tmp_path / "fork"]):
        rc, _, err = cli(capsys, *argv)
        one_line_error(rc, err, "checkpoint.pt is of another run", "data.name = 'digits' (config.json: 'ring8')")
    assert (run / "metrics.jsonl").read_text() == log
    assert not (tmp_path / "s.png").exists() and not (tmp_path / "fork").exists()


# -- a run whose data folder has gone ---------------------------------------------------------------------
def test_a_run_whose_picture_folder_has_gone_names_the_folder_not_the_checkpoint(tmp_path, capsys):
    """It said 'checkpoint.pt does not fit its own config (DataError: ...)', cut at 100 characters."""
    import shutil

    import numpy as np
    from PIL import Image
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for i in range(4):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(pictures / f"p{i}.png")
    run = tmp_path / "run"
    assert main(["train", "shapes", "--steps", "1", "--out", str(run), "--quiet", "--device", "cpu",
                 "--set", "data.name=folder", f"--set=data.path={pictures}", "--set", "data.image_size=16",
                 "--set", "model.ngf=4", "--set", "model.ndf=4", "--set", "train.batch_size=4"]) == 0
    capsys.readouterr()
    shutil.rmtree(pictures)
    # (sample draws without them: test_cli_edges.test_sample_and_latent_draw_from_a_run_whose_pictures_have_moved)
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "1", "--quiet")
    line = one_line_error(rc, err, f"data.path = '{pictures}': no such folder")
    assert "checkpoint" not in line
    pictures.mkdir()   # there, but empty
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "1", "--quiet")
    assert one_line_error(rc, err, f"no pictures in {pictures}").endswith("one sub-folder per class")


def test_a_folder_in_place_of_a_log_is_the_input_in_words(tiny_run, tmp_path, capsys):
    """It was 'Is a directory: RUN/events.jsonl' with exit 1, the status of the machine's faults."""
    run = copy_run(tiny_run, tmp_path / "run")
    (run / "events.jsonl").unlink()
    (run / "events.jsonl").mkdir()
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "1", "--quiet")
    assert rc == 2
    assert one_line_error(rc, err).endswith(f"{run / 'events.jsonl'} is a folder, where a file is needed")
