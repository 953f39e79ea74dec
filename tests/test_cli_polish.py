"""The command line's rough edges (issue 20): thread count, readable sample grids, latents of a grid
picked by index, labelled latent figures, help texts and wrapped preset descriptions."""
from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gan_studio.cli import main
from gan_studio.core import device as dev
from gan_studio.core.render import LABEL_BAND_PX

D = 8   # latent size of the tiny image run


@pytest.fixture(autouse=True)
def one_thread_after():
    """Commands here set torch's thread count for the process: put the suite's 1 back."""
    yield
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A DCGAN run on 16 px shapes with an 8-d latent, made by `gan-studio train` (seconds)."""
    path = tmp_path_factory.mktemp("cli_polish") / "shapes"
    sets = {"data.image_size": 16, "data.num_images": 256, "model.latent_dim": D, "model.ngf": 8,
            "model.ndf": 8, "train.batch_size": 16, "train.eval_every": 10_000}
    argv = ["train", "shapes", "--steps", "2", "--quiet", "--threads", "1", "--out", str(path)]
    for k, v in sets.items():
        argv += ["--set", f"{k}={v}"]
    assert main(argv) == 0
    torch.set_num_threads(1)
    return path


def _fake_trainer(g: nn.Module, d: nn.Module, batch: int = 256):
    return SimpleNamespace(G=g, D=d, cfg=SimpleNamespace(train=SimpleNamespace(batch_size=batch, d_steps=1)),
                           device=torch.device("cpu"))


def _mlp(width: int) -> nn.Module:
    return nn.Sequential(nn.Linear(2, width), nn.Linear(width, width), nn.Linear(width, width), nn.Linear(width, 1))


# -- 1. threads -----------------------------------------------------------------------------------------
def test_thread_wording_is_singular_for_one():
    assert dev.threads_text(1) == "1 thread" and dev.threads_text(2) == "2 threads"
    torch.set_num_threads(1)
    assert dev.describe_device(torch.device("cpu")) == "CPU (1 thread)"
    torch.set_num_threads(2)
    assert dev.describe_device(torch.device("cpu")) == "CPU (2 threads)"


def test_small_runs_take_one_thread_big_and_image_runs_cores_minus_one():
    ring8_like = _fake_trainer(_mlp(64), _mlp(256))
    wide = _fake_trainer(_mlp(1024), _mlp(1024), batch=1024)
    conv = _fake_trainer(nn.Sequential(nn.ConvTranspose2d(8, 4, 4)), nn.Sequential(nn.Conv2d(3, 4, 4)), batch=4)
    assert dev.step_macs(ring8_like) < dev.SMALL_STEP_MACS < dev.step_macs(wide)
    assert dev.step_macs(conv) == float("inf")
    assert dev.choose_threads(ring8_like, cores=16) == 1
    assert dev.choose_threads(wide, cores=16) == 15
    assert dev.choose_threads(conv, cores=16) == 15
    assert dev.choose_threads(conv, cores=2) == 1          # cores - 1 on this kind of machine
    assert dev.choose_threads(conv, cores=16, jobs=4) == 4  # side-by-side runs share the cores
    assert dev.choose_threads(conv, cores=1) == 1


def test_train_picks_threads_by_run_size_and_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(dev, "cpu_cores", lambda: 16)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    tiny = ["--set", "model.g_width=16", "--set", "model.d_width=16", "--quiet"]
    assert main(["train", "ring8", "--steps", "3", *tiny, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "on CPU (1 thread)" in err.splitlines()[0], err
    assert torch.get_num_threads() == 1
    assert re.search(r"3 steps in [\d.]+ s, [\d.]+ steps/s on CPU \(1 thread\)", err), err
    # an image (convolutional) run takes cores - 1
    img = ["--set", "data.image_size=16", "--set", "data.num_images=64", "--set", "model.ngf=4",
           "--set", "model.ndf=4", "--quiet"]
    assert main(["train", "shapes", "--steps", "0", *img, "--out", str(tmp_path / "b")]) == 0
    assert "on CPU (15 threads)" in capsys.readouterr().err.splitlines()[0]
    # --threads overrides, also on --resume
    assert main(["train", "--resume", str(tmp_path / "a"), "--steps", "1", "--threads", "2", "--quiet"]) == 0
    assert "on CPU (2 threads)" in capsys.readouterr().err.splitlines()[0]
    assert torch.get_num_threads() == 2
    assert main(["train", "ring8", "--steps", "1", "--threads", "0", *tiny, "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--threads = 0" in err
    # OMP_NUM_THREADS, when the user set it, is kept (torch reads it too); --threads still wins
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert main(["train", "shapes", "--steps", "0", *img, "--out", str(tmp_path / "d")]) == 0
    assert "on CPU (3 threads)" in capsys.readouterr().err.splitlines()[0]
    assert main(["train", "shapes", "--steps", "0", *img, "--threads", "1", "--out", str(tmp_path / "e")]) == 0
    assert "on CPU (1 thread)" in capsys.readouterr().err.splitlines()[0]


@pytest.mark.parametrize("value", ["99999", "1025", "\u00b2", "0", "abc", ""])
def test_an_omp_num_threads_outside_the_threads_range_is_no_choice(tmp_path, capsys, monkeypatch, value):
    """OMP_NUM_THREADS=99999 was handed to torch.set_num_threads (a segmentation fault, where --threads
    99999 is refused), and '²' to int() (a traceback): the run's own choice is taken instead."""
    monkeypatch.setattr(dev, "cpu_cores", lambda: 16)
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert dev.env_threads() is None
    assert main(["train", "ring8", "--steps", "0", "--set", "model.g_width=16", "--set", "model.d_width=16",
                 "--quiet", "--out", str(tmp_path / "a")]) == 0
    assert "on CPU (1 thread)" in capsys.readouterr().err.splitlines()[0]
    monkeypatch.setenv("OMP_NUM_THREADS", "1024")
    assert dev.env_threads() == 1024


def test_bench_says_its_threads_and_takes_the_flag(tmp_path, capsys):
    from gan_studio.core import bench
    assert bench.plan_threads(["vanilla", "pac2"], "ring8", jobs=1) == {"vanilla": 1, "pac2": 1}
    assert bench.plan_threads(["vanilla"], "ring8", jobs=1, threads=3) == {"vanilla": 3}
    argv = ["bench", "modes", "--data", "ring8", "--seeds", "1", "--steps", "2", "--compare", "vanilla",
            "--jobs", "1", "--set", "train.batch_size=32", "--quiet", "--out", str(tmp_path)]
    assert main(argv) == 0
    first = capsys.readouterr().err.splitlines()[0]
    assert "1 process" in first and "CPU (1 thread per run)" in first, first
    assert main([*argv, "--threads", "2"]) == 0
    assert "CPU (2 threads per run)" in capsys.readouterr().err.splitlines()[0]


# -- 2, 3. sample: a readable grid and its latents ----------------------------------------------------------
def test_sample_png_is_enlarged_to_a_readable_grid(image_run, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["sample", str(image_run), "--n", "64", "--out", str(out)]) == 0
    w, h = Image.open(out).size
    assert w >= 512 and h >= 512                       # 8 x 8 images of 16 px, each at least 64 px
    assert (w, h) == (8 * (64 + 2) + 2,) * 2
    assert "8 x 8 grid, 4x enlarged" in capsys.readouterr().out
    assert main(["sample", str(image_run), "--n", "64", "--scale", "1", "--out", str(out)]) == 0
    assert Image.open(out).size == (8 * 18 + 2,) * 2
    # nearest neighbour: each pixel of a tile is a sharp 2 x 2 block at --scale 2
    assert main(["sample", str(image_run), "--n", "4", "--scale", "2", "--out", str(out)]) == 0
    tile = np.asarray(Image.open(out))[2:34, 2:34].astype(int)
    assert (tile[0::2, 0::2] == tile[1::2, 1::2]).all()
    assert main(["sample", str(image_run), "--n", "4", "--scale", "0", "--out", str(out)]) == 2
    assert "--scale = 0" in capsys.readouterr().err


def test_sample_writes_the_latents_in_grid_order(image_run, tmp_path):
    z_path, x_path = tmp_path / "z.npy", tmp_path / "x.npy"
    assert main(["sample", str(image_run), "--n", "20", "--seed", "5", "--out", str(x_path),
                 "--latents-out", str(z_path)]) == 0
    z = np.load(z_path)
    expected = torch.randn(20, D, generator=torch.Generator().manual_seed(5)).numpy()
    assert z.dtype == np.float32 and z.shape == (20, D)
    np.testing.assert_array_equal(z, expected)
    # the same latents give the same samples, row for row
    assert main(["sample", str(image_run), "--z", str(z_path), "--out", str(tmp_path / "y.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), np.load(x_path), atol=1e-6)
    # and with a .png as well
    assert main(["sample", str(image_run), "--n", "9", "--out", str(tmp_path / "g.png"),
                 "--latents-out", str(tmp_path / "z9.npy")]) == 0
    assert np.load(tmp_path / "z9.npy").shape == (9, D)
    assert main(["sample", str(image_run), "--n", "9", "--out", str(tmp_path / "g.png"),
                 "--latents-out", str(tmp_path / "z9.txt")]) == 2


def test_latent_picks_rows_of_z_by_index(image_run, tmp_path, capsys):
    z_path = tmp_path / "z.npy"
    assert main(["sample", str(image_run), "--n", "16", "--out", str(tmp_path / "g.png"),
                 "--latents-out", str(z_path)]) == 0
    z = np.load(z_path)
    drawn = tmp_path / "drawn.npy"
    assert main(["latent", str(image_run), "--z", str(z_path), "--a", "3,7,12", "--b", "1,2", "--c", "5",
                 "--analogy", "--out", str(tmp_path / "f.png"), "--latents-out", str(drawn)]) == 0
    got = np.load(drawn)
    np.testing.assert_allclose(got[0], z[[3, 7, 12]].mean(0), atol=1e-6)
    np.testing.assert_allclose(got[1], z[[1, 2]].mean(0), atol=1e-6)
    np.testing.assert_allclose(got[2], z[5], atol=1e-6)
    # a file still works beside indices, and for --interpolate too
    np.save(tmp_path / "a.npy", z[[3, 7, 12]])
    assert main(["latent", str(image_run), "--z", str(z_path), "--a", str(tmp_path / "a.npy"), "--b", "1,2",
                 "--c", "5", "--out", str(tmp_path / "r.png"), "--latents-out", str(drawn)]) == 0
    np.testing.assert_allclose(np.load(drawn)[4], z[[3, 7, 12]].mean(0) - z[[1, 2]].mean(0) + z[5], atol=1e-5)
    assert main(["latent", str(image_run), "--z", str(z_path), "--interpolate", "0,9", "--steps", "3",
                 "--linear", "--out", str(tmp_path / "s.png"), "--latents-out", str(drawn)]) == 0
    np.testing.assert_allclose(np.load(drawn)[[0, 2]], z[[0, 9]], atol=1e-5)
    capsys.readouterr()
    for extra, msg in ((["--z", str(z_path), "--a", "3,99"], "index 99 is past the end"),
                       (["--a", "3,7"], "indices need --z")):
        assert main(["latent", str(image_run), *extra, "--b", "1", "--c", "2", "--out", str(tmp_path / "x.png")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and msg in err, err


# -- 4. labelled figures ---------------------------------------------------------------------------------------
def _ink_over_columns(png, tile: int, columns: int) -> list[bool]:
    """Whether the label band holds dark pixels over each column."""
    band = np.asarray(Image.open(png).convert("L"))[:LABEL_BAND_PX]
    step = tile + 2
    return [bool((band[:, 2 + j * step + 4:2 + j * step + tile - 4] < 128).any()) for j in range(columns)]


def test_analogy_and_arithmetic_figures_label_their_columns(image_run, tmp_path):
    rng = np.random.default_rng(0)
    for name in "abc":
        np.save(tmp_path / f"{name}.npy", rng.standard_normal((2, D)).astype(np.float32))
    groups = [f"--{n}={tmp_path / (n + '.npy')}" for n in "abc"]
    analogy = tmp_path / "analogy.png"
    assert main(["latent", str(image_run), *groups, "--analogy", "--out", str(analogy)]) == 0
    img = np.asarray(Image.open(analogy))
    tile = 64                                             # 16 px enlarged to 64
    assert img.shape[:2] == (LABEL_BAND_PX + 2 * (tile + 2) + 2, 4 * (tile + 2) + 2)
    assert _ink_over_columns(analogy, tile, 4) == [True] * 4
    arith = tmp_path / "arith.png"
    assert main(["latent", str(image_run), *groups, "--out", str(arith)]) == 0
    img = np.asarray(Image.open(arith))
    assert img.shape[:2] == (LABEL_BAND_PX + 3 * (tile + 2) + 2, 6 * (tile + 2) + 2)
    # A, B, C over the group means, "A - B + C" over the result grid's centre column
    assert _ink_over_columns(arith, tile, 6) == [True, True, True, False, True, False]
    # the means stand in the middle row; above them is blank (white)
    assert (img[LABEL_BAND_PX + 2:LABEL_BAND_PX + 2 + tile, 2:2 + tile] == 255).all()


# -- 5. help texts and presets --------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [["--help"], ["gui", "--help"], ["train", "--help"], ["bench", "modes", "--help"]])
def test_help_does_not_call_ring8_a_vanilla_gan(argv, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    text = " ".join(capsys.readouterr().out.split())
    assert "vanilla GAN" not in text
    if argv[0] == "gui":
        assert "the default collapse demo on a ring of 8 Gaussians" in text
    if argv[0] in ("train", "bench"):
        assert "--threads" in text


def test_presets_wrap_to_the_terminal_with_aligned_continuations(capsys, monkeypatch):
    from gan_studio.core.presets import preset_descriptions
    descs = preset_descriptions()
    name_w = max(map(len, descs))
    monkeypatch.setenv("COLUMNS", "72")
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 72 for line in lines), max(lines, key=len)
    assert len(lines) > len(descs)                        # the long descriptions took several lines
    starts = [line for line in lines if not line.startswith(" ")]
    assert [s.split()[0] for s in starts] == list(descs)
    for line in lines:
        if line.startswith(" "):
            assert line[:name_w + 2].strip() == "" and line[name_w + 2] != " "
    # words are kept whole: joining the lines gives each description back
    text = " ".join(lines)
    for desc in descs.values():
        assert " ".join(desc.split()) in " ".join(text.split())


# -- metrics between evaluations, and a reader that stops reading -------------------------------------
def _metrics_between_evaluations(path):
    """A run's log as `metrics` finds it at step 300 of a run that evaluates every 250 steps."""
    import json
    path.mkdir()
    rows = [{"step": 200, "loss_d": 0.7, "loss_g": 1.2},
            {"step": 250, "loss_d": 0.69, "loss_g": 1.3, "modes": 7, "hq": 91.5, "mode_hops": 2},
            {"step": 300, "loss_d": 0.68, "loss_g": 1.4}]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_metrics_labels_the_last_evaluation_with_its_own_step(tmp_path, capsys):
    """`metrics` showed `step 300` above modes/hq/mode_hops that came from step 250, unsaid."""
    run = _metrics_between_evaluations(tmp_path / "r")
    assert main(["metrics", str(run)]) == 0
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines()}
    assert lines["step"].split() == ["step", "300"]
    for key in ("loss_d", "loss_g"):          # from the newest row: no label
        assert "at step" not in lines[key]
    for key, value in (("modes", "7"), ("hq", "91.5"), ("mode_hops", "2")):
        assert lines[key].split() == [key, value, "(at", "step", "250)"]
    assert len({ln.index("(at") for k, ln in lines.items() if "(at" in ln}) == 1   # one column
    # right after an evaluation every value is from the newest step: nothing is labelled
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 500, "loss_d": 0.6, "loss_g": 1.5, "modes": 8, "hq": 95.0, "mode_hops": 2}\n')
    assert main(["metrics", str(run)]) == 0
    assert "at step" not in capsys.readouterr().out


@pytest.mark.parametrize("unbuffered", ["1", ""])
@pytest.mark.parametrize("argv", [["metrics", "RUN"], ["presets"]])
def test_a_closed_stdout_ends_quietly(tmp_path, argv, unbuffered):
    """`gan-studio metrics DIR | head -3` printed 'gan-studio metrics: error: Broken pipe'."""
    import os
    import subprocess
    import sys
    run = _metrics_between_evaluations(tmp_path / "r")
    argv = [str(run) if a == "RUN" else a for a in argv]
    read_end, write_end = os.pipe()
    os.close(read_end)   # the reader has gone before the first line (`| head -0`): every write fails
    try:
        r = subprocess.run([sys.executable, "-m", "gan_studio", *argv], stdout=write_end,
                           stderr=subprocess.PIPE, text=True, timeout=120,
                           env={**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
                                **({"PYTHONUNBUFFERED": unbuffered} if unbuffered else {})})
    finally:
        os.close(write_end)
    assert r.stderr == "" and r.returncode == 141   # 128 + SIGPIPE, as a shell reports `yes | head`


# -- the README's command lines --------------------------------------------------------------------------
def _readme_command_lines() -> list[tuple[int, str]]:
    """(line number, command) for every `gan-studio ...` in README.md: code-block lines (continued by a
    backslash or an indented line) and inline code spans; a command's error output is left out."""
    from pathlib import Path
    lines = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8").splitlines()
    found, in_code, i = [], False, 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            in_code = not in_code
        elif in_code:
            text = re.sub(r"^(\$ )?([A-Z_]+=\S+ )*", "", line.strip())
            start = i + 1
            if text.startswith("gan-studio ") and not re.match(r"gan-studio [\w-]+:", text):
                while i + 1 < len(lines) and (text.endswith("\\") or re.match(r"\s+[-\[]", lines[i + 1])):
                    i += 1
                    text = text.rstrip("\\") + " " + lines[i].strip()
                found.append((start, re.sub(r"\s+#.*$", "", text)))
        i += 1
    joined = "\n".join(lines)
    for m in re.finditer(r"`(gan-studio [^`]+)`", joined):
        found.append((joined[:m.start()].count("\n") + 1, " ".join(m.group(1).split())))
    return found


def test_the_readme_command_lines_fit_the_parsers(capsys):
    """README's `gan-studio train shapes --set train.amp=bf16 ... --out runs/shapes-bf16` failed with
    'the following arguments are required: --steps'. Every option a README command line names must
    exist, a command line with options must give the required ones, and a line with no placeholder
    in it must parse as it stands."""
    import argparse

    from gan_studio.cli import build_parser
    parser = build_parser()
    commands = _readme_command_lines()
    assert len(commands) > 50
    wrong = []
    for number, cmd in commands:
        words = cmd.replace("[", " ").replace("]", " ").split()[1:]
        sub = parser
        for w in [w for w in words if not w.startswith("-")][:2]:   # train, bench modes, export tensorboard
            acts = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
            if not acts or w not in acts[0].choices:
                break
            sub = acts[0].choices[w]
        known = {s for a in sub._actions for s in a.option_strings}
        given = [w.split("=")[0] for w in words if w.startswith("--")]
        wrong += [f"line {number}: {o} is no option of `{sub.prog}`: {cmd}" for o in given if o not in known]
        elided = "..." in cmd or "…" in cmd or "--help" in given
        if given and not elided:   # a command line, not the command's name in a sentence
            wrong += [f"line {number}: `{sub.prog}` needs {a.option_strings[0]}: {cmd}" for a in sub._actions
                      if a.required and a.option_strings and not set(a.option_strings) & set(given)]
        placeholder = re.search(r"[\[\]|]|\b[A-Z]+[A-Z0-9_]*\b", cmd.split(" ", 1)[1])   # PRESET, N, [--x]
        if given and not elided and not placeholder:
            try:
                parser.parse_args(words)
            except SystemExit:
                wrong.append(f"line {number}: does not parse: {cmd}: {capsys.readouterr().err.strip()}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("value, words", [(1e300, "beyond float32's range"), (np.inf, "NaN or infinite")])
def test_latents_too_large_for_float32_are_one_line_without_a_numpy_warning(image_run, tmp_path, capsys, value,
                                                                            words):
    z = np.full((2, D), value, dtype=np.float64)
    np.save(tmp_path / "z.npy", z)
    capsys.readouterr()
    with np.errstate(over="raise"):   # a cast that overflows outside an errstate of its own fails here
        rc = main(["sample", str(image_run), "--z", str(tmp_path / "z.npy"), "--out", str(tmp_path / "s.png")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and words in err
    assert not (tmp_path / "s.png").exists()
    with np.errstate(over="raise"):   # latent arithmetic reads its groups the same way
        rc = main(["latent", str(image_run), "--a", str(tmp_path / "z.npy"), "--b", str(tmp_path / "z.npy"),
                   "--c", str(tmp_path / "z.npy"), "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and words in err
