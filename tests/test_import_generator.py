"""Importing generators trained elsewhere: same z, same images as the original module."""
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from gan_studio.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated, still the format asked for


@pytest.fixture(autouse=True)
def _trust_store(tmp_path, monkeypatch):
    """--trust-code remembers script hashes: in a folder of the test's own, never ~/.config."""
    monkeypatch.setenv("GAN_STUDIO_CONFIG_DIR", str(tmp_path / "config"))


class ExamplesGenerator(nn.Module):
    """Built like the Generator of pytorch/examples dcgan/main.py (64x64), layer for layer."""

    def __init__(self, nz=100, ngf=64, nc=3):
        super().__init__()
        self.ngpu = 1
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh(),
        )

    def forward(self, x):
        return self.main(x)


def _trained_like(nc, seed=0, ngf=64):
    """A generator whose batch-norm averages are not the defaults, as after training."""
    torch.manual_seed(seed)
    g = ExamplesGenerator(nc=nc, ngf=ngf)
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1, 0.1)
                m.bias.normal_(0, 0.1)
    return g


def _sample(run_dir, z_path, out):
    assert main(["sample", str(run_dir), "--z", str(z_path), "--out", str(out)]) == 0
    return torch.from_numpy(np.load(out, allow_pickle=False))


@pytest.mark.parametrize("nc", [1, 3])
def test_examples_dcgan_state_dict_gives_the_same_images(tmp_path, nc, capsys):
    g = _trained_like(nc)
    torch.save(g.state_dict(), tmp_path / "netG.pth")
    z = torch.randn(6, 100, 1, 1, generator=torch.Generator().manual_seed(1))
    np.save(tmp_path / "z.npy", z.numpy())
    assert main(["import-generator", str(tmp_path / "netG.pth"), "--arch", "dcgan", "--nz", "100",
                 "--nc", str(nc), "--ngf", "64", "--out", str(tmp_path / "run")]) == 0
    assert "gan-studio sample" in capsys.readouterr().out
    ours = _sample(tmp_path / "run", tmp_path / "z.npy", tmp_path / "x.npy")
    with torch.no_grad():
        ref = g.eval()(z)
    assert ours.shape == (6, nc, 64, 64)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)
    # one image per z: a single latent gives the same picture as inside the batch
    np.save(tmp_path / "z1.npy", z[2:3].numpy())
    torch.testing.assert_close(_sample(tmp_path / "run", tmp_path / "z1.npy", tmp_path / "x1.npy")[0], ref[2],
                               rtol=1e-4, atol=1e-5)
    assert (tmp_path / "run" / "snapshots").is_dir()


def test_batch_statistics_mode_matches_train_mode(tmp_path):
    g = _trained_like(3, seed=2)
    torch.save({"state_dict": {f"module.{k}": v for k, v in g.state_dict().items()}}, tmp_path / "wrapped.pt")
    z = torch.randn(8, 100, generator=torch.Generator().manual_seed(3))
    np.save(tmp_path / "z.npy", z.numpy())
    assert main(["import-generator", str(tmp_path / "wrapped.pt"), "--nc", "3", "--bn-stats", "batch",
                 "--out", str(tmp_path / "run")]) == 0
    with torch.no_grad():
        ref = g.train()(z.view(8, 100, 1, 1))
    torch.testing.assert_close(_sample(tmp_path / "run", tmp_path / "z.npy", tmp_path / "x.npy"), ref,
                               rtol=1e-4, atol=1e-5)


def test_mismatched_state_dict_names_what_does_not_fit(tmp_path, capsys):
    torch.save(_trained_like(1, ngf=16).state_dict(), tmp_path / "small.pth")
    code = main(["import-generator", str(tmp_path / "small.pth"), "--nc", "3", "--ngf", "64",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "main.0.weight is (100, 128, 4, 4) in the file, (100, 512, 4, 4) expected" in err
    assert "looks like nz=100, ngf=16, nc=1 at 64 px" in err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()

    torch.save({"main.0.weight": torch.zeros(100, 512, 4, 4)}, tmp_path / "partial.pth")
    assert main(["import-generator", str(tmp_path / "partial.pth"), "--out", str(tmp_path / "r2")]) == 2
    assert "lacks main.1.weight" in capsys.readouterr().err

    (tmp_path / "junk.pth").write_bytes(b"this is not a torch file")
    assert main(["import-generator", str(tmp_path / "junk.pth"), "--out", str(tmp_path / "r3")]) == 2
    err = capsys.readouterr().err
    assert "is cut short or is not a PyTorch state_dict" in err and "In PyTorch 2.6" not in err

    import pickle
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"a": [1, 2]}, protocol=4))   # torch warns of protocol 4
    assert main(["import-generator", str(tmp_path / "plain.pkl"), "--out", str(tmp_path / "r5")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not a PyTorch state_dict" in err

    class Hostile:
        def __reduce__(self):
            return (print, ("ran code",))
    torch.save({"main.0.weight": Hostile()}, tmp_path / "hostile.pth")
    assert main(["import-generator", str(tmp_path / "hostile.pth"), "--out", str(tmp_path / "r4")]) == 2
    out = capsys.readouterr()
    assert "ran code" not in out.out and "was refused" in out.err and "could run code" in out.err


class FlatInput(nn.Module):
    """A generator for (N, nz) latents, 32x32 grey, with its own maths (not a DCGAN)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 32 * 32)

    def forward(self, z):
        return torch.tanh(self.lin(z)).view(-1, 1, 32, 32)


@pytest.mark.parametrize("flat", [True, False])
def test_torchscript_generator(tmp_path, flat):
    torch.manual_seed(0)
    if flat:
        module, nz, shape = FlatInput(), 8, (1, 32, 32)
    else:
        module, nz, shape = _trained_like(3, ngf=8).eval(), 100, (3, 64, 64)
    torch.jit.save(torch.jit.script(module), str(tmp_path / "g.pt"))
    z = torch.randn(5, nz, generator=torch.Generator().manual_seed(4))
    np.save(tmp_path / "z.npy", z.numpy())
    assert main(["import-generator", str(tmp_path / "g.pt"), "--arch", "torchscript", "--nz", str(nz),
                 "--out", str(tmp_path / "run"), "--trust-code"]) == 0
    # the run folder is self-contained: it still samples after being moved
    (tmp_path / "run").rename(tmp_path / "moved")
    ours = _sample(tmp_path / "moved", tmp_path / "z.npy", tmp_path / "x.npy")
    with torch.no_grad():
        ref = module(z if flat else z.view(5, nz, 1, 1))
    assert ours.shape == (5, *shape)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)


def test_imported_runs_refuse_training_and_wrong_files(tmp_path, capsys):
    torch.jit.save(torch.jit.script(FlatInput()), str(tmp_path / "g.pt"))
    assert main(["import-generator", str(tmp_path / "g.pt"), "--arch", "torchscript", "--nz", "8",
                 "--out", str(tmp_path / "run"), "--trust-code"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "run"), "--steps", "1", "--quiet"]) == 2
    assert "can be sampled" in capsys.readouterr().err
    # a wrong latent size, and a TorchScript file passed as a state_dict
    assert main(["import-generator", str(tmp_path / "g.pt"), "--arch", "torchscript", "--nz", "5",
                 "--out", str(tmp_path / "r2"), "--trust-code"]) == 2
    assert "is --nz right?" in capsys.readouterr().err
    assert main(["import-generator", str(tmp_path / "g.pt"), "--arch", "dcgan", "--out", str(tmp_path / "r3")]) == 2
    assert "use --arch torchscript" in capsys.readouterr().err
    # a state_dict, a plain pickle and random bytes passed as TorchScript: not a program, so not "untrusted"
    torch.save(FlatInput().state_dict(), tmp_path / "sd.pt")
    (tmp_path / "p.pkl").write_bytes(pickle.dumps({"a": 1}))
    (tmp_path / "r.bin").write_bytes(bytes(range(256)) * 4)
    for name in ("sd.pt", "p.pkl", "r.bin"):
        assert main(["import-generator", str(tmp_path / name), "--arch", "torchscript", "--nz", "8",
                     "--out", str(tmp_path / f"r-{name}")]) == 2
        err = capsys.readouterr().err
        assert "is not a TorchScript module" in err and "trust" not in err, err


def test_a_file_name_with_odd_characters_gives_a_valid_run_name():
    from pathlib import Path

    from gan_studio.core.config import MAX_NAME, check_run_name
    from gan_studio.core.importer import run_name_for
    for name in ("netG (1).pth", "my generator [final]!.pt", ".hidden.pth", "ü-net.pth", "x" * 300 + ".pth"):
        run = run_name_for(Path("/some/where") / name)
        check_run_name(run)
        assert run.startswith("imported-") and len(run) <= MAX_NAME
    assert run_name_for(Path("netG (1).pth")) == "imported-netG--1"
