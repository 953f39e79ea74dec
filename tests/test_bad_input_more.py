"""More bad input that must end in one line or be read past, never in a traceback: hand-broken
metrics.jsonl rows (numbers too long for int() or float()), ..."""
from __future__ import annotations

import pytest

from gan_studio.cli import main
from cli_helpers import cli
from test_bad_input import TINY, copy_run, one_line_error


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 4-step ring8 run with tiny networks (about a second)."""
    path = tmp_path_factory.mktemp("bad-input-more") / "run"
    assert main(["train", "ring8", "--steps", "4", "--out", str(path), *TINY]) == 0
    return path


# -- metrics.jsonl ------------------------------------------------------------------------------------
@pytest.mark.parametrize("row", [
    '{"step": ' + "9" * 5000 + "}",               # past int()'s 4,300 digits: ValueError, not JSONDecodeError
    '{"step": 30, "hq": ' + "9" * 4000 + "}",     # an int, but too large for float(): OverflowError
    "[" * 100_000 + "]" * 100_000,                # nested past the recursion limit
], ids=["step-5000-digits", "value-4000-digits", "nested"])
def test_a_hand_broken_metrics_row_is_read_past(tiny_run, tmp_path, capsys, row):
    run = copy_run(tiny_run, tmp_path / "run")
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as fh:
        fh.write(row + "\n")
    rc, out, err = cli(capsys, "metrics", run)
    assert rc == 0 and "hq" in out, err
    rc, _, err = cli(capsys, "compare", run, "--out", tmp_path / "c.csv")
    assert rc == 0, err
    assert "step" in (tmp_path / "c.csv").read_text().splitlines()[0]
    rc, _, err = cli(capsys, "fork", run, "--out", tmp_path / "fork")
    assert rc == 0, err
    rc, _, err = cli(capsys, "train", "--resume", run, "--steps", "1", "--quiet")
    assert rc == 0, err
    assert row not in (run / "metrics.jsonl").read_text()   # the resume rewrote the log without it
