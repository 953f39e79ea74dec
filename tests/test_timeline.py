"""Kept 2-D samples (train.keep_samples_at) and `gan-studio figure timeline` (Metz et al. Fig. 1):
run folders keep G's points at the listed steps, resumed runs keep writing them exactly, the figure
is drawn from the folders without changing a byte of them, and a step not kept is one line."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_studio.cli import main
from gan_studio.core.config import Config
from gan_studio.core.errors import ConfigError
from gan_studio.core.presets import load_preset
from gan_studio.core.render import KEPT_SAMPLES
from gan_studio.core.timeline import CELL_PX, figure_size

TINY = ["--quiet", "--device", "cpu", "--set=model.g_width=8", "--set=model.d_width=8",
        "--set=model.g_depth=1", "--set=model.d_depth=1", "--set=train.batch_size=16",
        "--set=model.latent_dim=4", "--set=train.eval_every=1000", "--set=train.snapshot_every=1000"]
KEEP = "--set=train.keep_samples_at=[20, 0, 10, 10]"   # sorted and without repeats when read


def train(out: Path, steps: int, *extra: str, preset: str = "ring8") -> None:
    assert main(["train", preset, "--steps", str(steps), "--out", str(out), *TINY, *extra]) == 0


def resume(out: Path, steps: int) -> None:
    assert main(["train", "--resume", str(out), "--steps", str(steps), "--quiet", "--device", "cpu"]) == 0


def folder_bytes(*dirs: Path) -> dict[str, bytes]:
    """Every file under the folders (the lock file included), by path, with its bytes."""
    return {str(p): p.read_bytes() for d in dirs for p in sorted(d.rglob("*")) if p.is_file()}


def one_error_line(capsys) -> str:
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny ring runs keeping steps 0, 10 and 20: `a` trained 10 steps then resumed for 10 more,
    `b` trained 20 in one go (a different seed, so the rows differ)."""
    base = tmp_path_factory.mktemp("timeline")
    a, b = base / "a", base / "b"
    train(a, 10, KEEP)
    assert sorted(p.name for p in (a / "samples").iterdir()) == ["step_00000000.npy", "step_00000010.npy"]
    np.save(a / "samples" / "step_00000015.npy", np.zeros((4, 2), np.float32))  # past the checkpoint
    resume(a, 10)
    train(b, 20, KEEP, "--seed", "1")
    return a, b


def test_the_run_keeps_its_samples_at_the_listed_steps_and_resumed_runs_keep_writing(runs, tmp_path):
    a, b = runs
    for run in (a, b):
        names = sorted(p.name for p in (run / "samples").iterdir())
        # step 15 lay past the checkpoint the run resumed from: dropped, as the logs past it are
        assert names == ["step_00000000.npy", "step_00000010.npy", "step_00000020.npy"]
        for name in names:
            arr = np.load(run / "samples" / name, allow_pickle=False)
            assert arr.dtype == np.float32 and arr.shape == (KEPT_SAMPLES, 2) and np.isfinite(arr).all()
    assert Config.load(a / "config.json").train.keep_samples_at == [0, 10, 20]
    # exact resume: 10 + 10 steps keep the same points as 20 in one go
    straight = tmp_path / "straight"
    train(straight, 20, KEEP)
    for step in (0, 10, 20):
        name = f"step_{step:08d}.npy"
        assert (a / "samples" / name).read_bytes() == (straight / "samples" / name).read_bytes()
    # the points move with training, on one fixed latent batch
    s0, s20 = (np.load(a / "samples" / f"step_{s:08d}.npy") for s in (0, 20))
    assert not np.array_equal(s0, s20)


def test_the_timeline_is_drawn_from_the_runs_and_leaves_them_byte_identical(runs, tmp_path, capsys):
    a, b = runs
    before = folder_bytes(a, b)
    out = tmp_path / "figs" / "timeline.png"
    assert main(["figure", "timeline", str(a), str(b), "--steps", "0,10,20", "--out", str(out)]) == 0
    assert "2 run(s)" in capsys.readouterr().out
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == figure_size(2, 3, CELL_PX) == (646, 354)
        assert len(img.getcolors(1 << 16)) > 3   # samples, rings and text, not a blank page
    # every step both runs kept (the default) at another cell size
    small = tmp_path / "small.png"
    assert main(["figure", "timeline", str(a), str(b), "--out", str(small), "--cell", "48"]) == 0
    with Image.open(small) as img:
        assert img.size == figure_size(2, 3, 48)
    # a step that was not kept: one line naming the steps that were, a non-zero exit
    capsys.readouterr()
    assert main(["figure", "timeline", str(a), str(b), "--steps", "0,5", "--out", str(tmp_path / "x.png")]) == 2
    line = one_error_line(capsys)
    assert "step 5" in line and "0, 10, 20" in line
    assert not (tmp_path / "x.png").exists()
    # never into a run folder
    assert main(["figure", "timeline", str(a), "--out", str(a / "fig.png")]) == 2
    assert "inside the run folder" in one_error_line(capsys)
    assert main(["figure", "timeline", str(a), "--steps", "0,x", "--out", str(tmp_path / "y.png")]) == 2
    assert "--steps" in one_error_line(capsys)
    for name in ("y.jpg", "y"):   # PNG bytes were written into a .jpg, or a file without a type
        assert main(["figure", "timeline", str(a), "--out", str(tmp_path / name)]) == 2
        assert "name a file ending in .png" in one_error_line(capsys)
        assert not (tmp_path / name).exists()
    assert folder_bytes(a, b) == before


def test_a_run_that_kept_no_samples_is_one_line(tmp_path, capsys):
    plain = tmp_path / "plain"
    train(plain, 2)
    assert not (plain / "samples").exists()
    capsys.readouterr()
    assert main(["figure", "timeline", str(plain), "--out", str(tmp_path / "f.png")]) == 2
    assert "kept no samples" in one_error_line(capsys)
    assert main(["figure", "timeline", str(tmp_path / "nothing"), "--out", str(tmp_path / "f.png")]) == 2
    one_error_line(capsys)


@pytest.mark.parametrize("value", ["[-1]", "[1.5]", "[true]", "5", "[[1]]", "[10000000000]"])
def test_keep_samples_at_takes_only_lists_of_steps(value):
    cfg = Config()
    with pytest.raises(ConfigError, match="train.keep_samples_at"):
        cfg.set("train.keep_samples_at", value)
    assert cfg.train.keep_samples_at == []


@pytest.mark.parametrize("value, steps", [("0,100,300", [0, 100, 300]), (" 300, 0 ,100,100", [0, 100, 300]),
                                          ("[0,100,300]", [0, 100, 300]), ("7,", None), ("0,x", None),
                                          ("0,1.5", None), ("0,-1", None), ("0,true", None)])
def test_keep_samples_at_takes_a_comma_separated_list_checked_item_by_item(value, steps):
    """--set train.keep_samples_at=0,100,300 failed with "expected list"; only '[0,100,300]' worked."""
    cfg = Config()
    if steps is None:
        with pytest.raises(ConfigError, match=r"train\.keep_samples_at\[1\] = .*: each entry must be a step"):
            cfg.set("train.keep_samples_at", value)
        assert cfg.train.keep_samples_at == []
    else:
        cfg.set("train.keep_samples_at", value)
        assert cfg.train.keep_samples_at == steps


def test_keep_samples_at_from_the_command_line_as_a_comma_list(tmp_path):
    run = tmp_path / "r"
    train(run, 10, "--set", "train.keep_samples_at=0,5,10")
    assert Config.load(run / "config.json").train.keep_samples_at == [0, 5, 10]
    assert sorted(p.name for p in (run / "samples").iterdir()) == [f"step_{s:08d}.npy" for s in (0, 5, 10)]


def test_the_metz_presets_hold_the_papers_ring_setting():
    un, va = load_preset("unrolled-metz"), load_preset("metz-vanilla")
    for cfg in (un, va):
        assert cfg.data.name == "ring8-wide" and cfg.train.batch_size == 512
        assert (cfg.train.lr_d, cfg.train.lr_g) == (1e-4, 1e-3)
        assert (cfg.train.beta1_d, cfg.train.beta2_d, cfg.train.beta1_g, cfg.train.beta2_g) == (0.5, 0.999, 0.5, 0.999)
        m = cfg.model
        assert (m.latent_dim, m.g_depth, m.g_width, m.d_depth, m.d_width) == (256, 2, 128, 2, 128)
        assert m.g_activation == m.d_activation == "relu"
        assert cfg.train.keep_samples_at == [0, 5000, 10000, 15000, 20000, 25000]
    assert un.tricks.unrolled.enabled and un.tricks.unrolled.k == 10
    assert un.tricks.unrolled.method == "second-order"
    assert not va.tricks.unrolled.enabled
    un.tricks.unrolled = va.tricks.unrolled   # otherwise the same setting
    assert un.to_dict() | {"name": "", "description": ""} == va.to_dict() | {"name": "", "description": ""}


def test_a_cell_whose_points_left_the_frame_says_how_many_instead_of_staying_blank():
    """G's points far off the ring (metz-vanilla at step 50 sat near x = -7) used to leave a blank
    square, the same as a run that drew nothing; the cell now says how many points are outside."""
    from gan_studio.core.timeline import GAP, HEADER_H, LABEL_W, TimelineRow, timeline_png
    inside = np.zeros((512, 2), np.float32)
    outside = np.full((512, 2), -7.0, np.float32)
    half = np.concatenate([inside[:256], outside[:256]])
    row = TimelineRow(["r"], [inside, outside, half], bounds=(-1.5, 1.5, -1.5, 1.5), means=np.zeros((1, 2)), sigma=0.02)
    import io
    img = np.asarray(Image.open(io.BytesIO(timeline_png([row], [0, 50, 100], cell=CELL_PX))).convert("RGB"))
    top = HEADER_H + GAP

    def ink(j: int) -> int:   # black pixels (text) in cell j; points are red, rings grey
        left = LABEL_W + GAP + j * (CELL_PX + GAP)
        cell = img[top:top + CELL_PX, left:left + CELL_PX]
        return int((cell.max(axis=2) < 60).sum())

    assert ink(0) == 0            # every point in the frame: nothing written over them
    assert ink(1) > 20 and ink(2) > 20
