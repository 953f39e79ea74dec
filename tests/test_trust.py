"""A run folder is data (issue 16, items 1, 3 and 9): a TorchScript generator runs only when trusted,
``script_path`` stays inside the run folder, non-finite imports are refused, ``sample`` refuses bad
latents, too many samples and non-finite output, each with one line and a non-zero exit."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from gan_studio.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated, still supported


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    """The attacker's machine: its own trust store, never the user's ~/.config."""
    folder = tmp_path / "config-attacker"
    monkeypatch.setenv("GAN_STUDIO_CONFIG_DIR", str(folder))
    return folder


class SideEffect(nn.Module):
    """A generator (N, 4) -> (N, 1, 8, 8) whose forward also overwrites ``target`` through torch.from_file."""

    def __init__(self, target: str, scale: float = 1.0):
        super().__init__()
        self.target, self.scale = target, scale

    def forward(self, z):
        t = torch.from_file(self.target, shared=True, size=4, dtype=torch.uint8)
        t.fill_(88)  # "XXXX"
        return torch.tanh(self.scale * z[:, :1].reshape(-1, 1, 1, 1).expand(-1, 1, 8, 8)) + t[:1].float().sum() * 0


class Plain(nn.Module):
    def __init__(self, bias: float = 0.0):
        super().__init__()
        self.lin = nn.Linear(4, 64)
        with torch.no_grad():
            self.lin.bias.fill_(bias)

    def forward(self, z):
        return torch.tanh(self.lin(z)).view(-1, 1, 8, 8)


def _script(module, path):
    torch.jit.save(torch.jit.script(module), str(path))
    return path


def _attack(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("safe")
    return victim, _script(SideEffect(str(victim)), tmp_path / "side.pt")


def _one_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _import(tmp_path, script, out="run", *extra):
    return main(["import-generator", str(script), "--arch", "torchscript", "--nz", "4",
                 "--out", str(tmp_path / out), *extra])


def test_import_of_a_torchscript_file_needs_trust_code(tmp_path, capsys):
    from gan_studio.core.trust import file_sha256
    victim, script = _attack(tmp_path)
    assert _import(tmp_path, script) == 2
    err = _one_line(capsys)
    assert str(script) in err and file_sha256(script) in err and "--trust-code" in err
    assert victim.read_text() == "safe" and not (tmp_path / "run" / "checkpoint.pt").exists()
    assert _import(tmp_path, script, "run", "--trust-code") == 0
    assert victim.read_text() == "XXXX"   # trusted: it ran (the probe)


def test_received_run_folder_runs_no_code_without_trust(tmp_path, capsys, monkeypatch):
    from gan_studio.core.trust import file_sha256, store_path
    victim, script = _attack(tmp_path)
    assert _import(tmp_path, script, "run", "--trust-code") == 0
    run = tmp_path / "run"
    inside = run / "generator.torchscript.pt"
    sha = file_sha256(inside)
    assert sha in json.loads(store_path().read_text())["scripts"]   # remembered on the importer's machine
    monkeypatch.setenv("GAN_STUDIO_CONFIG_DIR", str(tmp_path / "config-recipient"))  # someone else opens it
    victim.write_text("safe")
    capsys.readouterr()
    for argv in (["sample", str(run), "--n", "2", "--out", str(tmp_path / "s.npy")],
                 ["latent", str(run), "--interpolate", "a.npy", "b.npy", "--out", str(tmp_path / "l.png")],
                 ["train", "--resume", str(run), "--steps", "1", "--quiet"]):
        assert main(argv) == 2, argv
        err = _one_line(capsys)
        assert str(inside) in err and sha in err and "--trust-code" in err, err
        assert victim.read_text() == "safe"
    assert not (tmp_path / "s.npy").exists()
    # the person says they trust it: it runs, and is remembered for this content
    assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "s.npy"), "--trust-code"]) == 0
    assert victim.read_text() == "XXXX" and np.load(tmp_path / "s.npy").shape == (2, 1, 8, 8)
    victim.write_text("safe")
    assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "s2.npy")]) == 0
    assert victim.read_text() == "XXXX"


def test_attack_end_to_end_in_a_fresh_process(tmp_path):
    victim, script = _attack(tmp_path)
    assert _import(tmp_path, script, "run", "--trust-code") == 0
    victim.write_text("safe")
    env = {**os.environ, "GAN_STUDIO_CONFIG_DIR": str(tmp_path / "config-recipient"), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", "import sys; from gan_studio.cli import main; sys.exit(main())",
                        "sample", str(tmp_path / "run"), "--n", "2", "--out", str(tmp_path / "s.npy")],
                       capture_output=True, text=True, env=env, timeout=120)
    err = "\n".join(line for line in p.stderr.strip().splitlines() if "Warning" not in line
                    and not line.startswith("  "))   # torch.jit's deprecation warning is not ours
    assert p.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in p.stderr, p.stderr
    assert "--trust-code" in err and victim.read_text() == "safe" and not (tmp_path / "s.npy").exists()


def test_a_changed_script_is_untrusted_again(tmp_path, capsys):
    from gan_studio.core.trust import file_sha256, script_trusted, trust_script
    assert _import(tmp_path, _script(Plain(), tmp_path / "g.pt"), "run", "--trust-code") == 0
    inside = tmp_path / "run" / "generator.torchscript.pt"
    assert script_trusted(inside)
    assert main(["sample", str(tmp_path / "run"), "--n", "3", "--out", str(tmp_path / "a.npy")]) == 0
    _script(Plain(bias=0.5), inside)   # same place, other content
    assert not script_trusted(inside)
    capsys.readouterr()
    assert main(["sample", str(tmp_path / "run"), "--n", "3", "--out", str(tmp_path / "b.npy")]) == 2
    assert file_sha256(inside) in _one_line(capsys)
    assert trust_script(inside) == file_sha256(inside) and script_trusted(inside)
    assert main(["sample", str(tmp_path / "run"), "--n", "3", "--out", str(tmp_path / "b.npy")]) == 0


def test_loader_refuses_without_trust(tmp_path):
    from gan_studio.core.errors import CheckpointError
    from gan_studio.core.nets.scripted import load_script
    from gan_studio.core.trust import UntrustedCodeError, trust_script
    victim, script = _attack(tmp_path)
    with pytest.raises(UntrustedCodeError) as e:
        load_script(script)
    assert isinstance(e.value, CheckpointError)
    load_script(script, trust=True)   # explicit: loads (loading alone runs nothing)
    trust_script(script)
    load_script(script)
    assert victim.read_text() == "safe"


def _rewrite_script_path(run, value):
    ckpt = run / "checkpoint.pt"
    state = torch.load(ckpt, weights_only=True)
    cfg = json.loads(state["config_json"])
    cfg["model"]["script_path"] = value
    state["config_json"] = json.dumps(cfg)
    torch.save(state, ckpt)


def test_script_path_must_stay_inside_the_run_folder(tmp_path, capsys):
    victim, script = _attack(tmp_path)
    assert _import(tmp_path, script, "run", "--trust-code") == 0   # side.pt is trusted, even outside
    run = tmp_path / "run"
    (tmp_path / "outside").mkdir()
    (run / "link.pt").symlink_to(script)
    for value in (str(script), "../side.pt", "sub/../../side.pt", "link.pt"):
        _rewrite_script_path(run, value)
        victim.write_text("safe")
        capsys.readouterr()
        assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "s.npy"), "--trust-code"]) == 2
        err = _one_line(capsys)
        assert "model.script_path" in err and victim.read_text() == "safe", (value, err)


class TinyDCGAN(nn.Module):
    """pytorch/examples' DCGAN generator (64 px), with ngf 4."""

    def __init__(self, nz=100, ngf=4, nc=1):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, x):
        return self.main(x)


@pytest.mark.parametrize("damage, words", [
    (lambda s: s["main.0.weight"].view(-1)[:3].fill_(float("nan")), "main.0.weight holds 3 NaN or infinite"),
    (lambda s: s["main.4.weight"].view(-1)[0].fill_(float("inf")), "main.4.weight holds 1 NaN or infinite"),
    (lambda s: s["main.1.running_var"].view(-1)[1].fill_(-0.5), "main.1.running_var holds negative running"),
])
def test_import_refuses_non_finite_weights_and_negative_variances(tmp_path, capsys, damage, words):
    state = TinyDCGAN().state_dict()
    damage(state)
    torch.save(state, tmp_path / "netG.pth")
    assert main(["import-generator", str(tmp_path / "netG.pth"), "--nc", "1", "--ngf", "4",
                 "--out", str(tmp_path / "run")]) == 2
    assert words in _one_line(capsys)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_import_refuses_a_script_that_draws_nan(tmp_path, capsys):
    nan_bias = Plain(bias=float("nan"))
    assert _import(tmp_path, _script(nan_bias, tmp_path / "nan.pt"), "r1", "--trust-code") == 2
    assert "NaN" in _one_line(capsys)

    class DrawsNaN(nn.Module):
        def forward(self, z):
            return torch.log(z[:, :1] - 1).reshape(-1, 1, 1, 1).expand(-1, 1, 8, 8)  # NaN for z < 1
    assert _import(tmp_path, _script(DrawsNaN(), tmp_path / "draws.pt"), "r2", "--trust-code") == 2
    assert "non-finite" in _one_line(capsys)
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()


@pytest.fixture
def points_run(tmp_path):
    run = tmp_path / "pts"
    assert main(["train", "ring8", "--steps", "1", "--quiet", "--out", str(run), "--set", "model.g_width=8",
                 "--set", "model.d_width=8", "--set", "train.batch_size=16"]) == 0
    return run


def test_sample_refuses_empty_complex_and_too_many(points_run, tmp_path, capsys):
    capsys.readouterr()
    d = json.loads(torch.load(points_run / "checkpoint.pt", weights_only=True)["config_json"])["model"]["latent_dim"]
    np.save(tmp_path / "empty.npy", np.zeros((0, d), np.float32))
    np.save(tmp_path / "complex.npy", np.ones((3, d), np.complex64))
    for extra, words in ((["--z", str(tmp_path / "empty.npy")], "holds no latents"),
                         (["--z", str(tmp_path / "complex.npy")], "real numbers"),
                         (["--n", "1000000000"], "1,000,000"),
                         (["--n", "1000001"], "1,000,000"),
                         (["--n", "0"], "between 1 and")):
        assert main(["sample", str(points_run), *extra, "--out", str(tmp_path / "s.npy")]) == 2, extra
        assert words in _one_line(capsys), extra
        assert not (tmp_path / "s.npy").exists()


def test_sample_refuses_non_finite_output(points_run, tmp_path, capsys):
    ckpt = points_run / "checkpoint.pt"
    state = torch.load(ckpt, weights_only=True)
    for value in state["G"].values():
        if value.is_floating_point():
            value.fill_(float("nan"))
    torch.save(state, ckpt)
    capsys.readouterr()
    assert main(["sample", str(points_run), "--n", "5", "--out", str(tmp_path / "s.npy")]) != 0
    _one_line(capsys)
    assert not (tmp_path / "s.npy").exists()
