"""What a new user meets walking the README's commands: every sub-command listed in its CLI table,
and a path mistake (`--out notes.txt/run`) reported as the user's input in one line."""
from __future__ import annotations

import argparse
import errno
import re
from pathlib import Path

import pytest
import torch

from gan_studio.cli import build_parser, main
from gan_studio.core.errors import describe_os_error, file_in_the_way

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(autouse=True)
def one_thread_after():
    """Commands here set torch's thread count for the process: put the suite's 1 back."""
    yield
    torch.set_num_threads(1)


def _subcommands(parser: argparse.ArgumentParser, prefix: str = "gan-studio") -> list[str]:
    """'gan-studio train', 'gan-studio bench modes', ...: every leaf command of the parser."""
    acts = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not acts:
        return [prefix]
    return [c for name, sp in acts[0].choices.items() for c in _subcommands(sp, f"{prefix} {name}")]


def test_every_subcommand_has_a_row_in_the_readme_cli_table():
    """`gan-studio figure timeline` and `gan-studio sweep` were missing from 'The command line' table."""
    text = README.read_text(encoding="utf-8")
    table = text.split("## The command line", 1)[1].split("\n## ", 1)[0]
    rows = [m.group(1) for m in re.finditer(r"^\| `(gan-studio[^`]*)`", table, re.M)]
    missing = [c for c in _subcommands(build_parser()) if not any(r == c or r.startswith(c + " ") for r in rows)]
    assert not missing, f"sub-commands without a row in README's CLI table: {missing}"


@pytest.fixture
def a_file(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("not a folder\n")
    return f


def test_a_file_where_a_folder_is_needed_is_named(a_file):
    """mkdir under a file said 'File exists: notes.txt' (EEXIST) or 'Not a directory: notes.txt/run'."""
    for err, name in ((errno.EEXIST, a_file), (errno.ENOTDIR, a_file / "run"), (errno.ENOTDIR, a_file / "a" / "b")):
        e = OSError(err, "x", str(name))
        assert file_in_the_way(e) == str(a_file)
        assert describe_os_error(e) == f"{a_file} is a file, where a folder is needed"
    assert file_in_the_way(OSError(errno.EEXIST, "x", str(a_file.parent))) is None   # a folder is not in the way
    assert file_in_the_way(OSError(errno.ENOSPC, "x", str(a_file / "run"))) is None


def test_out_under_a_file_is_one_line_and_exit_2(a_file, tmp_path, capsys):
    """`gan-studio train ring8 --out notes.txt/run` (and sample, compare) exited 1, 'the machine', with
    'Not a directory' or 'File exists: notes.txt'; it is the user's input: exit 2, naming the file."""
    tiny = ["--set", "train.batch_size=8", "--set", "model.g_width=8", "--set", "model.d_width=8",
            "--quiet", "--threads", "1"]
    assert main(["train", "ring8", "--steps", "1", "--out", str(a_file / "run"), *tiny]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"gan-studio train: error: {a_file} is a file, where a folder is needed"
    run = tmp_path / "run"
    assert main(["train", "ring8", "--steps", "1", "--out", str(run), *tiny]) == 0
    capsys.readouterr()
    for argv in (["sample", str(run), "--n", "4", "--out", str(a_file / "s.npy")],
                 ["sample", str(run), "--n", "4", "--out", str(a_file / "deeper" / "s.png")],
                 ["compare", str(run), "--out", str(a_file / "c.csv")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{a_file} is a file, where a folder is needed" in err, err
    assert a_file.read_text() == "not a folder\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "run"]


def test_resume_with_another_out_is_refused_not_ignored(tmp_path, capsys):
    """`train --resume runs/x --steps 5 --out runs/other` trained runs/x on and never wrote runs/other:
    --out was ignored without a word. Now one line that says where the run trains and how to copy it."""
    tiny = ["--set", "train.batch_size=8", "--set", "model.g_width=8", "--set", "model.d_width=8",
            "--quiet", "--threads", "1"]
    run, other = tmp_path / "x", tmp_path / "other"
    assert main(["train", "ring8", "--steps", "2", "--out", str(run), *tiny]) == 0
    before = (run / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "1", "--out", str(other), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"gan-studio fork {run} --out {other}" in err, err
    assert not other.exists() and (run / "checkpoint.pt").read_bytes() == before
    # --out naming the run's own folder is what --resume does anyway
    assert main(["train", "--resume", str(run), "--steps", "1", "--out", str(run), "--quiet"]) == 0


def _github_anchor():
    """The id GitHub gives a heading: docs/make_cli_reference.py's anchor (docs/ is not a package)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_cli_reference", README.parent / "docs" / "make_cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.anchor


def test_every_link_to_a_readme_section_and_file_leads_somewhere():
    """A section renamed or a bench file moved leaves a link that goes nowhere: each `(#anchor)` must be
    a heading's id, each relative link a file or folder of the repository."""
    text = README.read_text()
    body = re.sub(r"```.*?```", "", text, flags=re.S)      # commands in code blocks are not links
    anchor = _github_anchor()
    anchors = {anchor(h.strip()) for h in re.findall(r"^#+ (.+)$", body, flags=re.M)}
    assert "latent-lab-arithmetic-on-latents-dcgan-fig-7-measured" in anchors and "semi-supervised-k1" in anchors
    links = re.findall(r"\]\(([^)\s]+)\)", body)
    missing = [link for link in links if link.startswith("#") and link[1:] not in anchors]
    assert not missing, f"links to no section: {missing}"
    root = README.parent
    files = [link.split("#")[0] for link in links if not link.startswith(("#", "http://", "https://", "mailto:"))]
    assert files, "the README links to its docs"
    gone = [f for f in files if not (root / f).exists()]
    assert not gone, f"links to no file: {gone}"


def test_the_readme_contents_list_every_section_as_the_script_writes_it():
    """The contents at the top are generated (docs/make_readme_contents.py): a section added, renamed or
    moved without running the script leaves a list that misleads, so the list must be the script's."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_readme_contents",
                                                  README.parent / "docs" / "make_readme_contents.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = README.read_text(encoding="utf-8")
    assert module.current_block(text) == module.contents(text), \
        "README.md's contents are out of date: run `python docs/make_readme_contents.py`"
    # the script sees headings, not a shell comment in a code block
    assert all(not title.startswith(("1.", "2.")) for _, title in module.headings(text))
    assert "- [The command line](#the-command-line)" in module.contents(text)
