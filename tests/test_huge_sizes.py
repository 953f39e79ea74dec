"""Sizes read from a run's files are bounded before anything is built or allocated: a config.json or a
checkpoint that names a network of many GB (damaged, edited or hostile) is refused in one line by the
config's own ranges, and a checkpoint whose tensor claims far more than its network holds is refused
before that tensor is read into memory (the file is mapped, not loaded)."""
import json
import shutil
import subprocess
import sys
import time

import pytest
import torch

from cli_helpers import cli
from gan_studio.core.config import Config
from gan_studio.core.errors import ConfigError
from gan_studio.core.runs import load_checkpoint_file, save_checkpoint_file

TINY = ["--set", "model.g_width=16", "--set", "model.d_width=16", "--set", "train.batch_size=32",
        "--device", "cpu", "--quiet"]


@pytest.fixture
def run(tmp_path, capsys):
    path = tmp_path / "run"
    assert cli(capsys, "train", "ring8", "--steps", "10", "--out", path, *TINY)[0] == 0
    return path


@pytest.mark.parametrize("key", ["lapgan.ngf0", "lapgan.ndf0"])
def test_a_lapgan_level_width_of_a_billion_is_out_of_range(key):
    # these two had no upper bound: a config.json or checkpoint naming 10**9 built a level 0 of
    # 10**9 feature maps (the first convolution alone asks for terabytes)
    section, field = key.split(".")
    d = Config().to_dict()
    d["model"].update(family="lapgan", arch="dcgan")
    d["data"]["name"] = "shapes"
    d[section][field] = 10**9
    with pytest.raises(ConfigError, match=rf"{key} = 1000000000 is out of range; must be <= 8192"):
        Config.from_dict(d)


def test_a_checkpoint_naming_a_network_of_a_billion_units_is_refused_in_one_line(run, capsys):
    state = load_checkpoint_file(run / "checkpoint.pt")
    held = json.loads(state["config_json"])
    held["model"]["g_width"] = 10**9
    state["config_json"] = json.dumps(held)
    save_checkpoint_file(state, run / "checkpoint.pt")
    cfg = json.loads((run / "config.json").read_text())
    cfg["model"]["g_width"] = 10**9
    (run / "config.json").write_text(json.dumps(cfg))
    start = time.perf_counter()
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "5", "--quiet")
    assert time.perf_counter() - start < 10
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "model.g_width = 1000000000 is out of range; must be <= 8192" in err, err


# the child opens the intact run (so that what it imports and builds is counted before), then the
# damaged one, and says how far its peak resident memory grew meanwhile (VmHWM: its own peak since it
# started, where getrusage's ru_maxrss carries over the pytest process's peak)
_LOAD = """
import re, sys
from gan_studio.core.runs import trainer_from_run
def peak_kb():
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\\s+(\\d+) kB", f.read())[1])
trainer_from_run(sys.argv[1], device="cpu")
before = peak_kb()
try:
    trainer_from_run(sys.argv[2], device="cpu")
    print("loaded")
except Exception as e:
    print(type(e).__name__ + ": " + str(e))
print((peak_kb() - before) // 1024)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads its peak memory from /proc")
def test_a_checkpoint_whose_weight_claims_far_more_than_its_network_is_refused_without_reading_it(run):
    intact = run.parent / "intact"
    shutil.copytree(run, intact)
    state = load_checkpoint_file(run / "checkpoint.pt")
    state["G"]["body.0.weight"] = torch.zeros(48 << 20)   # 192 MB where G's first layer has 128 numbers
    save_checkpoint_file(state, run / "checkpoint.pt")
    del state
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _LOAD, str(intact), str(run)], capture_output=True, text=True,
                          timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert time.perf_counter() - start < 60
    said, grew_mb = done.stdout.strip().splitlines()
    assert said.startswith("CheckpointError: ") and "does not fit its own config" in said, done
    assert "body.0.weight is [50331648] in the file but [16, 8] for its config" in said, said
    # the old code read the whole tensor into memory (192 MB, and as much again to check it was finite)
    # before it compared its shape
    assert int(grew_mb) < 64, (grew_mb, said)


@pytest.mark.parametrize("part, value, said", [
    ("pack_in", [10**6], "tricks.packing.m = 1000000 is out of range; must be <= 16"),
    ("mbd", ["1000000000x5"], "tricks.minibatch_discrimination.kernels = 1000000000 is out of range; must be <= 1024"),
    ("vbn_reference", [10**9, 2], "tricks.normalization.reference_size = 1000000000 is out of range; must be <= 4096"),
])
def test_a_checkpoint_whose_trick_layers_ask_for_a_huge_size_is_refused_before_building_them(run, capsys, part,
                                                                                              value, said):
    # the layers tricks add are built from the checkpoint's own layout (extra.layout.D), not from the
    # config: the old code built a packed input layer of 10**6 * 2 inputs, 10**9 closeness kernels or
    # a reference batch of 10**9 rows before anything was compared
    state = load_checkpoint_file(run / "checkpoint.pt")
    state["extra"]["layout"]["D"][part] = value
    save_checkpoint_file(state, run / "checkpoint.pt")
    before = (run / "checkpoint.pt").read_bytes()
    start = time.perf_counter()
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "5", "--quiet")
    assert time.perf_counter() - start < 10
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert f"the checkpoint's layout of D asks for layers out of range ({said})" in err, err
    assert (run / "checkpoint.pt").read_bytes() == before


@pytest.fixture
def cyclegan_run(tmp_path, monkeypatch, capsys):
    import gan_studio.core.metrics.images as im
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))   # the run's last evaluation: a rough classifier
    monkeypatch.setattr(im, "CLASSIFIER_STEPS", 20)
    monkeypatch.setattr(im, "_models", {})
    path = tmp_path / "cg"
    assert cli(capsys, "train", "cyclegan-shapes", "--steps", "1", "--out", path, "--device", "cpu", "--quiet",
               "--set", "model.ngf=4", "--set", "model.ndf=4", "--set", "train.batch_size=4",
               "--set", "data.num_images=600", "--set", "cyclegan.res_blocks=1")[0] == 0
    return path


@pytest.mark.parametrize("shape, inflated, said", [
    ((1, 3, 64, 64), False, "the checkpoint's image pool of domain b does not fit its own config (it holds "
                            "pictures of 3x64x64 where this run's are 3x16x16)"),
    ((60, 3, 16, 16), False, "the checkpoint's image pool of domain b does not fit its own config (it holds 60 "
                             "pictures where cyclegan.pool_size = 50)"),
    ((1, 3, 2048, 2048), True, "extra.pools.b.images claims 12,582,912 numbers ([1, 3, 2048, 2048]) where the "
                               "file stores 4 bytes for it"),
    ((10**5, 3, 16, 16), True, "extra.pools.b.images claims 76,800,000 numbers"),
])
def test_a_cyclegan_checkpoint_whose_image_pool_asks_for_a_huge_size_is_refused_before_allocating_it(
        cyclegan_run, capsys, shape, inflated, said):
    # the pool is rebuilt as cyclegan.pool_size pictures of the shape the file names: one 2048 x 2048
    # picture (a few bytes, stored with stride 0) made the old code copy 50 MB, then allocate 50 of them
    # (2.5 GB); 10**5 pictures of the run's shape made it copy 300 MB to keep 50. A picture of another
    # shape, or more pictures than the pool keeps, is refused by the pool's check; a tensor stored as a
    # few bytes that claims millions of numbers already as the file is read
    state = load_checkpoint_file(cyclegan_run / "checkpoint.pt")
    state["extra"]["pools"]["b"]["images"] = (torch.zeros(1, 1, 1, 1).expand(*shape) if inflated
                                              else torch.zeros(*shape))
    save_checkpoint_file(state, cyclegan_run / "checkpoint.pt")
    before = (cyclegan_run / "checkpoint.pt").read_bytes()
    assert len(before) < 1 << 20
    start = time.perf_counter()
    rc, _, err = cli(capsys, "train", "--resume", cyclegan_run, "--steps", "2", "--quiet")
    assert time.perf_counter() - start < 10
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert said in err and "it was damaged or edited" in err, err
    assert (cyclegan_run / "checkpoint.pt").read_bytes() == before


def test_a_cyclegan_checkpoint_with_an_empty_or_partly_filled_pool_still_resumes(cyclegan_run, capsys):
    # a pool that never filled is saved as zeros(0), one partly filled as its few pictures: both fit
    state = load_checkpoint_file(cyclegan_run / "checkpoint.pt")
    assert state["extra"]["pools"]["a"]["images"].shape == (4, 3, 16, 16)
    state["extra"]["pools"]["b"]["images"] = torch.zeros(0)
    save_checkpoint_file(state, cyclegan_run / "checkpoint.pt")
    rc, _, err = cli(capsys, "train", "--resume", cyclegan_run, "--steps", "2", "--quiet")
    assert rc == 0, err
    assert load_checkpoint_file(cyclegan_run / "checkpoint.pt")["step"] == 3   # 1 + 2 more


@pytest.mark.parametrize("part", ["opt_d", "G"])
def test_a_tensor_stored_as_a_few_bytes_that_claims_gigabytes_is_refused_on_load(run, capsys, part):
    """A view with a stride of 0 (torch.zeros(1).expand(10**9): 4 bytes in the file) passed every check
    of a checkpoint; a resume then copied it whole (4 GB) wherever it sat (an optimizer's moment, a trick's
    state) before its shape was compared. It is refused as the file is read, naming it."""
    state = load_checkpoint_file(run / "checkpoint.pt")
    if part == "G":
        state["G"]["body.0.weight"] = torch.zeros(1).expand(10**9)
        where = "G.body.0.weight"
    else:
        state["opt_d"]["state"][0]["exp_avg"] = torch.zeros(1).expand(10**9)
        where = "opt_d.state.0.exp_avg"
    save_checkpoint_file(state, run / "checkpoint.pt")
    before = (run / "checkpoint.pt").read_bytes()
    assert len(before) < 1 << 20   # a few bytes for the huge tensor: the file stays small
    start = time.perf_counter()
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "5", "--quiet")
    assert time.perf_counter() - start < 60
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{where} claims 1,000,000,000 numbers ([1000000000]) where the file stores 4 bytes for it" in err, err
    assert "it was damaged or edited" in err
    assert (run / "checkpoint.pt").read_bytes() == before
