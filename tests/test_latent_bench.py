"""benchmarks/bench_latent_arithmetic.py: the one-run report and the --train-seeds table.

The shapes classifiers are replaced by a judge that reads colour and shape off the signs of two
latent coordinates, so the arithmetic works exactly and the test needs neither a trained generator
nor the cached classifier: red circle - red square + blue square lands on blue circle every time.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_latent_arithmetic.py"


@pytest.fixture
def bench(monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_latent_arithmetic", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    class SignJudge:
        """colour: blue when z[0] > 0; shape: circle when z[1] > 0; sure only when |z[0]| and |z[1]| are
        within 0.1 of 1, so that mean(A) - mean(B) + mean(C) and its neighbours stay in the right quadrant."""
        colours, shapes = ["red", "blue"], ["square", "circle"]

        def __init__(self, trainer):
            self.model = SimpleNamespace(accuracy={"colour": 1.0, "shape": 1.0})

        def verdict(self, z):
            """size: large when z[2] > 0; position: 1 when z[3] > 0 (both always sure)."""
            z = np.asarray(z)
            sure = np.where((np.abs(np.abs(z[:, :2]) - 1) <= 0.1).all(1), 1.0, 0.5)
            return {"colour": ((z[:, 0] > 0).astype(int), sure), "shape": ((z[:, 1] > 0).astype(int), sure),
                    "size": ((z[:, 2] > 0).astype(int), np.ones(len(z))),
                    "position": ((z[:, 3] > 0).astype(int), np.ones(len(z)))}

        def __call__(self, z):
            v = self.verdict(z)
            return v["colour"][0], v["shape"][0], v["colour"][1]

        def index(self, colour, shape):
            return self.colours.index(colour), self.shapes.index(shape)

    monkeypatch.setattr(mod, "Judge", SignJudge)
    return mod


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_latent_bench_train_seeds_trains_each_seed_once_and_prints_the_table(bench, tmp_path, capsys):
    out = tmp_path / "lat"
    args = ["--train-seeds", "0-1", "--steps", "2", "--out", str(out), "--pool", "20000", "--draws", "5",
            "--chance-draws", "40", "--repeats", "2"]
    assert bench.main(args) == 0
    captured = capsys.readouterr()
    records = json_lines(captured.out)
    assert [r["train_seed"] for r in records] == [0, 1]
    assert [r["step"] for r in records] == [2, 2]
    for r in records:
        assert r["share"] == 1.0 and r["shares"] == [1.0, 1.0]     # the sign judge: always blue circle
        assert 0 < r["chance"] < 0.6 and r["ratio"] == pytest.approx(1 / r["chance"])
    assert "gan-studio train shapes --steps 2 --seed 1" in captured.err
    table = captured.out[captured.out.index("| training seed"):].splitlines()
    assert len([row for row in table if row.startswith("| 0 ") or row.startswith("| 1 ")]) == 2
    assert ("held on 2 of 2 training seeds by the mean of the repeats (on the first 5 draws: 2; for the mean of "
            "the repeats: 2)") in captured.out
    for s in (0, 1):
        assert (out / f"seed{s}" / "checkpoint.pt").exists()

    # the second time the run folders are measured as they are, not trained again
    assert bench.main(args) == 0
    captured = capsys.readouterr()
    assert "reusing" in captured.err and "gan-studio train shapes" not in captured.err
    assert [r["share"] for r in json_lines(captured.out)] == [1.0, 1.0]


def test_latent_bench_matched_picks_share_size_and_position(bench, tmp_path, capsys):
    run = bench.train_seed(tmp_path / "seed0", 2, 0)
    ns = SimpleNamespace(seed=0, pool=40000, confidence=0.9, draws=6, repeats=2, chance_draws=20, exemplars=3)
    seen = set()
    for picks in ("any", "clear", "matched"):
        record = bench.measure(run, SimpleNamespace(**vars(ns), picks=picks))
        assert record["picks_rule"] == picks and record["shares"] == [1.0, 1.0]
        z = np.concatenate(record["_shown"][2])                       # the shown draw's 9 picks
        same_cell = len({(a, b) for a, b in zip(z[:, 2] > 0, z[:, 3] > 0)}) == 1
        seen.add((picks, same_cell))
    assert ("matched", True) in seen and ("any", False) in seen      # any: picks from every cell
    out = capsys.readouterr().out
    assert "--picks matched: 4 size-position cells have 3 of each concept" in out
    assert "on colour, shape, size and position" in out

    # more exemplars per concept: each group of the draw holds that many, and so does chance's
    record = bench.measure(run, SimpleNamespace(**{**vars(ns), "exemplars": 5}, picks="matched"))
    assert record["exemplars"] == 5 and [len(x) for x in record["_shown"][2]] == [5, 5, 5]
    assert record["shares"] == [1.0, 1.0] and 0 < record["chance"] < 0.6
    with pytest.raises(SystemExit, match="fewer than 50000 confident images"):
        bench.measure(run, SimpleNamespace(**{**vars(ns), "exemplars": 50000}, picks="any"))


def test_latent_bench_refuses_a_folder_of_another_seed_or_length(bench, tmp_path, capsys):
    out = tmp_path / "lat"
    bench.train_seed(out / "seed3", 2, 0)              # seed 0's run where seed 3's belongs
    with pytest.raises(SystemExit, match="training seed 0 at step 2, not shapes with seed 3 at step 2"):
        bench.main(["--train-seeds", "3-3", "--steps", "2", "--out", str(out)])
    with pytest.raises(SystemExit, match="not shapes with seed 0 at step 5"):
        bench.train_seed(out / "seed3", 5, 0)
    with pytest.raises(SystemExit):
        bench.main(["--train-seeds", "4-2", "--out", str(out)])
    assert "runs backwards" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--train-seeds", "0-1", "--run", str(out / "seed3")])
    assert "drop --run" in capsys.readouterr().err


def test_latent_bench_table_marks_a_missed_target():
    spec = importlib.util.spec_from_file_location("bench_latent_arithmetic", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    row = {"train_seed": 7, "share": 0.367, "share_blue": 0.8, "share_circle": 0.4, "shares": [0.367, 0.35, 0.53],
           "share_mean": 0.416, "share_se": 0.057, "chance": 0.136, "ratio": 0.367 / 0.136,
           "ratio_mean": 0.416 / 0.136}
    text = mod.seeds_table([row, {**row, "train_seed": 8, "chance": 0.05, "ratio": 7.3, "ratio_mean": 8.3}])
    lines = text.splitlines()
    assert "| mean of 3 × 20 draws | chance (200 draws) |" in lines[0]   # what was measured, not fixed words
    longer = mod.seeds_table([{**row, "shares": [0.3] * 10, "draws": 20, "chance_draws": 1000}])
    assert "| mean of 10 × 20 draws | chance (1000 draws) |" in longer.splitlines()[0]
    # the mean of the repeats decides (bold), the first draws' ratio beside it: seed 7's first 20 draws
    # alone are below 3x, its mean is not
    assert "| ratio for the mean (first 20 draws) | target 3× |" in lines[0]
    assert lines[2].startswith("| 7 | 0.367 (0.80, 0.40) | 0.416 ± 0.057 | 0.136 | **3.1×** (2.7×) | held")
    assert lines[3].endswith("| held |")
    low = mod.seeds_table([{**row, "ratio": 3.5, "ratio_mean": 2.6}]).splitlines()[2]
    assert low.endswith("| **2.6×** (3.5×) | **missed** |")        # a lucky first set does not save it
    single = mod.seeds_table([{**row, "shares": [0.367], "ratio": 2.7}]).splitlines()[2]
    assert "| – |" in single and single.endswith("| **2.7×** (2.7×) | **missed** |")
    assert mod.ratio_to(0.2, 0.0) == float("inf") and np.isnan(mod.ratio_to(0.0, 0.0))
