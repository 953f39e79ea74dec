"""The mode-collapse table: runs, aggregation (mean ± s.e.), CSV and Markdown, the CLI."""
from __future__ import annotations

import csv
import math

import pytest

from gan_studio.cli import main
from gan_studio.core import bench


def test_mean_and_standard_error():
    mu, se = bench.mean_se([6, 8, 7, 7])
    assert mu == 7.0
    assert se == pytest.approx(math.sqrt(2 / 3) / 2)
    assert bench.mean_se([5.0]) == (5.0, 0.0)


def test_a_run_is_reproducible_and_the_table_aggregates_seeds():
    a = bench.run_one("vanilla", "ring8", 3, 20, ("train.batch_size=32",))
    b = bench.run_one("vanilla", "ring8", 3, 20, ("train.batch_size=32",))
    assert (a.modes, a.hq, a.rkl) == (b.modes, b.hq, b.rkl)
    results = bench.run_table(["vanilla", "pac2"], "ring8", 2, 10, ("train.batch_size=32",), jobs=1)
    assert [(r.config, r.seed) for r in results] == [("vanilla", 0), ("vanilla", 1), ("pac2", 0), ("pac2", 1)]
    rows = bench.summarise(results)
    van = [r for r in results if r.config == "vanilla"]
    assert rows[0]["modes"] == pytest.approx(sum(r.modes for r in van) / 2)
    md = bench.format_markdown(rows, "ring8", 2, 10)
    assert "| pac2 |" in md and "PacGAN4, published" in md


def test_bench_modes_cli_writes_csv_and_markdown(tmp_path, capsys):
    out = tmp_path / "res"
    rc = main(["bench", "modes", "--data", "grid25", "--seeds", "2", "--steps", "5", "--compare", "vanilla",
               "pac4", "--set", "train.batch_size=32", "--jobs", "2", "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "pac4" in text and "modes/25" in text
    rows = list(csv.DictReader((out / "modes-grid25.csv").open()))
    assert [r["config"] for r in rows] == ["vanilla", "pac4"] and all(r["runs"] == "2" for r in rows)
    assert "gan-studio bench modes --data grid25" in (out / "modes-grid25.md").read_text()
    assert len((out / "modes-grid25-runs.csv").read_text().splitlines()) == 5


def test_bench_modes_logs_one_line_per_run_when_not_on_a_terminal(tmp_path, capsys):
    rc = main(["bench", "modes", "--data", "ring8", "--seeds", "2", "--steps", "5", "--compare", "vanilla",
               "--set", "train.batch_size=32", "--jobs", "1", "--out", str(tmp_path)])
    assert rc == 0
    err = capsys.readouterr().err
    runs = [line for line in err.splitlines() if line.startswith("[")]
    assert [r.split(":")[0] for r in runs] == ["[1/2] vanilla seed 0", "[2/2] vanilla seed 1"]
    assert all("modes" in r and "HQ" in r and "reverse KL" in r for r in runs)


def test_bench_modes_refuses_a_bad_configuration_in_one_line(tmp_path, capsys):
    rc = main(["bench", "modes", "--data", "ring8", "--seeds", "1", "--steps", "5", "--compare", "nosuch",
               "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown preset 'nosuch'" in err and "Traceback" not in err
    rc = main(["bench", "modes", "--data", "ring8", "--seeds", "1", "--steps", "5", "--compare", "vanilla",
               "--set", "tricks.packing.m=99", "--out", str(tmp_path), "--quiet"])
    assert rc == 2 and "tricks.packing.m = 99" in capsys.readouterr().err


def test_train_takes_tricks_with_set(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "vanilla", "--steps", "4", "--out", str(out), "--quiet", "--set", "train.batch_size=32",
               "--set", "tricks.packing.enabled=true", "--set", "tricks.packing.m=4",
               "--set", "tricks.label_smoothing.enabled=true"])
    assert rc == 0
    from gan_studio.core.config import Config
    cfg = Config.load(out / "config.json")
    assert cfg.tricks.packing.enabled and cfg.tricks.packing.m == 4 and cfg.tricks.label_smoothing.enabled
    rc = main(["train", "--resume", str(out), "--steps", "2", "--quiet", "--set", "tricks.packing.enabled=false"])
    assert rc == 0


def test_seeds_take_a_count_a_range_or_a_list():
    assert bench.parse_seeds("3") == [0, 1, 2]
    assert bench.parse_seeds("100-103") == [100, 101, 102, 103]
    assert bench.parse_seeds("0,3,7") == [0, 3, 7]
    assert bench.parse_seeds("0-1,100-101") == [0, 1, 100, 101]
    for bad in ("0", "9-3", "a-b", "1-", "-2", ""):
        with pytest.raises(bench.ConfigError):
            bench.parse_seeds(bad)


@pytest.mark.parametrize("seeds, said", [
    (str(2 ** 80), "at most 10,000 seeds"),                    # range() of it overflowed: a traceback
    ("20000", "at most 10,000 seeds"),                         # a count had no limit, a range had
    ("0-9999,10000-10001", "at most 10,000 seeds"),
    (f"{2 ** 63}-{2 ** 63 + 1}", "from 0 to 9223372036854775807"),   # refused only by each run, after the pool started
    ("9" * 5000, "at most 10,000 seeds"),
    ("1-" + "9" * 5000, "from 0 to"),                          # int() of 5,000 digits: ValueError
    ("\u00b2", "use a count"),                                 # '²'.isdigit(), but int('²') fails
])
def test_seeds_out_of_range_are_one_line_before_anything_trains(tmp_path, capsys, seeds, said):
    rc = main(["bench", "modes", "--data", "ring8", "--seeds", seeds, "--steps", "1", "--compare", "vanilla",
               "--quiet", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and said in err, err
    assert not (tmp_path / "out").exists()


def test_an_out_that_is_a_file_is_refused_before_anything_trains(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("notes")
    rc = main(["bench", "modes", "--data", "ring8", "--seeds", "1", "--steps", "1", "--compare", "vanilla",
               "--quiet", "--out", str(blocker)])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip().splitlines() == [f"gan-studio bench: error: {blocker} is a file, where a "
                                                    "folder is needed"], err   # no 'bench modes: ... processes'


def test_bench_modes_reports_seeds_it_was_not_tuned_on(tmp_path, capsys):
    """--seeds 100-101 trains exactly those seeds, the same runs as run_one on each, and says so."""
    rc = main(["bench", "modes", "--data", "ring8", "--seeds", "100-101", "--steps", "5", "--compare", "vanilla",
               "--set", "train.batch_size=32", "--jobs", "1", "--out", str(tmp_path)])
    assert rc == 0
    err = capsys.readouterr().err
    assert "seeds 100-101" in err
    runs = list(csv.DictReader((tmp_path / "modes-ring8-runs.csv").open()))
    assert [int(r["seed"]) for r in runs] == [100, 101]
    one = bench.run_one("vanilla", "ring8", 101, 5, ("train.batch_size=32",))
    assert float(runs[1]["hq"]) == pytest.approx(one.hq)
    assert "seeds 100-101" in (tmp_path / "modes-ring8.md").read_text()


def test_a_seed_without_reverse_kl_is_counted_in_the_cell_not_hidden_in_the_mean(tmp_path, capsys, monkeypatch):
    """Two seeds, one without HQ samples (no reverse KL): the cell read '0.693 ± 0.000', as if both
    seeds had it; the per-run line said 'reverse KL nan' where the table says n/a."""
    results = [bench.RunResult("best", 0, 5, 5, 0.3, 0.693, 5.0, 200),
               bench.RunResult("best", 1, 0, 0, 0.0, None, 5.0, 200),
               bench.RunResult("vanilla", 0, 0, 0, 0.0, None, 9.0, 200)]
    rows = bench.summarise(results)
    text = bench.format_text(rows, "ring8").splitlines()
    assert text[1].split()[0] == "best" and text[1].endswith("0.693 ± 0.000 (1 n/a)      5")
    assert text[2].endswith("n/a      9") and "(1 n/a)" not in text[2]   # none at all: n/a alone
    assert len({len(line) for line in text}) == 1                          # the columns stay aligned
    md = bench.format_markdown(rows, "ring8", 2, 200)
    assert "| best | 2.50 ± 2.50 | 2.50 ± 2.50 | 0.1 ± 0.1 | 0.693 ± 0.000 (1 n/a) | 5 |" in md
    # the CLI's line per finished run (the runs themselves replaced by these three)
    monkeypatch.setattr(bench, "run_table", lambda *a, progress, **k: [progress(r) for r in results] and results)
    assert main(["bench", "modes", "--data", "ring8", "--seeds", "0-1", "--steps", "5", "--compare", "best",
                 "vanilla", "--jobs", "1", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "best seed 1: 0 modes (0 strict), HQ 0.0%, reverse KL n/a, 5 s" in err and "nan" not in err


@pytest.mark.parametrize("preset, what", [("digits", "trains on digits"), ("cgan-digits", "trains on digits")])
def test_bench_modes_names_a_preset_of_images_in_one_line(tmp_path, capsys, preset, what):
    """`--compare digits` said 'model.arch = dcgan needs an image data set, not ring8' and named no preset."""
    rc = main(["bench", "modes", "--data", "ring8", "--seeds", "1", "--steps", "5", "--compare", "vanilla", preset,
               "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert f"--compare {preset}: preset {preset} {what}; the mode table compares GANs on 2-D data" in err
    assert not list(tmp_path.iterdir())


# -- a table cut short keeps the runs that finished ------------------------------------------------------------
def _killed_after_the_first_run(job):
    """bench.run_job, except that seed 1's process kills itself (SIGKILL, as the OOM killer does) once
    the first finished run is on disk (run in a spawned pool process: module-level, named by reference)."""
    import os
    import signal
    import time
    if job.seed != 1:
        return bench.run_job(job)
    runs_file = os.environ["GAN_STUDIO_TEST_RUNS_FILE"]
    for _ in range(1200):
        if os.path.exists(runs_file):
            break
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_worker_is_one_line_and_the_finished_runs_are_kept(tmp_path, capsys, monkeypatch):
    """A pool process killed mid-table ended in BrokenProcessPool's traceback (exit 1), and the runs
    that had finished were lost with it: nothing was written before the whole table was done."""
    out = tmp_path / "res"
    monkeypatch.setenv("GAN_STUDIO_TEST_RUNS_FILE", str(out / "modes-ring8-runs.csv"))
    monkeypatch.setattr(bench, "run_job", _killed_after_the_first_run)
    rc = main(["bench", "modes", "--data", "ring8", "--seeds", "0,1", "--steps", "5", "--compare", "vanilla",
               "--set", "train.batch_size=32", "--jobs", "2", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 2, err   # the header, the error
    assert ("error: a process of the pool ended abruptly (killed, or out of memory) while vanilla seed 1 was "
            "queued or training; the table is incomplete; the 1 of 2 runs that finished are in "
            f"{out / 'modes-ring8-runs.csv'}") in err
    rows = list(csv.DictReader((out / "modes-ring8-runs.csv").open()))
    assert [(r["config"], r["seed"], r["steps"]) for r in rows] == [("vanilla", "0", "5")]
    assert not (out / "modes-ring8.csv").exists()   # no table of half the runs


def test_ctrl_c_keeps_the_runs_that_finished(tmp_path, capsys, monkeypatch):
    """Ctrl-C after some runs of the table had finished lost them all."""
    real = bench.run_job

    def interrupted_at_seed_1(job):
        if job.seed == 1:
            raise KeyboardInterrupt
        return real(job)
    monkeypatch.setattr(bench, "run_job", interrupted_at_seed_1)
    rc = main(["bench", "modes", "--data", "ring8", "--seeds", "3", "--steps", "5", "--compare", "vanilla",
               "--set", "train.batch_size=32", "--jobs", "1", "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 130 and "Traceback" not in err
    assert f"the 1 of 3 runs that finished are in {tmp_path / 'modes-ring8-runs.csv'}" in err
    rows = list(csv.DictReader((tmp_path / "modes-ring8-runs.csv").open()))
    assert [r["seed"] for r in rows] == ["0"]
