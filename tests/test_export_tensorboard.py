"""`gan-studio export tensorboard`: each run's scalars, events and snapshots as TensorBoard event
files, read back with TensorBoard's own reader; without TensorBoard, one line on how to install it."""
from __future__ import annotations

import sys

import pytest

from gan_studio.cli import main
from gan_studio.core.fork import fork_run
from gan_studio.core.runs import RunFolder
from test_fork import tiny, train


@pytest.fixture(scope="module")
def branches(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    train(root / "parent", 20, tiny())
    fork_run(root / "parent", root / "branch", at_step=20, changes={"tricks.packing.enabled": "true"})
    train(root / "branch", 10)
    return root / "parent", root / "branch"


def test_the_event_files_hold_the_runs_scalars_events_and_snapshots(branches, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    parent, branch = branches
    out = tmp_path / "tb"
    assert main(["export", "tensorboard", str(parent), str(branch), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"tensorboard --logdir {out}" in said
    assert ", 1 event, " in said and ", 0 events, " in said and "1 events" not in said   # counted in words
    for run in (parent, branch):
        acc = EventAccumulator(str(out / run.name), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
        acc.Reload()
        logged = RunFolder(run).read_metrics()
        got = [(e.step, e.value) for e in acc.Scalars("loss_d")]
        assert got == [(r["step"], pytest.approx(r["loss_d"], rel=1e-6)) for r in logged]
        assert [e.step for e in acc.Scalars("hq")] == [r["step"] for r in logged if "hq" in r]
        shots = sorted(p.name for p in (run / "snapshots").iterdir())
        assert [f"step_{e.step:08d}.png" for e in acc.Images("snapshot")] == shots
        assert acc.Images("snapshot")[0].width > 0
    acc = EventAccumulator(str(out / "branch"), size_guidance={"tensors": 0})
    acc.Reload()
    (event,) = acc.Tensors("events/text_summary")
    assert event.step == 20 and event.tensor_proto.string_val == [b"set tricks.packing.enabled = true (was false)"]
    (lineage,) = acc.Tensors("lineage/text_summary")
    assert lineage.step == 20 and b"at step 20: tricks.packing.enabled = True" in lineage.tensor_proto.string_val[0]
    # a second export into the same folder would double every curve: refused
    assert main(["export", "tensorboard", str(parent), "--out", str(out)]) == 2
    assert "already holds TensorBoard event files" in capsys.readouterr().err


def test_without_tensorboard_it_says_how_to_install_it(branches, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)   # import fails as if not installed
    assert main(["export", "tensorboard", str(branches[0]), "--out", str(tmp_path / "tb")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "gan-studio[tensorboard]"' in err
    assert not (tmp_path / "tb").exists()


def test_a_run_named_twice_is_refused_before_anything_is_written(branches, tmp_path, capsys, monkeypatch):
    """`export tensorboard runs/r1 runs/r1` wrote two event files into one subfolder (every curve twice)."""
    pytest.importorskip("tensorboard")
    parent, branch = branches
    monkeypatch.chdir(parent.parent)
    out = tmp_path / "tb2"
    for argv in (["parent", "parent"], ["parent", "./parent/", "branch"], [str(parent), "parent"]):
        capsys.readouterr()
        assert main(["export", "tensorboard", *argv, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert "given twice" in err or "are the same run" in err
        assert "name each run once" in err and "nothing was written" in err
        assert not out.exists()
    assert main(["export", "tensorboard", "parent", "branch", "--out", str(out)]) == 0
    assert [len(list((out / n).glob("events.out.tfevents*"))) for n in ("parent", "branch")] == [1, 1]


@pytest.mark.parametrize("below", ["", "tb"])
def test_out_that_is_a_file_is_one_line_exit_2(branches, tmp_path, capsys, below):
    """`--out s.png` on an existing file exited 1 with 'Not a directory: s.png/r1'."""
    pytest.importorskip("tensorboard")
    png = tmp_path / "s.png"
    png.write_bytes(b"\x89PNG not really")
    out = png / below if below else png
    assert main(["export", "tensorboard", str(branches[0]), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Not a directory" not in err
    said = f"--out {png} is a file" if not below else f"--out {out}: {png} is a file"
    assert f"{said}, not a folder" in err
    assert png.read_bytes() == b"\x89PNG not really"
