"""A checkpoint that cannot be read is one plain sentence: the file, what is wrong with it (empty, cut
short, incomplete, damaged, not a checkpoint, refused as code) and its size, then what the user can do;
never torch's text ("PytorchStreamReader failed ...", "OSError: [Errno 22] ..."), an exception's class
name or an errno. Every command that reads the checkpoint says the same words, and so does the window
(the engine's reply to Open). One test per way the file can be broken."""
from __future__ import annotations

import io
import os
import pickle
import re
import shutil
import struct
import zipfile

import numpy as np
import pytest
import torch

from gan_studio.cli import main
from cli_helpers import cli

TINY = ["--quiet", "--device", "cpu", "--set", "model.g_width=8", "--set", "model.d_width=8",
        "--set", "model.g_depth=1", "--set", "model.d_depth=1", "--set", "train.batch_size=8"]
#: what no message may show: torch's own words, an exception's class name, an errno
TORCH_TEXT = re.compile(r"PytorchStreamReader|Errno|miniz|weights_only|Weights only|central directory|"
                        r"\b\w*(Error|Exception)\b|Traceback")
ADVICE = "to go on, put an earlier copy of checkpoint.pt in its place; the run's metrics and snapshots can still be read"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 2-step ring8 run with tiny networks (about a second)."""
    path = tmp_path_factory.mktemp("unreadable") / "run"
    assert main(["train", "ring8", "--steps", "2", "--out", str(path), *TINY]) == 0
    return path


def broken_run(tiny_run, tmp_path, data: bytes):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns(".lock"))
    (run / "checkpoint.pt").write_bytes(data)
    return run


def the_message(capsys, run, tmp_path) -> str:
    """The one line every command that reads RUN's checkpoint gives (after its 'gan-studio CMD: error: '),
    checked to be the same for all of them, with exit 2, and free of torch's text."""
    commands = {
        "train": ["train", "--resume", run, "--steps", "1", "--quiet", "--device", "cpu"],
        "sample": ["sample", run, "--out", tmp_path / "s.npy"],
        "fork": ["fork", run, "--out", tmp_path / "fork"],
        "latent": ["latent", run, "--interpolate", tmp_path / "z.npy", "--out", tmp_path / "l.png"],
        "metrics": ["metrics", run, "--classifiers", "0"],
    }
    messages = {}
    for name, argv in commands.items():
        rc, _, err = cli(capsys, *argv)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert rc == 2 and len(lines) == 1, f"{name}: exit {rc}, stderr:\n{err}"
        prefix = f"gan-studio {name}: error: "
        assert lines[0].startswith(prefix), lines[0]
        messages[name] = lines[0][len(prefix):]
    assert len(set(messages.values())) == 1, messages
    line = messages["train"]
    assert not TORCH_TEXT.search(line), line
    assert not (tmp_path / "fork").exists() and not (tmp_path / "s.npy").exists()
    return line


def test_a_checkpoint_cut_to_half_its_bytes(tiny_run, tmp_path, capsys):
    """Was '... is truncated or corrupt and cannot be read (OSError: [Errno 22] Invalid argument)'."""
    data = (tiny_run / "checkpoint.pt").read_bytes()
    run = broken_run(tiny_run, tmp_path, data[:len(data) // 2])
    line = the_message(capsys, run, tmp_path)
    assert line == (f"{run / 'checkpoint.pt'} is cut short ({len(data) // 2:,} bytes; its end is missing): "
                    f"it cannot be read; {ADVICE}")


def test_a_checkpoint_cut_to_zero_bytes(tiny_run, tmp_path, capsys):
    run = broken_run(tiny_run, tmp_path, b"")
    line = the_message(capsys, run, tmp_path)
    assert line == f"{run / 'checkpoint.pt'} is empty (0 bytes): it cannot be read; {ADVICE}"


def test_a_checkpoint_cut_to_ten_bytes(tiny_run, tmp_path, capsys):
    """Was '... (RuntimeError: PytorchStreamReader failed reading zip archive: not a ZIP archive)'."""
    run = broken_run(tiny_run, tmp_path, (tiny_run / "checkpoint.pt").read_bytes()[:10])
    line = the_message(capsys, run, tmp_path)
    assert line == f"{run / 'checkpoint.pt'} is cut short (10 bytes; its end is missing): it cannot be read; {ADVICE}"


def test_a_checkpoint_cut_to_fewer_bytes_than_the_zip_signature(tiny_run, tmp_path, capsys):
    run = broken_run(tiny_run, tmp_path, (tiny_run / "checkpoint.pt").read_bytes()[:3])
    assert "is cut short (3 bytes; its end is missing)" in the_message(capsys, run, tmp_path)


def test_random_bytes_in_place_of_the_checkpoint(tiny_run, tmp_path, capsys):
    run = broken_run(tiny_run, tmp_path, np.random.default_rng(0).bytes(5000))
    line = the_message(capsys, run, tmp_path)
    assert line == (f"{run / 'checkpoint.pt'} is cut short or is not a checkpoint (5,000 bytes that are neither "
                    f"a PyTorch archive nor a pickle): it cannot be read; {ADVICE}")
    assert "run code" not in line


def _rezipped(data: bytes, keep) -> bytes:
    """The checkpoint's zip archive written again with only the records ``keep(name)`` accepts."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for info in src.infolist():
            if keep(info.filename):
                out.writestr(info, src.read(info))
    return buf.getvalue()


def test_a_whole_zip_that_lacks_the_data_records(tiny_run, tmp_path, capsys):
    """Was '... (RuntimeError: PytorchStreamReader failed locating file data/0: file not found)'."""
    data = _rezipped((tiny_run / "checkpoint.pt").read_bytes(), lambda name: "/data/" not in name)
    run = broken_run(tiny_run, tmp_path, data)
    line = the_message(capsys, run, tmp_path)
    assert line == (f"{run / 'checkpoint.pt'} is incomplete ({len(data):,} bytes; its archive lacks the record "
                    f"data/0, the bytes of a tensor): it cannot be read; {ADVICE}")


def test_a_whole_zip_without_data_pkl_is_not_a_checkpoint(tiny_run, tmp_path, capsys):
    data = _rezipped((tiny_run / "checkpoint.pt").read_bytes(), lambda name: not name.endswith("data.pkl"))
    run = broken_run(tiny_run, tmp_path, data)
    assert (f"is not a checkpoint ({len(data):,} bytes; a zip archive without the data.pkl that a PyTorch file "
            "holds): it cannot be read") in the_message(capsys, run, tmp_path)


def test_a_zip_whose_record_is_damaged_names_the_record(tiny_run, tmp_path, capsys):
    """Bytes of data.pkl overwritten in place: torch fails (a UnicodeDecodeError inside its unpickler);
    the record's checksum says which part of the file is damaged."""
    data = bytearray((tiny_run / "checkpoint.pt").read_bytes())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("archive/data.pkl")
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    data[start + 40:start + 60] = b"\xff" * 20
    run = broken_run(tiny_run, tmp_path, bytes(data))
    line = the_message(capsys, run, tmp_path)
    assert f"is damaged ({len(data):,} bytes; its record archive/data.pkl does not match its checksum)" in line


def test_a_flipped_byte_in_a_weight_is_found_by_its_checksum_not_trained_on(tiny_run, tmp_path, capsys):
    """Bytes of a tensor's record changed in place: torch loads the file without a word (a wrong weight,
    and training would go on from it); the record's checksum says it is damaged."""
    data = bytearray((tiny_run / "checkpoint.pt").read_bytes())
    zf = zipfile.ZipFile(io.BytesIO(bytes(data)))
    record = max((i for i in zf.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    name_len, extra_len = struct.unpack("<HH", data[record.header_offset + 26:record.header_offset + 30])
    start = record.header_offset + 30 + name_len + extra_len
    data[start + record.file_size // 2] ^= 0x40           # one bit of one weight
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(data))
    torch.load(damaged, map_location="cpu", weights_only=True)   # the premise: torch alone takes it
    run = broken_run(tiny_run, tmp_path, bytes(data))
    line = the_message(capsys, run, tmp_path)
    assert f"is damaged ({len(data):,} bytes; its record {record.filename} does not match its checksum)" in line
    rc, _, err = cli(capsys, "import-generator", damaged, "--out", tmp_path / "imported")
    assert rc == 2 and f"its record {record.filename} does not match its checksum" in err
    assert not (tmp_path / "imported").exists()


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_plain_pickle_that_names_code_is_refused_as_code(tiny_run, tmp_path, capsys, monkeypatch, protocol):
    """Protocol 2 was refused by torch's unpickler for its global; protocol 4 (Python's default) was called
    'corrupt' (torch stops at its FRAME opcode first). Both name os.system: refused, never run."""
    monkeypatch.chdir(tmp_path)
    run = broken_run(tiny_run, tmp_path, pickle.dumps(_RunsCode(), protocol=protocol))
    line = the_message(capsys, run, tmp_path)
    assert line.startswith(f"{run / 'checkpoint.pt'} was refused: it holds objects other than tensors and plain data "
                           f"({os.system.__module__}.system), and loading it could run code, so it was not loaded")
    assert not (tmp_path / "PWNED").exists()


def test_a_plain_pickle_of_plain_data_is_not_a_checkpoint(tiny_run, tmp_path, capsys):
    data = pickle.dumps({"step": 3, "G": [1.0, 2.0]}, protocol=4)
    run = broken_run(tiny_run, tmp_path, data)
    line = the_message(capsys, run, tmp_path)
    assert f"is a plain Python pickle, not a checkpoint ({len(data)} bytes): it cannot be read" in line
    assert "run code" not in line


def test_a_folder_in_place_of_the_checkpoint(tiny_run, tmp_path, capsys):
    """Was 'RUN has no checkpoint.pt yet: no step of this run was saved'."""
    run = broken_run(tiny_run, tmp_path, b"")
    (run / "checkpoint.pt").unlink()
    (run / "checkpoint.pt").mkdir()
    line = the_message(capsys, run, tmp_path)
    assert line == f"{run / 'checkpoint.pt'} is a folder, not a checkpoint file: it cannot be read; {ADVICE}"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_a_checkpoint_this_user_may_not_read(tiny_run, tmp_path, capsys):
    run = broken_run(tiny_run, tmp_path, (tiny_run / "checkpoint.pt").read_bytes())
    (run / "checkpoint.pt").chmod(0)
    try:
        line = the_message(capsys, run, tmp_path)
    finally:
        (run / "checkpoint.pt").chmod(0o644)
    assert f"{run / 'checkpoint.pt'} cannot be opened: permission denied" in line


def test_a_checkpoint_that_cannot_be_opened_says_why_in_words(tmp_path, monkeypatch):
    """Permission denied (as another user than root gets it): words, not '[Errno 13] Permission denied'."""
    import builtins

    from gan_studio.core.errors import CheckpointError
    from gan_studio.core.runs import load_checkpoint_file
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"x" * 100)
    real_open = builtins.open

    def refuse(file, *a, **k):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *a, **k)
    monkeypatch.setattr(builtins, "open", refuse)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint_file(path)
    assert str(e.value).startswith(f"{path} cannot be opened: permission denied (it is not readable by this user)")
    assert not TORCH_TEXT.search(str(e.value))


def test_the_runs_metrics_are_still_readable_as_the_message_says(tiny_run, tmp_path, capsys):
    data = (tiny_run / "checkpoint.pt").read_bytes()
    run = broken_run(tiny_run, tmp_path, data[:len(data) // 2])
    rc, out, _ = cli(capsys, "metrics", run)
    assert rc == 0 and "loss_d" in out


def test_the_window_shows_the_same_words(tiny_run, tmp_path, capsys):
    """The engine's reply to Open (what the window shows) is the CLI's line, word for word."""
    import queue

    from gan_studio.session import protocol as P
    from gan_studio.session.engine import TrainingEngine
    data = (tiny_run / "checkpoint.pt").read_bytes()
    run = broken_run(tiny_run, tmp_path, data[:len(data) // 2])
    line = the_message(capsys, run, tmp_path)
    replies = []
    engine = TrainingEngine(tmp_path / "runs", None, queue.SimpleQueue(), replies.append)
    engine._open(str(run))
    failed = [r for r in replies if isinstance(r, P.Failed)]
    assert [f.message for f in failed] == [line]


def test_a_kept_state_cut_short_names_the_other_kept_steps(tmp_path, capsys):
    """`fork RUN --at STEP` reads forks/step_*.pt: the same sentence, and the steps to fork at instead."""
    run = tmp_path / "run"
    assert main(["train", "ring8", "--steps", "12", "--out", str(run), *TINY, "--set", "train.eval_every=5",
                 "--set", "train.checkpoint_every=5"]) == 0
    kept = sorted(int(p.stem[5:]) for p in (run / "forks").glob("step_*.pt"))
    assert len(kept) >= 2
    state = run / "forks" / f"step_{kept[0]:08d}.pt"
    state.write_bytes(state.read_bytes()[:500])
    capsys.readouterr()
    rc, _, err = cli(capsys, "fork", run, "--at", kept[0], "--out", tmp_path / "f")
    others = ", ".join(str(s) for s in kept[1:])
    assert rc == 2 and err.strip() == (f"gan-studio fork: error: {state} is cut short (500 bytes; its end is "
                                       f"missing): it cannot be read; fork at another kept step ({others}) or "
                                       f"from the run's checkpoint.pt (without --at)")
    assert not (tmp_path / "f").exists()


def test_fork_list_of_a_run_whose_checkpoint_is_cut_short_lists_its_kept_states(tmp_path, capsys):
    """The kept states are how a run with a damaged checkpoint.pt is recovered: --list still names
    them (on stdout, as always), says on stderr why the checkpoint's step is not among them, and the
    fork it suggests works. With no kept state either, it is the checkpoint's one line."""
    run = tmp_path / "run"
    assert main(["train", "ring8", "--steps", "12", "--out", str(run), *TINY, "--set", "train.eval_every=5",
                 "--set", "train.checkpoint_every=5"]) == 0
    kept = sorted(int(p.stem[5:]) for p in (run / "forks").glob("step_*.pt"))
    assert kept
    checkpoint = run / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:700])
    capsys.readouterr()
    rc, out, err = cli(capsys, "fork", run, "--list")
    assert rc == 0 and [line.split()[0] for line in out.splitlines()[1:]] == [str(s) for s in kept]
    note = err.strip().splitlines()
    assert len(note) == 1 and note[0].startswith(f"gan-studio fork: note: {checkpoint} is cut short (700 bytes")
    suggested = f"gan-studio fork {run} --at {kept[-1]} --out DIR"
    assert suggested in note[0] and not TORCH_TEXT.search(note[0])
    rc, _, _ = cli(capsys, "fork", run, "--at", kept[-1], "--out", tmp_path / "recovered")
    assert rc == 0 and (tmp_path / "recovered" / "checkpoint.pt").is_file()
    for state in (run / "forks").glob("step_*.pt"):
        state.unlink()
    rc, out, err = cli(capsys, "fork", run, "--list")
    assert rc == 2 and not out and len(err.strip().splitlines()) == 1 and "is cut short (700 bytes" in err


def test_import_generator_of_a_file_cut_short(tmp_path, capsys):
    """import-generator FILE: the same sentence for a state_dict cut short, with what to do about it."""
    from torch import nn
    path = tmp_path / "netG.pth"
    buf = io.BytesIO()
    torch.save(nn.Linear(4, 4).state_dict(), buf)
    path.write_bytes(buf.getvalue()[:len(buf.getvalue()) // 2])
    rc, _, err = cli(capsys, "import-generator", path, "--out", tmp_path / "run")
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and not TORCH_TEXT.search(lines[0].split(": error: ", 1)[1])
    assert lines[0] == (f"gan-studio import-generator: error: {path} is cut short ({len(buf.getvalue()) // 2:,} "
                        "bytes; its end is missing): it cannot be read; copy the file again, or save it again "
                        "with torch.save(netG.state_dict(), FILE)")
    assert not (tmp_path / "run").exists()
