"""Ray: the mode table on Ray tasks (the same numbers and run folders as the local pool) and sweeps
on Ray Tune (ASHA stops poor settings, PBT copies good runs); without Ray, one line saying how to
install it. One local Ray (2 CPUs) is shared by the module; the tests that need it skip without it."""
from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import sys

import pytest
import torch

from gan_studio.cli import main
from gan_studio.core import sweep
from gan_studio.core.runs import trainer_from_run

FAST = ["--set", "train.batch_size=64"]


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    yield ray
    ray.shutdown()


def _runs_table(path):
    """The per-run CSV without its timings (the only column that may differ between engines)."""
    return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(path.open())]


def test_ray_engine_gives_the_local_engines_table_and_run_folders_bit_for_bit(local_ray, tmp_path, capsys):
    args = ["bench", "modes", "--data", "ring8", "--seeds", "2", "--steps", "100", "--compare", "ring8",
            *FAST, "--keep-runs", "--quiet"]
    assert main([*args, "--engine", "ray", "--out", str(tmp_path / "ray")]) == 0
    assert "Ray on this machine (2 CPUs)" in capsys.readouterr().err
    assert main([*args, "--jobs", "1", "--out", str(tmp_path / "local")]) == 0
    on_ray, local = _runs_table(tmp_path / "ray/modes-ring8-runs.csv"), _runs_table(tmp_path / "local/modes-ring8-runs.csv")
    assert on_ray == local and [int(r["seed"]) for r in on_ray] == [0, 1]
    files = sorted(p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray/runs").rglob("*") if p.is_file())
    assert {f.parts[1] for f in files} == {"ring8-seed0", "ring8-seed1"}
    assert any(f.name == "checkpoint.pt" for f in files) and any(f.suffix == ".png" for f in files)
    for f in files:   # weights, optimiser moments, RNG states, metrics and snapshots: the same bytes
        assert (tmp_path / "ray" / f).read_bytes() == (tmp_path / "local" / f).read_bytes(), f
    tr, _ = trainer_from_run(tmp_path / "ray/runs/ring8-seed1")   # a normal run folder: the window opens it
    assert tr.step_count == 100 and tr.cfg.train.seed == 1


def test_asha_sweep_stops_poor_settings_and_keeps_the_best_run_folder(local_ray, tmp_path, capsys):
    out = tmp_path / "sweep"
    rc = main(["sweep", "ring8", "--param", "train.lr_d=log:1e-4..1e-2", *FAST, "--set", "train.eval_every=50",
               "--set", "train.fork_keep=1", "--metric", "rkl", "--samples", "4", "--steps", "300",
               "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4"] and len({r["trial"] for r in rows}) == 4
    assert all(1e-4 <= float(r["train.lr_d"]) <= 1e-2 for r in rows)
    done = [r for r in rows if r["status"] == "done"]
    stopped = [r for r in rows if r["status"] == "stopped early"]
    assert done and stopped and all(int(r["steps"]) < 300 for r in stopped)   # ASHA cut the poor ones
    rkl = [float(r["rkl"]) if r["rkl"] else float("inf") for r in done]
    assert rkl == sorted(rkl) and rows[0]["status"] == "done" and rows[0]["runs"] == "best1-seed0"
    # the best trial's folder is a normal run at its last step, with the settings and the metric of its row
    tr, run = trainer_from_run(out / "best1-seed0")
    assert tr.step_count == 300 and tr.cfg.train.lr_d == pytest.approx(float(rows[0]["train.lr_d"]))
    last = [m for m in run.read_metrics() if m.get("step") == 300 and "rkl" in m][-1]
    assert last["rkl"] == pytest.approx(float(rows[0]["rkl"]), rel=1e-5)
    assert "| rank | trial | train.lr_d | rkl |" in (out / "sweep.md").read_text()
    assert "best1-seed0" in captured.err and "[4/4]" in captured.err


def test_pbt_sweep_runs_and_a_copied_run_continues_with_the_new_settings(local_ray, tmp_path, capsys):
    out = tmp_path / "pbt"
    rc = main(["sweep", "ring8", "--param", "train.lr_g=log:1e-4..3e-3", *FAST, "--set", "train.eval_every=50",
               "--set", "train.fork_keep=0", "--scheduler", "pbt", "--samples", "2", "--steps", "150",
               "--keep", "2", "--out", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert [r["status"] for r in rows] == ["done", "done"]
    for r in rows:
        tr, _ = trainer_from_run(out / r["runs"])
        assert tr.step_count == 150 and tr.cfg.train.lr_g == pytest.approx(float(r["train.lr_g"]))


def test_an_exploited_trial_takes_the_donors_exact_state_and_changes_its_settings_live(tmp_path):
    """What PBT does with a checkpoint, without Ray: the copy continues from the donor's exact state,
    the new setting in force and written as an event in the run's log."""
    plan = sweep.make_plan("ring8", ["train.batch_size=64", "train.eval_every=50"], ["train.lr_d=log:1e-4..1e-2"],
                           [0], 100, "rkl", None, "pbt")
    donor = sweep._SeedRun.start(tmp_path / "donor", plan, 0, {"train.lr_d": 1e-3})
    with donor.turn():
        donor.train_to(50, save=True)
    donor.run.unlock()
    shutil.copytree(tmp_path / "donor", tmp_path / "copy")
    copy = sweep._SeedRun.resume(tmp_path / "copy", plan, {"train.lr_d": 4e-4})
    assert copy.trainer.step_count == 50
    for a, b in zip(donor.trainer.G.state_dict().values(), copy.trainer.G.state_dict().values()):
        assert torch.equal(a, b)
    assert copy.trainer.cfg.train.lr_d == 4e-4 and copy.trainer.opt_d.param_groups[0]["lr"] == pytest.approx(4e-4)
    with copy.turn():
        ev = copy.train_to(100, save=True)
    copy.run.unlock()
    events = [json.loads(line) for line in (tmp_path / "copy/events.jsonl").read_text().splitlines()]
    assert {"step": 50, "event": "set", "key": "train.lr_d", "value": 4e-4, "old": 1e-3} in events
    assert "rkl" in ev and trainer_from_run(tmp_path / "copy")[0].step_count == 100


@pytest.mark.parametrize("param, says", [
    ("train.nosuch=1,2", "unknown config key 'train.nosuch'"),
    ("train.lr_d=log:0..1e-2", "log-uniform interval needs LO > 0"),
    ("train.lr_d=1e-2..1e-4", "from a lower to a higher"),
    ("train.lr_d=1e-4..", "two numbers"),
    ("train.d_steps=1.5..3", "whole number"),
    ("loss=a..b", "not a number"),
    ("train.lr_d", "expected KEY=SPEC"),
    ("tricks.packing.m=2,99", "tricks.packing.m = 99"),
    ("train.seed=1,2", "--seeds"),
])
def test_bad_sweep_input_is_one_line(tmp_path, capsys, param, says):
    pytest.importorskip("ray")
    rc = main(["sweep", "ring8", "--param", param, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_bad_cluster_options_are_one_line(tmp_path, capsys):
    pytest.importorskip("ray")
    (tmp_path / "full").mkdir()
    (tmp_path / "full/x").write_text("")
    cases = [
        (["sweep", "ring8", "--param", "model.g_width=32,64", "--scheduler", "pbt", "--out", str(tmp_path / "o")],
         "needs a new run"),
        (["sweep", "ring8", "--param", "train.lr_d=1e-3,2e-3", "--out", str(tmp_path / "full")], "not a new or empty"),
        (["sweep", "ring8", "--param", "train.lr_d=1e-3,2e-3", "--metric", "fd", "--out", str(tmp_path / "o")],
         "do not log it; use rkl, hq"),
        (["sweep", "ring8", "--param", "train.lr_d=1e-3,2e-3", "--sample-seed", "-1", "--out", str(tmp_path / "o")],
         "--sample-seed = -1: must be between 0 and"),   # Ray's generator raised, after Ray had started
        (["bench", "modes", "--data", "ring8", "--steps", "5", "--address", "auto", "--out", str(tmp_path)],
         "--address needs --engine ray"),
        (["bench", "modes", "--data", "ring8", "--steps", "5", "--engine", "ray", "--gpus-per-run", "1.5",
          "--out", str(tmp_path)], "--gpus-per-run = 1.5"),
    ]
    for argv, says in cases:
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 2 and says in err and len(err.strip().splitlines()) == 1, (argv, err)


def test_without_ray_the_ray_options_say_how_to_install_it_and_the_rest_works(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)   # `import ray` fails as it does without the extra
    for argv in (["bench", "modes", "--data", "ring8", "--seeds", "1", "--steps", "5", "--engine", "ray",
                  "--out", str(tmp_path)],
                 ["sweep", "ring8", "--param", "train.lr_d=1e-3,2e-3", "--out", str(tmp_path / "s")]):
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 2 and 'pip install "gan-studio[cluster]"' in err and len(err.strip().splitlines()) == 1
    rc = main(["bench", "modes", "--data", "ring8", "--seeds", "1", "--steps", "5", "--compare", "vanilla",
               *FAST, "--jobs", "1", "--out", str(tmp_path / "local"), "--quiet"])
    assert rc == 0 and (tmp_path / "local/modes-ring8.csv").is_file()


def test_a_ray_worker_killed_mid_run_is_one_line_naming_the_run(local_ray):
    """A Ray worker killed while training a run (SIGKILL, the OOM killer) ended the table in Ray's
    WorkerCrashedError traceback."""
    import os
    import signal

    from gan_studio.core import bench
    from gan_studio.core.cluster import RayEngine
    from gan_studio.core.errors import RunError

    def killed(job):   # a closure: Ray sends it by value to its worker
        os.kill(os.getpid(), signal.SIGKILL)
    jobs = [bench.make_job("ring8", "ring8", 3, 1)]
    with pytest.raises(RunError, match=r"^the Ray worker ended abruptly \(killed, or out of memory\) while ring8 "
                                       r"seed 3 was queued or training; the table is incomplete \(.+\)$"):
        list(RayEngine().map_unordered(killed, jobs))


@pytest.mark.parametrize("signame, code, said", [("SIGINT", 130, "interrupted"),
                                                  ("SIGTERM", 143, "terminated (SIGTERM)")])
def test_ctrl_c_mid_sweep_writes_the_table_so_far_and_says_interrupted(local_ray, tmp_path, capsys, monkeypatch,
                                                                       signame, code, said):
    """Ctrl-C in the middle of a sweep: Tune stopped the trials and fit() returned as if done, so the
    sweep said 'every trial failed; the first: no trial reported' (exit 2), wrote no table, and Tune
    advised `Tuner.restore(...)`, which is no command of the studio's. SIGTERM (a batch scheduler
    ending the job) met Ray's handler: a C++ stack on the terminal, exit 1, no table."""
    import signal
    progress_class = sweep._progress_class

    def interrupting_progress():
        class Interrupting(progress_class()):
            def on_trial_result(self, iteration, trials, trial, result, **info):
                super().on_trial_result(iteration, trials, trial, result, **info)
                if not getattr(self, "sent", False):   # the first report: Ctrl-C
                    self.sent = True
                    os.kill(os.getpid(), getattr(signal, signame))
        return Interrupting
    monkeypatch.setattr(sweep, "_progress_class", interrupting_progress)
    out = tmp_path / "sweep"
    rc = main(["sweep", "ring8", "--param", "train.lr_d=log:1e-4..1e-2", *FAST, "--set", "train.eval_every=10",
               "--set", "train.fork_keep=0", "--samples", "2", "--steps", "100000", "--scheduler", "fifo",
               "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == code, err
    assert "every trial failed" not in err and "Tuner.restore" not in err and "Traceback" not in err
    assert f"gan-studio sweep: {said}; 2 of 2 trials had not finished" in err
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert [r["status"] for r in rows] == ["interrupted", "interrupted"]
    assert any(int(r["steps"]) >= 10 for r in rows)   # the report that came before Ctrl-C


def test_a_trial_whose_settings_the_model_refuses_is_one_line_in_its_row_not_a_traceback(local_ray, tmp_path,
                                                                                        capfd):
    """A trial whose settings fail where the model is built (model.arch = dcgan on ring8 passes
    --set's check) printed Tune's whole traceback and 'Trials did not complete: [...]' on the terminal,
    and its row's status read 'error: gan_studio.core.errors.ConfigError: ...'; the others carry on."""
    import logging

    class Told(logging.Handler):   # what Tune's loggers put on the terminal (Ray's handler writes there)
        def emit(self, record):
            told.append(record)
    told: list[logging.LogRecord] = []
    loggers = [logging.getLogger(name) for name in ("ray.tune.execution.tune_controller", "ray.tune.tune")]
    for log in loggers:
        log.addHandler(Told())
    out = tmp_path / "sweep"
    try:
        rc = main(["sweep", "ring8", "--param", "model.arch=mlp,dcgan", *FAST, "--set", "train.eval_every=10",
                   "--set", "train.fork_keep=0", "--samples", "3", "--sample-seed", "1", "--steps", "20",
                   "--scheduler", "fifo", "--out", str(out), "--quiet"])
    finally:
        for log in loggers:
            log.handlers = [h for h in log.handlers if not isinstance(h, Told)]
    err = capfd.readouterr().err
    assert rc == 0, err
    assert "Traceback" not in err and "Trials did not complete" not in err, err
    assert not [r for r in told if r.levelno >= logging.ERROR], [r.getMessage()[:200] for r in told]
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert {r["model.arch"] for r in rows} == {"mlp", "dcgan"}
    for r in rows:
        if r["model.arch"] == "dcgan":
            assert r["status"] == ("error: model.arch = 'dcgan' needs an image data set, not 'ring8'; "
                                   "use model.arch = 'mlp' for 2-D data")
        else:
            assert r["status"] == "done"
    assert rows[0]["runs"] == "best1-seed0" and rows[0]["model.arch"] == "mlp"


def test_a_full_disk_while_keeping_the_best_runs_keeps_the_table_and_no_half_folder(local_ray, tmp_path, capsys,
                                                                                     monkeypatch):
    """The disk filling up while the best trial's run folders were copied out ended the sweep before
    its table was printed or written (every trial's result lost), with shutil.copytree's list of
    tuples as the message and a half-copied best1-seed1 (no checkpoint.pt) left as if it were a run."""
    import errno
    real_copyfile = shutil.copyfile

    def copyfile(src, dst, **kw):   # what shutil.copy2 and copytree write each file with
        if "best1-seed1" in str(dst) and str(dst).endswith("checkpoint.pt"):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_copyfile(src, dst, **kw)
    monkeypatch.setattr(shutil, "copyfile", copyfile)
    out = tmp_path / "sweep"
    rc = main(["sweep", "ring8", "--param", "train.lr_d=1e-3,2e-3", *FAST, "--set", "train.eval_every=10",
               "--set", "train.fork_keep=0", "--samples", "1", "--seeds", "0,1", "--steps", "10",
               "--scheduler", "fifo", "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert rc == 1 and "Traceback" not in captured.err
    said = captured.err.strip().splitlines()[-1]
    assert said.startswith("gan-studio sweep: error: the run folders of best1 (trial ") and \
        "were not kept: disk full while writing " in said and "; Tune's checkpoint of them is " in said, said
    rows = list(csv.DictReader((out / "sweep.csv").open()))   # the table, written
    assert [r["status"] for r in rows] == ["done"] and rows[0]["runs"] == "best1-seed0"
    assert "done" in captured.out
    assert sorted(p.name for p in out.iterdir()) == [".lock", "best1-seed0", "sweep.csv", "sweep.md", "tune"]
    assert trainer_from_run(out / "best1-seed0")[0].step_count == 10   # the folder kept is whole


def test_a_second_sweep_into_the_same_out_at_the_same_time_is_one_line(local_ray, tmp_path, capsys, monkeypatch):
    """Two sweeps started at once with the same --out both found it empty, both wrote OUT/tune/sweep,
    and the one that finished last replaced the other's sweep.csv, sweep.md and best run folders."""
    from gan_studio.core import cluster
    from gan_studio.core.io import RunLock
    out = tmp_path / "sweep"
    first = RunLock(out, "gan-studio sweep")
    enter = cluster.RayCluster.__enter__

    def the_other_sweep_starts_meanwhile(self):   # while this one connects to Ray, after its own check
        connected = enter(self)
        out.mkdir()
        first.acquire()
        (out / "tune").mkdir()
        return connected
    monkeypatch.setattr(cluster.RayCluster, "__enter__", the_other_sweep_starts_meanwhile)
    try:
        rc = main(["sweep", "ring8", "--param", "train.lr_d=1e-3,2e-3", *FAST, "--samples", "1", "--steps", "10",
                   "--out", str(out), "--quiet"])
    finally:
        first.release()
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"gan-studio sweep: error: --out {out} is being written by another "
                                            f"sweep (pid {os.getpid()} on host {socket.gethostname()}); "
                                            "choose another folder")
    assert sorted(p.name for p in out.iterdir()) == [".lock", "tune"] and not any((out / "tune").iterdir())


def test_a_relative_storage_folder_is_a_folder_not_a_traceback(local_ray, tmp_path, capsys, monkeypatch):
    """--storage results (DIR|URI, as --help says) ended in pyarrow's traceback 'URI has empty scheme'."""
    monkeypatch.chdir(tmp_path)
    rc = main(["sweep", "ring8", "--param", "train.lr_d=1e-3", *FAST, "--set", "train.eval_every=10",
               "--set", "train.fork_keep=0", "--samples", "1", "--steps", "10", "--storage", "results",
               "--out", "sweep", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 0 and "Traceback" not in err, err
    assert any((tmp_path / "results/sweep").iterdir()) and not (tmp_path / "sweep/tune").exists()
    assert sweep.storage_path("s3://bucket/x", tmp_path) == "s3://bucket/x"
    assert sweep.storage_path(None, tmp_path / "o") == str(tmp_path / "o/tune")
