"""A checkpoint or kept state whose optimizer state does not fit its networks (a moment of another
shape, a moment missing, a learning rate that is not a number: a damaged or edited file) is refused
in one line when it is resumed or forked, the files left as they were. Before, a moment of another
shape was read out of bounds by Adam's fused kernel (the process died of a segmentation fault), a
missing one failed every step after the resume, and a fork wrote such a state into a new run."""
import subprocess
import sys

import pytest
import torch

from cli_helpers import cli
from gan_studio.core.runs import load_checkpoint_file, save_checkpoint_file

TINY = ["--set", "model.g_width=16", "--set", "model.d_width=16", "--set", "train.batch_size=32",
        "--set", "train.log_every=10", "--set", "train.eval_every=20", "--set", "train.fork_keep=2",
        "--device", "cpu", "--quiet"]


@pytest.fixture
def run(tmp_path, capsys):
    path = tmp_path / "run"
    assert cli(capsys, "train", "ring8", "--steps", "40", "--out", path, *TINY)[0] == 0
    return path


def damage(file, how: str) -> bytes:
    """Damage the optimizer state of D in the checkpoint ``file``; its new bytes."""
    state = load_checkpoint_file(file)
    moments = state["opt_d"]["state"][0]
    if how == "moment of another shape":
        moments["exp_avg_sq"] = torch.zeros(3)
    elif how == "moment missing":
        del moments["exp_avg_sq"]
    elif how == "learning rate not a number":
        state["opt_d"]["param_groups"][0]["lr"] = "fast"
    save_checkpoint_file(state, file)
    return file.read_bytes()


def test_resuming_a_checkpoint_with_a_moment_of_another_shape_is_one_line_not_a_crash(run):
    before = damage(run / "checkpoint.pt", "moment of another shape")
    metrics = (run / "metrics.jsonl").read_bytes()
    # a process of its own: the old code died of a segmentation fault in Adam's fused kernel
    done = subprocess.run([sys.executable, "-m", "gan_studio", "train", "--resume", str(run), "--steps", "5",
                           "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert ("D's optimizer state does not fit D: exp_avg_sq of D.body.0.weight has shape [3], "
            "where D.body.0.weight has [16, 2]") in lines[0], lines[0]
    assert (run / "checkpoint.pt").read_bytes() == before and (run / "metrics.jsonl").read_bytes() == metrics


@pytest.mark.parametrize("how, words", [("moment missing", "the state of D.body.0.weight lacks exp_avg_sq"),
                                        ("learning rate not a number", "its learning rate is 'fast'")])
def test_resuming_a_checkpoint_whose_optimizer_state_cannot_train_is_refused(run, capsys, how, words):
    before = damage(run / "checkpoint.pt", how)
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "5", "--quiet")
    # the old code resumed, failed at step 41, paused and wrote the same state back: every resume did
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert f"D's optimizer state does not fit D: {words}" in err, err
    assert (run / "checkpoint.pt").read_bytes() == before


@pytest.mark.parametrize("changes", [[], ["--set", "train.lr_d=0.001"]])
def test_a_kept_state_with_a_moment_of_another_shape_is_not_forked(run, tmp_path, capsys, changes):
    damage(run / "forks" / "step_00000020.pt", "moment of another shape")
    rc, _, err = cli(capsys, "fork", run, "--at", "20", "--out", tmp_path / "branch", *changes)
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "the state at step 20 cannot be forked: D's optimizer state does not fit D: exp_avg_sq" in err, err
    assert not (tmp_path / "branch").exists()
    # the run's other kept state still forks, and the fork trains
    assert cli(capsys, "fork", run, "--at", "40", "--out", tmp_path / "good", *changes)[0] == 0
    assert cli(capsys, "train", "--resume", tmp_path / "good", "--steps", "3", "--quiet")[0] == 0


def test_a_kept_state_whose_weights_have_other_shapes_names_the_weight(run, tmp_path, capsys):
    file = run / "forks" / "step_00000020.pt"
    state = load_checkpoint_file(file)
    state["D"]["body.0.weight"] = torch.zeros(3, 3)
    save_checkpoint_file(state, file)
    rc, _, err = cli(capsys, "fork", run, "--at", "20", "--out", tmp_path / "branch")
    assert rc == 2 and not (tmp_path / "branch").exists(), err
    assert "body.0.weight is [3, 3] in the file but [16, 2] for its config" in err, err


@pytest.mark.parametrize("step", [-5, True, 40.5])
def test_resuming_a_checkpoint_whose_step_is_no_step_count_keeps_the_logs_and_kept_states(run, capsys, step):
    state = load_checkpoint_file(run / "checkpoint.pt")
    state["step"] = step
    save_checkpoint_file(state, run / "checkpoint.pt")
    before = {p.relative_to(run).as_posix(): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "5", "--quiet")
    # the old code resumed at step -5 (or 1) and cut metrics.jsonl and forks/ after it: all of them
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert f"holds step {step!r}, not a step count" in err and "gan-studio fork" in err, err
    after = {p.relative_to(run).as_posix(): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.parametrize("counts", ["x", [1, [2]], [None, 1], [-1, 3], True])
def test_a_logged_evaluation_with_broken_mode_counts_does_not_stop_a_resume(run, capsys, counts):
    import json
    log = run / "metrics.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    first = next(r for r in rows if "mode_counts" in r)
    first["mode_counts"] = counts   # a hand-broken row: the window skips it; resuming raised a traceback
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "20", "--quiet")
    assert rc == 0 and "Traceback" not in err, err
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert logged[-1]["step"] == 60 and isinstance(logged[-1]["mode_hops"], int)


@pytest.mark.parametrize("events_json", ["{}", "not json"])
def test_a_checkpoint_whose_record_of_changes_is_damaged_is_refused_in_one_line(run, tmp_path, capsys, events_json):
    for file in (run / "checkpoint.pt", run / "forks" / "step_00000040.pt"):
        state = load_checkpoint_file(file)
        state["events_json"] = events_json
        save_checkpoint_file(state, file)
    before = {p.relative_to(run).as_posix(): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    # the old code: AttributeError ('dict' object has no attribute 'append') at the first change of a
    # resume, a JSONDecodeError traceback from a fork
    for argv in (["train", "--resume", run, "--steps", "5", "--set", "train.lr_d=0.001", "--quiet"],
                 ["fork", run, "--at", "40", "--out", tmp_path / "branch", "--set", "train.lr_g=0.001"]):
        rc, _, err = cli(capsys, *argv)
        assert rc == 2 and len(err.strip().splitlines()) == 1, err
        assert "holds no list of the run's changes" in err, err
    assert not (tmp_path / "branch").exists()
    assert {p.relative_to(run).as_posix(): p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("part", ["extra", "extra.layout.D", "extra.tricks.g_ema"])
def test_a_checkpoint_whose_trick_state_is_no_table_is_refused_in_one_line(run, capsys, part):
    state = load_checkpoint_file(run / "checkpoint.pt")
    *path, last = part.split(".")
    table = state
    for key in path:
        table = table[key]
    table[last] = "x"
    save_checkpoint_file(state, run / "checkpoint.pt")
    before = (run / "checkpoint.pt").read_bytes()
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "5", "--quiet")   # was: an AttributeError traceback
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert f"holds a damaged {part} (not the table of names it must be)" in err and "gan-studio fork" in err, err
    assert (run / "checkpoint.pt").read_bytes() == before


def test_a_run_trained_on_a_gpu_resumes_on_the_cpu(run, tmp_path, capsys):
    """A GPU's generator state (CUDA's Philox: 16 bytes) cannot continue on the CPU's Mersenne
    twister: the old code refused the run ('does not fit its own config (RuntimeError: Expected a
    CPUGeneratorImplState of size 5056 but found the input RNG state size to be 16)'), though an
    out-of-memory pause advises exactly this ('Continue it on the CPU (--device cpu with --resume)')."""
    import shutil
    state = load_checkpoint_file(run / "checkpoint.pt")
    state["rng"] = torch.zeros(16, dtype=torch.uint8)   # as torch.Generator("cuda").get_state() is
    save_checkpoint_file(state, run / "checkpoint.pt")
    twin = tmp_path / "twin"
    shutil.copytree(run, twin)
    for folder in (run, twin):
        rc, _, err = cli(capsys, "train", "--resume", folder, "--steps", "10", "--device", "cpu", "--quiet")
        assert rc == 0, err
    a, b = load_checkpoint_file(run / "checkpoint.pt"), load_checkpoint_file(twin / "checkpoint.pt")
    assert a["step"] == 50
    assert all(torch.equal(x, y) for k in ("G", "D") for x, y in zip(a[k].values(), b[k].values()))  # afresh, alike
    rc, out, _ = cli(capsys, "fork", run, "--list")
    assert "step 40: opened on CPU" in out and "the random numbers of training start afresh" in out, out
