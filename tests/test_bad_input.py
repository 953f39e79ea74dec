"""Bad input ends in one line on stderr and a non-zero exit, never a traceback (issue 16, items 5, 9).

Deeply nested or non-UTF-8 config files and latent_directions.json, non-UTF-8 or 3-column CSVs,
networks that cannot be allocated, a full disk, --out on somebody else's folder, a run name that
climbs out of runs/, and points so large that the 2-D view could not frame them."""
from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest
import torch

from gan_studio.cli import main
from cli_helpers import cli

NESTED = 100_000   # far past Python's recursion limit
TINY = ["--quiet", "--device", "cpu", "--set", "model.g_width=8", "--set", "model.d_width=8",
        "--set", "model.g_depth=1", "--set", "model.d_depth=1", "--set", "train.batch_size=8"]


def one_line_error(rc, err: str, *words: str) -> str:
    assert rc not in (0, None), f"exit {rc}; stderr: {err}"
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 2-step ring8 run with tiny networks (about a second)."""
    path = tmp_path_factory.mktemp("bad-input") / "run"
    assert main(["train", "ring8", "--steps", "2", "--out", str(path), *TINY]) == 0
    return path


def copy_run(src, dst):
    import shutil
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"))
    return dst


# -- config files -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, data, word", [
    ("nested.json", ('{"name": ' + "[" * NESTED + "]" * NESTED + "}").encode(), "nested too deeply"),
    ("nested.toml", ("name = " + "[" * NESTED + "]" * NESTED + "\n").encode(), "nested too deeply"),
    ("latin1.json", '{"name": "café"}'.encode("latin-1"), "UTF-8"),
    ("latin1.toml", 'name = "café"\n'.encode("latin-1"), "UTF-8"),
    ("digits.json", ('{"train": {"seed": ' + "1" * 5000 + "}}").encode(), "not valid JSON"),
    ("deep-value.json", ('{"data": {"points": ' + "[" * 500 + "]" * 500 + "}}").encode(), "data.points"),
])
def test_bad_config_file_is_one_line(tmp_path, capsys, name, data, word):
    path = tmp_path / name
    path.write_bytes(data)
    rc, _, err = cli(capsys, "train", path, "--steps", "1", "--out", tmp_path / "out", *TINY)
    one_line_error(rc, err, str(path) if word != "data.points" else word, word)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("given", ["{tmp}/nosuch.toml", "nosuch.json", "NoSuch.TOML", "./nosuch", "configs/nosuch"])
def test_a_config_path_that_does_not_exist_is_named_as_a_file(tmp_path, capsys, monkeypatch, given):
    """`train /tmp/nosuch.toml` said "unknown preset '/tmp/nosuch.toml'" and listed the presets."""
    monkeypatch.chdir(tmp_path)
    given = given.format(tmp=tmp_path)
    rc, _, err = cli(capsys, "train", given, "--steps", "1", *TINY)
    assert rc == 2
    line = one_line_error(rc, err, f"no such config file: {given}")
    assert "preset" not in line
    assert not (tmp_path / "runs").exists()


def test_a_folder_given_as_a_config_is_named_as_a_folder(tmp_path, capsys):
    rc, _, err = cli(capsys, "train", tmp_path, "--steps", "1", *TINY)
    assert rc == 2
    line = one_line_error(rc, err, f"{tmp_path} is a folder, not a config file")
    assert "--resume" not in line


def test_a_run_folder_given_as_a_config_points_to_resume(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli(capsys, "train", "ring8", "--steps", "2", "--out", run, *TINY)[0] == 0
    rc, _, err = cli(capsys, "train", run, "--steps", "1", *TINY)
    one_line_error(rc, err, f"{run} is a folder, not a config file",
                   f"it is a run folder: continue it with gan-studio train --resume {run}")


def test_a_word_is_still_a_preset_name(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, _, err = cli(capsys, "train", "nosuch", "--steps", "1", *TINY)
    one_line_error(rc, err, "unknown preset 'nosuch'", "ring8")
    (tmp_path / "mine.toml").write_text('name = "mine"\n[train]\nseed = 3\n')
    rc, _, err = cli(capsys, "train", "mine.toml", "--steps", "1", "--out", tmp_path / "out", *TINY)
    assert rc == 0, err
    assert json.loads((tmp_path / "out" / "config.json").read_text())["train"]["seed"] == 3


@pytest.mark.parametrize("value", ["[" * NESTED, "1" * 5000, "[" * 500 + "]" * 500])
def test_bad_set_value_is_one_line(tmp_path, capsys, value):
    rc, _, err = cli(capsys, "train", "ring8", "--steps", "1", "--out", tmp_path / "out", *TINY,
                     "--set", f"train.seed={value}")
    one_line_error(rc, err, "train.seed")


def _with_checkpoint_config(run, config_json: str):
    """Replace the config inside ``run``'s checkpoint (what --resume and opening a run read)."""
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    state["config_json"] = config_json
    torch.save(state, run / "checkpoint.pt")


def test_a_checkpoint_that_does_not_fit_its_config_names_the_layer_and_both_shapes(tiny_run, tmp_path, capsys):
    """Its own config asks for wider networks than its weights: the message says which weight and
    what shapes, not torch's 'Error(s) in loading state_dict for ...:' cut at its first line."""
    run = copy_run(tiny_run, tmp_path / "run")
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    cfg = json.loads(state["config_json"])
    cfg["model"]["g_width"] = 2 * cfg["model"]["g_width"]
    _with_checkpoint_config(run, json.dumps(cfg))
    rc, _, err = cli(capsys, "sample", run, "--n", "2", "--out", tmp_path / "s.npy")
    line = one_line_error(rc, err, "does not fit its own config", "in the file but", "for its config")
    assert "Error(s) in loading" not in line and "torch.Size" not in line


@pytest.mark.parametrize("command", ["resume", "sample"])
def test_run_with_a_nested_config_is_one_line(tiny_run, tmp_path, capsys, command):
    run = copy_run(tiny_run, tmp_path / "run")
    _with_checkpoint_config(run, '{"name": ' + "[" * NESTED + "]" * NESTED + "}")
    if command == "resume":
        rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "1", "--quiet")
    else:
        rc, _, err = cli(capsys, "sample", run, "--n", "2", "--out", tmp_path / "s.npy")
    one_line_error(rc, err)


@pytest.mark.parametrize("data", [b'{"name": "caf\xe9"}', b"\xff\xfe\x00garbage",
                                  ('{"name": ' + "[" * NESTED + "]" * NESTED + "}").encode()])
def test_run_with_a_broken_config_json_opens_or_is_one_line(tiny_run, tmp_path, capsys, data):
    """--resume and sample read the config saved in the checkpoint; a broken config.json beside
    it must never turn into a traceback."""
    run = copy_run(tiny_run, tmp_path / "run")
    (run / "config.json").write_bytes(data)
    for argv in (["sample", run, "--n", "2", "--out", tmp_path / "s.npy"],
                 ["train", "--resume", run, "--steps", "1", "--quiet"]):
        rc, _, err = cli(capsys, *argv)
        assert rc == 0 or one_line_error(rc, err)


@pytest.mark.parametrize("data", [b"{broken", None])   # cut by hand, or deleted
def test_a_broken_config_json_is_read_from_the_checkpoint_and_a_writer_writes_it_again(
        tiny_run, tmp_path, capsys, data):
    from gan_studio.core.config import Config
    from gan_studio.core.runs import RunFolder
    run = copy_run(tiny_run, tmp_path / "run")
    good = Config.load(run / "config.json").to_dict()
    if data is None:
        (run / "config.json").unlink()
    else:
        (run / "config.json").write_bytes(data)
    assert RunFolder.open(run).config().to_dict()["data"] == good["data"]   # a reader: from the checkpoint
    assert ((run / "config.json").read_bytes() if data else not (run / "config.json").exists()) in (data, True)
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "1", "--quiet")
    assert rc == 0
    assert "config.json could not be read; it was written again from the checkpoint's config" in err
    assert Config.load(run / "config.json").to_dict()["data"] == good["data"]
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "1", "--quiet")
    assert rc == 0 and "config.json" not in err                         # a readable one is left alone


def test_loading_a_config_never_raises_anything_but_config_error(tmp_path):
    from gan_studio.core.config import Config
    from gan_studio.core.errors import ConfigError
    for name, data in [("a.json", b"\xff"), ("a.toml", b"\xff"), ("b.json", b"[" * NESTED),
                       ("b.toml", b"a = " + b"[" * NESTED), ("c.json", b'{"data": ' + b"[" * 900 + b"]" * 900 + b"}")]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ConfigError):
            Config.load(tmp_path / name)


# -- run names and --out --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../escape", "a/b", "a\\b", "..", ".hidden", "", "x" * 101, "tab\there",
                                  "c:drive"])
def test_run_name_that_is_not_a_folder_name_is_refused(tmp_path, capsys, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    rc, _, err = cli(capsys, "train", "ring8", "--steps", "1", *TINY, "--set", f"name={name}")
    one_line_error(rc, err, "name")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "escape").exists()


def test_good_run_names_are_kept():
    from gan_studio.core.config import Config
    cfg = Config()
    for name in ("ring8", "best-grid", "my run 2.1", "imported-netG_epoch_24", "Ölmalerei"):
        cfg.set("name", name)
        assert cfg.name == name


def test_out_on_a_folder_that_is_not_a_run_is_refused(tmp_path, capsys):
    theirs = tmp_path / "project"
    theirs.mkdir()
    (theirs / "config.json").write_text('{"their": "settings"}')
    (theirs / "metrics.jsonl").write_text('{"their": 1}\n')
    rc, _, err = cli(capsys, "train", "ring8", "--steps", "1", "--out", theirs, *TINY)
    one_line_error(rc, err, str(theirs), "not empty")
    assert (theirs / "config.json").read_text() == '{"their": "settings"}'
    assert (theirs / "metrics.jsonl").read_text() == '{"their": 1}\n'
    assert sorted(os.listdir(theirs)) == ["config.json", "metrics.jsonl"]

    afile = tmp_path / "a-file"
    afile.write_text("x")
    rc, _, err = cli(capsys, "train", "ring8", "--steps", "1", "--out", afile, *TINY)
    one_line_error(rc, err, "file")
    assert afile.read_text() == "x"


def test_out_on_an_empty_folder_or_an_unfinished_run_is_fine(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, _, err = cli(capsys, "train", "ring8", "--steps", "1", "--out", empty, *TINY)
    assert rc == 0, err
    unfinished = tmp_path / "unfinished"   # a run that stopped before its first checkpoint
    copy_run(empty, unfinished)
    (unfinished / "checkpoint.pt").unlink()
    rc, _, err = cli(capsys, "train", "ring8", "--steps", "1", "--out", unfinished, *TINY)
    assert rc == 0, err


# -- CSV points ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data, words", [
    ("x,y\n1,2\n3,4\n".encode("utf-16"), ["UTF-8"]),
    (b"x,y\n1,2\ncaf\xe9,3\n", ["UTF-8"]),
    (b"x,y,z\n1,2,3\n4,5,6\n", ["3 columns"]),
    (b"1,2,3\n", ["3 columns"]),
    (b"1,2\n3,4,5\n", [":2:", "3 columns"]),
    (b"", ["no x,y points"]),
    (b"x,y\n\n", ["no x,y points"]),
    (b"1,2\n3e38,3e38\n", [":2:", "1e+06"]),
    (b"1,2\n" + b"\x00" * 10 + b"\n", [":2:"]),
])
def test_bad_csv_is_one_line(tmp_path, capsys, data, words):
    path = tmp_path / "points.csv"
    path.write_bytes(data)
    rc, _, err = cli(capsys, "train", "ring8", "--steps", "1", "--out", tmp_path / "out", *TINY,
                     "--set", "data.name=points", "--set", f"data.path={path}")
    one_line_error(rc, err, *words)


def test_csv_reader_keeps_good_files(tmp_path):
    from gan_studio.core.data.mixtures import read_points_csv
    path = tmp_path / "p.csv"
    path.write_bytes("\ufeffx,y\r\n1, 2\r\n\r\n-3.5,4e2,\r\n".encode())
    assert read_points_csv(path) == [[1.0, 2.0], [-3.5, 400.0]]


# -- points too large for float32 work -------------------------------------------------------------------
@pytest.mark.parametrize("points", ["[[3e38,3e38],[-3e38,-3e38]]", "[[1e7,0]]", "[[1,2,3],[4,5,6]]",
                                    "[[1,2],[3]]", "[[true,false]]", "[[1e400,0]]"])
def test_wild_points_are_refused_naming_data_points(tmp_path, capsys, points):
    rc, _, err = cli(capsys, "train", "ring8", "--steps", "1", "--out", tmp_path / "out", *TINY,
                     "--set", "data.name=points", "--set", f"data.points={points}")
    one_line_error(rc, err, "data.points")
    assert not (tmp_path / "out").exists()


def test_view_bounds_are_finite_even_for_wild_samples():
    from gan_studio.core.data.registry import frame_bounds
    pts = torch.tensor([[3e38, 3e38], [-3e38, -3e38], [float("nan"), 0.0], [float("inf"), 1.0]])
    b = frame_bounds(pts)
    assert all(np.isfinite(b)) and b[0] < b[1] and b[2] < b[3]
    assert frame_bounds(torch.full((4, 2), float("nan"))) == (-1.0, 1.0, -1.0, 1.0)


def test_mode_view_never_asks_for_an_infinite_range():
    pytest.importorskip("PySide6")
    from gan_studio.app.mode_view import VIEW_LIMIT, drawable, finite_bounds
    for bounds in [(-np.inf, np.inf, 0, 1), (np.nan, 1, 2, 3), (-3e38, 3e38, -3e38, 3e38), (1, 1, 1, 1),
                   (5, -5, 0, 1), None]:
        x0, x1, y0, y1 = finite_bounds(bounds)
        assert all(np.isfinite([x0, x1, y0, y1])) and x0 < x1 and y0 < y1
        assert max(abs(x0), abs(x1), abs(y0), abs(y1)) <= VIEW_LIMIT
    fake = np.array([[3e38, 3e38], [np.nan, 0], [0.5, -0.5]], np.float32)
    assert drawable(fake).tolist() == [[0.5, -0.5]]


# -- latent_directions.json -------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [
    ('{"format": "gan-studio-latent-directions/1", "latent_dim": 4, "directions": '
     + "[" * NESTED + "]" * NESTED + "}").encode(),
    ("[" * NESTED).encode(),
    b'{"format": "gan-studio-latent-directions/1", "latent_dim": 4, "directions": [{"name": "caf\xe9"}]}',
    json.dumps({"format": "gan-studio-latent-directions/1", "latent_dim": 4,
                "directions": [{"name": "up", "vector": [[1, 2], [3, 4], 5, 6]}]}).encode(),
    json.dumps({"format": "gan-studio-latent-directions/1", "latent_dim": 4,
                "directions": {"name": "up", "vector": [1, 2, 3, 4]}}).encode(),
    ('{"format": "gan-studio-latent-directions/1", "latent_dim": 4, "directions": [{"name": "up", '
     '"vector": [1, 2, 3, ' + "9" * 400 + "]}]}").encode(),
    ('{"format": "gan-studio-latent-directions/1", "latent_dim": 4, "directions": [{"name": "up", '
     '"vector": [1, 2, 3, ' + "9" * 5000 + "]}]}").encode(),
    ('{"format": "gan-studio-latent-directions/1", "latent_dim": ' + "[" * 800 + "]" * 800 + "}").encode(),
])
def test_bad_directions_file_is_a_run_error(tmp_path, data):
    from gan_studio.core.errors import RunError
    from gan_studio.core.latent import DIRECTIONS_FILE, load_directions
    (tmp_path / DIRECTIONS_FILE).write_bytes(data)
    with pytest.raises(RunError) as info:
        load_directions(tmp_path, 4)
    assert len(str(info.value).splitlines()) == 1 and len(str(info.value)) < 400


# -- memory -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("error", [
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: "
                 "you tried to allocate 1099511627776 bytes."),
    MemoryError(),
])
def test_networks_too_large_for_memory_are_one_line(tmp_path, capsys, monkeypatch, error):
    import gan_studio.core.training.trainer as trainer_module

    def no_memory(*a, **k):
        raise error
    monkeypatch.setattr(trainer_module, "build_models", no_memory)
    rc, _, err = cli(capsys, "train", "ring8", "--steps", "1", "--out", tmp_path / "out", *TINY,
                     "--set", "model.g_width=8192", "--set", "model.g_depth=16")
    one_line_error(rc, err, "not enough memory", "model.g_width", "model.g_depth")
    assert not (tmp_path / "out").exists()


def test_other_runtime_errors_are_not_called_memory(monkeypatch):
    import gan_studio.core.training.trainer as trainer_module
    from gan_studio.core.config import Config
    from gan_studio.core.families.registry import make_trainer

    def broken(*a, **k):
        raise RuntimeError("a real bug")
    monkeypatch.setattr(trainer_module, "build_models", broken)
    with pytest.raises(RuntimeError, match="a real bug"):
        make_trainer(Config(), device="cpu")


# -- a full disk -----------------------------------------------------------------------------------------
def _disk_full(*a, **k):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_when_creating_a_run_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "fsync", _disk_full)
    rc, _, err = cli(capsys, "train", "ring8", "--steps", "1", "--out", tmp_path / "out", *TINY)
    one_line_error(rc, err, "disk full")


def test_disk_full_when_resuming_is_one_line(tiny_run, tmp_path, capsys, monkeypatch):
    """trainer_from_run's truncate_after rewrites the logs: the first write on a resume."""
    run = copy_run(tiny_run, tmp_path / "run")
    monkeypatch.setattr(os, "fsync", _disk_full)
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "1", "--quiet")
    one_line_error(rc, err, "disk full")


def test_disk_full_in_truncate_after_is_one_line(tiny_run, tmp_path, capsys, monkeypatch):
    from gan_studio.core.runs import RunFolder
    run = copy_run(tiny_run, tmp_path / "run")

    def full(self, step):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(RunFolder, "truncate_after", full)
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "1", "--quiet")
    one_line_error(rc, err, "disk full")


def test_disk_full_when_writing_samples_is_one_line(tiny_run, tmp_path, capsys, monkeypatch):
    import gan_studio.core.io as core_io

    real_write = core_io.atomic_write_bytes

    def full(path, data):
        if str(path).endswith("s.npy"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_write(path, data)
    monkeypatch.setattr(core_io, "atomic_write_bytes", full)
    rc, _, err = cli(capsys, "sample", tiny_run, "--n", "2", "--out", tmp_path / "s.npy")
    one_line_error(rc, err, "disk full while writing", "s.npy")


@pytest.mark.parametrize("code, word", [(errno.EROFS, "read-only"), (errno.EACCES, "permission denied"),
                                        (getattr(errno, "EDQUOT", errno.ENOSPC), "disk full")])
def test_os_errors_are_described_in_one_line(code, word):
    from gan_studio.core.errors import describe_os_error
    line = describe_os_error(OSError(code, os.strerror(code), "/some/file"))
    assert word in line and "/some/file" in line and "\n" not in line


def test_user_errors_are_shared_by_the_cli_and_the_window():
    from gan_studio import cli
    from gan_studio.core.errors import CheckpointError, ConfigError, RunError, UserError, user_errors
    assert cli.user_errors is user_errors
    assert issubclass(ConfigError, UserError)
    assert {ConfigError, CheckpointError, RunError} <= set(user_errors())


# -- checkpoints that cannot be read ----------------------------------------------------------------------
class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def _resume_error(capsys, run) -> str:
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "1", "--quiet", "--device", "cpu")
    assert rc == 2
    return one_line_error(rc, err)


def test_a_truncated_checkpoint_is_named_without_torchs_text_cut_mid_word(tiny_run, tmp_path, capsys):
    """The message pasted torch's text cut at 120 characters: '...an internal miniz error. If yo)'; then
    its first sentence ('(RuntimeError: PytorchStreamReader failed ...)'); now none of torch's text."""
    run = copy_run(tiny_run, tmp_path / "run")
    ck = run / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[:1000])
    with pytest.raises(RuntimeError) as torch_said:
        torch.load(ck, map_location="cpu", weights_only=True)
    first = str(torch_said.value).split(". ")[0]          # torch's first sentence
    line = _resume_error(capsys, run)
    assert f"{ck} is cut short (1,000 bytes" in line and "run code" not in line
    assert first not in line and "RuntimeError" not in line and "PytorchStreamReader" not in line
    assert "miniz" not in line and "If yo" not in line


@pytest.mark.parametrize("what", ["random bytes", "a plain pickle", "text"])
def test_a_file_that_is_no_checkpoint_is_not_called_code(tiny_run, tmp_path, capsys, monkeypatch, what):
    """Random bytes were reported as 'holds objects other than tensors ... (loading it could run code)'.
    (A plain pickle that names code to run is refused as such: tests/test_unreadable_checkpoint.py.)"""
    import pickle
    monkeypatch.chdir(tmp_path)
    run = copy_run(tiny_run, tmp_path / "run")
    data = {"random bytes": np.random.default_rng(0).bytes(5000), "a plain pickle": pickle.dumps({"a": [1, 2]}),
            "text": b"not a checkpoint\n" * 50}[what]
    (run / "checkpoint.pt").write_bytes(data)
    line = _resume_error(capsys, run)
    assert "not a checkpoint" in line and "run code" not in line and "refused" not in line
    assert "weights_only" not in line and "Weights only" not in line
    assert not (tmp_path / "PWNED").exists()


def test_a_checkpoint_that_names_code_is_refused_as_such(tiny_run, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = copy_run(tiny_run, tmp_path / "run")
    torch.save({"format": "gan-studio-checkpoint/1", "payload": _RunsCode()}, run / "checkpoint.pt")
    line = _resume_error(capsys, run)
    assert "was refused" in line and "could run code" in line and "system" in line   # the global it named
    assert "weights_only" not in line
    assert not (tmp_path / "PWNED").exists()


def test_a_corrupt_checkpoint_names_the_kept_states_and_the_fork_that_recovers(tmp_path, capsys):
    """A run with forks/step_*.pt: the message for a corrupt checkpoint.pt says where the earlier states
    are and gives the `gan-studio fork` command; that command works and the fork trains on."""
    run = tmp_path / "run"
    assert main(["train", "ring8", "--steps", "12", "--out", str(run), *TINY, "--set", "train.eval_every=5",
                 "--set", "train.checkpoint_every=5"]) == 0
    kept = sorted(int(p.stem[5:]) for p in (run / "forks").glob("step_*.pt"))
    assert kept and max(kept) == 10
    ck = run / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[:2000])
    capsys.readouterr()
    line = _resume_error(capsys, run)
    assert "is cut short" in line
    assert f"earlier states are kept in {run / 'forks'} (steps {', '.join(map(str, kept))})" in line
    command = f"gan-studio fork {run} --at 10 --out NEW_DIR"
    assert f"`{command}`" in line
    # fork without --at reads the checkpoint: the same hint
    rc, _, err = cli(capsys, "fork", run, "--out", tmp_path / "x")
    assert "gan-studio fork" in one_line_error(rc, err, "is cut short") and not (tmp_path / "x").exists()
    # the command it gives recovers the run, which then trains on
    recovered = tmp_path / "recovered"
    argv = command.replace("NEW_DIR", str(recovered)).split()[1:]
    rc, _, err = cli(capsys, *argv)
    assert rc == 0, err
    rc, _, err = cli(capsys, "train", "--resume", recovered, "--steps", "3", "--quiet", "--device", "cpu")
    assert rc == 0, err
    assert json.loads((recovered / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 13
    # a run that kept no states gets no hint
    for p in (run / "forks").iterdir():
        p.unlink()
    assert "forks" not in _resume_error(capsys, run)
