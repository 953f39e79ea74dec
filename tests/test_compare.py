"""`gan-studio compare`: runs aligned on one step axis (CSV), drawn overlaid with smoothing and the
branch point marked (PNG), and one line when the runs share no metric."""
from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
from PIL import Image

from gan_studio.cli import main
from gan_studio.core import compare as C
from gan_studio.core.errors import RunError
from gan_studio.core.fork import fork_run
from gan_studio.core.runs import RunFolder
from test_fork import tiny, train


@pytest.fixture(scope="module")
def branches(tmp_path_factory):
    """A parent trained 40 steps and its fork at step 20 with packing on, trained to 40 too."""
    root = tmp_path_factory.mktemp("compare")
    train(root / "parent", 40, tiny())
    fork_run(root / "parent", root / "branch", at_step=20, changes={"tricks.packing.enabled": "true"})
    train(root / "branch", 20)
    return root / "parent", root / "branch"


def test_the_csv_aligns_the_runs_on_their_steps(branches, tmp_path, capsys):
    parent, branch = branches
    out = tmp_path / "cmp.csv"
    assert main(["compare", str(parent), str(branch), "--metrics", "hq,loss_d", "--out", str(out)]) == 0
    table = list(csv.reader(io.StringIO(out.read_text())))
    assert table[0] == ["step", "parent:hq", "parent:loss_d", "branch:hq", "branch:loss_d"]
    body = {int(r[0]): r[1:] for r in table[1:]}
    assert sorted(body) == list(range(5, 41, 5))             # every logged step of either run
    assert body[5][0] == body[5][2] == ""                     # hq is evaluated every 10 steps only
    logged = {r["step"]: r for r in RunFolder(parent).read_metrics()}
    for step, (hq, loss_d, b_hq, b_loss_d) in body.items():
        assert float(loss_d) == pytest.approx(logged[step]["loss_d"], rel=1e-5)
        if step <= 20:
            assert (b_hq, b_loss_d) == (hq, loss_d)          # the shared history up to the branch
    assert all(body[s][1] != body[s][3] for s in (25, 30, 35, 40))   # packing changed what followed


def test_the_chart_overlays_the_runs_and_marks_the_branch(branches, tmp_path):
    parent, branch = branches
    out = tmp_path / "cmp.png"
    assert main(["compare", str(parent), str(branch), "--out", str(out), "--smooth", "0.5"]) == 0
    img = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert img.shape[1] == 3 * C.PANEL_W   # hq, rkl, modes side by side

    def share(colour):
        return (np.abs(img - np.array(colour)).sum(-1) < 40).mean()
    blue, orange = C.COLOURS[0], C.COLOURS[1]
    assert share(blue) > 1e-4 and share(orange) > 1e-4
    # the branch marker: a vertical orange line at step 20, as tall as a panel
    runs = C.load_histories([parent, branch])
    assert runs[1].branch_step == 20 and runs[1].parent.resolve() == parent.resolve()
    orange_cols = (np.abs(img - np.array(orange)).sum(-1) < 60).sum(0)[:C.PANEL_W]   # the first panel
    plot_w, plot_h = C.PANEL_W - C.MARGIN_L - C.MARGIN_R, C.PANEL_H - C.MARGIN_T - C.MARGIN_B
    assert orange_cols.max() > 0.4 * plot_h                                  # dashed: half of it is ink
    assert abs(int(orange_cols.argmax()) - (C.MARGIN_L + plot_w * 20 / 40)) <= 3   # step 20 of 0..40


def test_smoothing_is_a_debiased_moving_average_that_skips_gaps():
    v = np.array([2.0, 2.0, math.nan, 2.0, 4.0])
    s = C.smoothed(v, 0.9)
    assert s[0] == pytest.approx(2.0) and s[1] == pytest.approx(2.0)   # not pulled towards 0
    assert math.isnan(s[2]) and s[3] == pytest.approx(2.0)
    assert 2.0 < s[4] < 3.0
    np.testing.assert_array_equal(C.smoothed(v, 0.0)[[0, 1, 3, 4]], v[[0, 1, 3, 4]])


def test_runs_without_a_common_metric_say_which_each_has(branches, tmp_path, capsys):
    parent, branch = branches
    with pytest.raises(RunError, match=r"the runs have none of fd_classifier in common: parent has loss_d, "):
        C.common_metrics(C.load_histories([parent, branch]), C.parse_metrics("fd"))
    assert main(["compare", str(parent), str(branch), "--metrics", "fd", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "branch has loss_d" in err and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("args, words", [
    (["--out", "cmp.txt"], "name a .png (the chart) or a .csv (the table)"),
    (["--out", "cmp.png", "--smooth", "1"], "--smooth = 1.0: must be at least 0 and below 1"),
])
def test_bad_options_are_one_line(branches, tmp_path, capsys, args, words):
    args = [a if not a.startswith("cmp") else str(tmp_path / a) for a in args]
    assert main(["compare", str(branches[0]), *args]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_a_branch_at_the_last_step_keeps_its_whole_label(branches, tmp_path):
    """A fork at the parent's last step sits at the right edge of the chart: its label 'branch at 40'
    is moved left so that it stays whole inside its panel, not cut at the edge."""
    parent, _ = branches
    fork_run(parent, tmp_path / "late", at_step=40, changes={"tricks.packing.enabled": "true"})
    out = tmp_path / "late.png"
    assert main(["compare", str(parent), str(tmp_path / "late"), "--out", str(out)]) == 0
    img = np.asarray(Image.open(out).convert("RGB")).astype(int)
    orange = np.array(C.COLOURS[1])
    top = img.shape[0] - C.PANEL_H   # one row of panels under the legend
    band = (np.abs(img[top:top + C.MARGIN_T] - orange).sum(-1) < 150)   # above the plots: the labels' row
    for p in range(img.shape[1] // C.PANEL_W):
        cols = np.nonzero(band[:, p * C.PANEL_W:(p + 1) * C.PANEL_W].any(0))[0]
        assert len(cols) > 10, "the label is drawn"
        assert cols.max() < C.PANEL_W - 3, "and ends inside its panel"
    assert C.label_centre(995, 100, 0, 1000, 4) == 1000 - 4 - 50
    assert C.label_centre(2, 100, 0, 1000, 4) == 54 and C.label_centre(500, 100, 0, 1000, 4) == 500


def _folder_state(*paths):
    return {p: sorted((q.relative_to(p).as_posix(), q.stat().st_mtime_ns, q.stat().st_size)
                      for q in p.rglob("*") if q.is_file()) for p in paths}


def test_without_out_the_terminal_table_compares_the_steps_after_the_branch(branches, capsys):
    """Did the change help? Without --out, each run's mean and last value of each metric over the steps
    after the branch (before it the fork's history is its parent's, copied, and would pull the two
    together), computed here again from metrics.jsonl; nothing in the runs is written."""
    parent, branch = branches
    before = _folder_state(parent, branch)
    assert main(["compare", str(parent), str(branch), "--metrics", "hq,loss_d"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("steps 21 to 40: after the branch at 20")
    assert out[2].split() == ["run", "what", "hq", "mean", "hq", "last", "loss_d", "mean", "loss_d", "last"]
    rows = {line.split()[0]: line for line in out[3:]}
    assert "the parent" in rows["parent"] and "fork of parent at 20: tricks.packing.enabled=true" in rows["branch"]
    for name, path in (("parent", parent), ("branch", branch)):
        logged = [r for r in RunFolder(path).read_metrics() if 21 <= r["step"] <= 40]
        hq = [r["hq"] for r in logged if "hq" in r]
        loss = [r["loss_d"] for r in logged]
        assert len(hq) == 2 and len(loss) == 4
        want = [np.mean(hq), hq[-1], np.mean(loss), loss[-1]]
        assert rows[name].split()[-4:] == [C._summary_value(float(v)) for v in want]
        cells = dict(zip(("parent", "branch"), C.summary(C.load_histories([parent, branch]), ["hq", "loss_d"])[1]))
        got = cells[name]["cells"]
        assert [*got["hq"][:2], *got["loss_d"][:2]] == pytest.approx(want, rel=1e-6)
    assert _folder_state(parent, branch) == before


def test_the_terminal_table_stops_at_the_shortest_run_and_skips_undefined_values(branches, tmp_path):
    """A branch trained further than its parent is compared only where both have logged; a value logged
    as null (reverse KL with no high-quality sample) is left out of the mean, and a metric with no value
    in the window reads n/a, not 0."""
    parent, branch = branches
    longer = tmp_path / "longer"
    fork_run(branch, longer)            # a fork of the branch at its last step, with no change
    train(longer, 10)                   # steps 41-50: past the parent's last step
    runs = C.load_histories([branch, longer])
    assert C.summary_window(runs, ["hq"]) is None        # longer branched at 40, where the branch ends
    runs = C.load_histories([parent, longer])
    assert C.summary_window(runs, ["hq"]) is None        # longer branched at 40, the parent ends there
    said = C.summary_text(runs, ["hq"])
    assert said.startswith("no step to compare yet: the runs share no logged step after the branch at 40")
    assert "mean" not in said and said.splitlines()[1].split() == ["run", "what", "last", "logged", "step"]
    runs = C.load_histories([parent, branch])
    runs[1].rows = [r for r in runs[1].rows if r["step"] <= 30]   # a branch stopped at 30
    assert C.summary_window(runs, ["hq"]) == (21, 30)
    runs = C.load_histories([parent])
    given = {10: 1.0, 20: 2.0, 30: 3.0, 40: None}
    runs[0].rows = [dict(r, rkl=given[r["step"]]) if "rkl" in r else r for r in runs[0].rows]
    window, rows = C.summary(runs, ["rkl"])
    mean, last, n = rows[0]["cells"]["rkl"]
    assert math.isnan(last) and mean == pytest.approx(2.0) and n == 4   # the null left out of the mean
    runs[0].rows = [dict(r, rkl=None) if "rkl" in r else r for r in runs[0].rows]
    window, rows = C.summary(runs, ["rkl", "hq"])
    assert window == (0, 40)
    mean, last, n = rows[0]["cells"]["rkl"]
    assert math.isnan(mean) and math.isnan(last) and n == 4
    assert "n/a" in C.summary_text(runs, ["rkl", "hq"]).splitlines()[-1]
