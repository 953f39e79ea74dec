"""Run folders: exact resume, atomic checkpoints, hostile and corrupt files refused; the CLI end to end."""
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from gan_studio.cli import main
from gan_studio.core.config import Config
from gan_studio.core.errors import CheckpointError
from gan_studio.core.runs import RunFolder, load_checkpoint_file, trainer_from_run
from gan_studio.core.training.run_loop import RunLoop
from gan_studio.core.training.trainer import Trainer

TINY = ["--set", "model.g_width=16", "--set", "model.d_width=16", "--set", "train.batch_size=32",
        "--set", "train.log_every=5", "--set", "train.eval_every=10", "--set", "train.checkpoint_every=10",
        "--set", "train.snapshot_every=10", "--device", "cpu", "--quiet"]


def tiny_cfg():
    cfg = Config()
    for k, v in {"model.g_width": 16, "model.d_width": 16, "train.batch_size": 32, "train.device": "cpu",
                 "train.log_every": 5, "train.eval_every": 10, "train.checkpoint_every": 10}.items():
        cfg.set(k, v)
    return cfg


def weights(tr):
    return torch.cat([p.detach().flatten() for p in list(tr.G.parameters()) + list(tr.D.parameters())])


def test_resume_continues_exactly_as_if_never_stopped(tmp_path):
    straight = Trainer(tiny_cfg())
    for _ in range(30):
        straight.step()

    tr = Trainer(tiny_cfg())
    run = RunFolder.create(tmp_path / "r", tr.cfg)
    loop = RunLoop(tr, run)
    for _ in range(17):
        loop.advance()  # checkpoint at step 10; rows up to 15 logged
    resumed, run2 = trainer_from_run(tmp_path / "r", writable=True)   # resumed to train: the writer
    assert resumed.step_count == 10
    assert max(r["step"] for r in run2.read_metrics()) == 10  # rows after the checkpoint are dropped
    for _ in range(20):
        resumed.step()
    assert torch.equal(weights(resumed), weights(straight))


def test_metrics_log_has_the_required_fields(tmp_path):
    tr = Trainer(tiny_cfg())
    run = RunFolder.create(tmp_path / "r", tr.cfg)
    loop = RunLoop(tr, run)
    for _ in range(10):
        loop.advance()
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == [5, 10]
    assert {"step", "loss_d", "loss_g", "d_real", "d_fake", "modes", "modes_strict", "hq", "rkl"} <= set(rows[1])
    assert (tmp_path / "r" / "checkpoint.pt").is_file()
    assert json.loads((tmp_path / "r" / "config.json").read_text())["train"]["batch_size"] == 32


class Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_checkpoint_that_would_run_code_is_refused_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "evil.pt"
    torch.save({"format": "gan-studio-checkpoint/1", "payload": Evil()}, bad)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint_file(bad)
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError):
        load_checkpoint_file(raw)
    assert not (tmp_path / "PWNED").exists()


def test_truncated_and_foreign_checkpoints_give_clear_errors(tmp_path):
    tr = Trainer(tiny_cfg())
    run = RunFolder.create(tmp_path / "r", tr.cfg)
    good = run.save_checkpoint(tr)
    data = good.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="is cut short"):
        load_checkpoint_file(cut)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="not a GAN Studio checkpoint"):
        load_checkpoint_file(other)


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    tr = Trainer(tiny_cfg())
    run = RunFolder.create(tmp_path / "r", tr.cfg)
    run.save_checkpoint(tr)
    before = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    tr.step()

    def fail(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError):
        run.save_checkpoint(tr)
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == before
    assert [p.name for p in (tmp_path / "r").iterdir() if p.name.endswith(".tmp")] == []


def test_cli_train_sample_metrics_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "ring8", "--steps", "20", "--out", str(out), *TINY]) == 0
    assert main(["sample", str(out), "--n", "2500", "--out", str(tmp_path / "s.npy")]) == 0
    s = np.load(tmp_path / "s.npy", allow_pickle=False)
    assert s.shape == (2500, 2) and s.dtype == np.float32
    latent = json.loads((out / "config.json").read_text())["model"]["latent_dim"]
    z = np.random.default_rng(0).standard_normal((7, latent)).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    assert main(["sample", str(out), "--z", str(tmp_path / "z.npy"), "--out", str(tmp_path / "a.npy")]) == 0
    assert main(["sample", str(out), "--z", str(tmp_path / "z.npy"), "--out", str(tmp_path / "b.png")]) == 0
    a = np.load(tmp_path / "a.npy")
    assert a.shape == (7, 2)
    tr, _ = trainer_from_run(out)
    assert np.allclose(tr.generate(torch.from_numpy(z)).numpy(), a)
    assert (tmp_path / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    assert main(["metrics", str(out)]) == 0
    table = capsys.readouterr().out
    assert "modes" in table and "loss_d" in table
    assert main(["train", "--resume", str(out), "--steps", "10", "--quiet", "--set", "train.lr_d=5e-4"]) == 0
    rows = RunFolder(out).read_metrics()
    assert rows[-1]["step"] == 30
    assert RunFolder(out).read_events()[-1]["key"] == "train.lr_d"


@pytest.mark.parametrize("args,needle", [
    (["train", "nosuchpreset", "--steps", "5"], "unknown preset 'nosuchpreset'"),
    (["train", "ring8", "--steps", "5", "--set", "train.lr_d=7"], "train.lr_d = 7.0 is out of range"),
    (["train", "ring8", "--steps", "5", "--set", "train.lrd=1"], "unknown config key 'train.lrd'"),
    (["train", "--resume", "/nonexistent/run", "--steps", "5"], "no run folder at /nonexistent/run"),
    (["sample", "/nonexistent/run", "--out", "x.npy"], "no run folder"),
])
def test_cli_bad_input_is_one_line_and_nonzero(args, needle, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err


def test_cli_truncated_checkpoint_is_one_line(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "ring8", "--steps", "10", "--out", str(out), *TINY]) == 0
    ck = out / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[:1000])
    r = subprocess.run([sys.executable, "-m", "gan_studio", "train", "--resume", str(out), "--steps", "5"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "is cut short (1,000 bytes" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_every_command_has_help(capsys):
    from gan_studio.cli import build_parser
    parser = build_parser()
    names = parser._subparsers._group_actions[0].choices
    assert {"train", "presets", "sample", "metrics"} <= set(names)
    for name in names:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        assert f"usage: gan-studio {name}" in capsys.readouterr().out
