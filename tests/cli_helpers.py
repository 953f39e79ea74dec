"""Running `gan-studio` in the test's own process, as the CLI tests do."""
from __future__ import annotations

from gan_studio.cli import main


def cli(capsys, *argv):
    """(exit code, stdout, stderr) of ``gan-studio ARGV``; an uncaught exception fails the test."""
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:   # argparse's own one-line usage errors
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err
