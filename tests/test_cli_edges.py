"""The command line's edges, as a new user meets them: values that start with a minus, values too
long to echo, pictures too large to read, indices out of range, a run whose data have moved. Each
ends in one line naming the option and what it takes (or, where nothing is wrong, works)."""
from __future__ import annotations

import pytest

from cli_helpers import cli
from test_bad_input import one_line_error


# -- values that start with a minus -------------------------------------------------------------------
@pytest.mark.parametrize("option", ["--size", "--panel-size"])
def test_a_negative_size_is_one_line_naming_the_option_and_its_range(tmp_path, capsys, option):
    """argparse took '-5x10' for an unknown option: the usage block and 'expected one argument'."""
    rc, _, err = cli(capsys, "gui", option, "-5x10", "--screenshot", tmp_path / "w.png")
    assert rc == 2
    one_line_error(rc, err, f"{option} '-5x10'", "100 to 8000 pixels")
    assert "usage:" not in err and not (tmp_path / "w.png").exists()


def test_a_bad_command_line_is_one_line_that_points_at_the_help(capsys):
    """argparse's own errors (a word that is not a number, a missing option) printed the usage block first."""
    for argv, words in ((["train", "ring8", "--steps", "abc"], "invalid int value: 'abc'"),
                        (["train", "ring8"], "required: --steps")):
        rc, _, err = cli(capsys, *argv)
        assert rc == 2
        one_line_error(rc, err, words, "see `gan-studio train --help`")
        assert "usage:" not in err


# -- values too long to echo ------------------------------------------------------------------------
def test_a_very_long_steps_value_is_cut_in_the_message_and_the_bad_step_named(tmp_path, capsys):
    """figure timeline --steps echoed all of a 14,000-character value in its one line."""
    steps = ",".join(str(i) for i in range(3000)) + ",x"
    rc, _, err = cli(capsys, "figure", "timeline", tmp_path / "run", "--steps", steps, "--out", tmp_path / "f.png")
    line = one_line_error(rc, err, "--steps '0,1,2,3,", "... (", "'x' is not a step", "e.g. 0,5000,10000")
    assert len(line) < 300 and steps not in line and rc == 2


def test_a_step_in_other_digits_is_refused_in_words(tmp_path, capsys):
    """'²'.isdigit() is True and int('²') raises: a traceback."""
    rc, _, err = cli(capsys, "figure", "timeline", tmp_path / "run", "--steps", "0,²", "--out", tmp_path / "f.png")
    one_line_error(rc, err, "'²' is not a step")
