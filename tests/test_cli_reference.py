"""docs/cli.md, the reference of every command and option, is generated from the argparse parser
(docs/make_cli_reference.py): it must match the parser byte for byte, leave no option out, and the
help it copies must read as text (no empty help, no %(default)s left unexpanded)."""
from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path

import pytest

from gan_studio.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "cli.md"


@pytest.fixture(scope="module")
def ref():
    """docs/make_cli_reference.py, loaded as a module (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_cli_reference", ROOT / "docs" / "make_cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _sections(doc: str) -> dict[str, str]:
    """'gan-studio bench modes' -> the text of its section (up to the next '## ' heading)."""
    parts = re.split(r"^## ", doc, flags=re.M)[1:]
    return {part.split("\n", 1)[0].strip(): part for part in parts}


def test_docs_cli_md_matches_the_parser(ref, doc):
    """A changed option, default or help string without the reference regenerated."""
    assert ref.generate() == doc, (
        f"docs/cli.md is out of date with the parser in gan_studio/cli/; regenerate it with "
        f"`{ref.COMMAND}` and commit the result")


def test_the_reference_does_not_depend_on_the_terminal(ref, monkeypatch):
    """argparse wraps help to $COLUMNS (the terminal's width): the reference is formatted at a fixed
    width, so it reads the same whoever regenerates it."""
    monkeypatch.setenv("COLUMNS", "40")
    narrow = ref.generate()
    monkeypatch.setenv("COLUMNS", "250")
    assert ref.generate() == narrow


def test_every_command_and_option_is_in_its_section(ref, doc):
    """A generator that skipped an option (or a sub-sub-command) would still match its own output:
    every option string and positional of every parser must appear, as code, in that command's section."""
    sections = _sections(doc)
    missing = []
    for path, parser, _purpose in ref.commands(build_parser()):
        name = ref.title(path)
        if name not in sections:
            missing.append(f"section {name!r}")
            continue
        text = sections[name]
        if f"- [{name}](#{ref.anchor(name)})" not in doc:
            missing.append(f"{name!r} in the contents")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices:
                    if f"`{name} {sub}`" not in text:
                        missing.append(f"{name} {sub} in {name}'s command table")
                continue
            strings = action.option_strings or [ref.positional_name(parser, action)]
            missing += [f"{name} {s}" for s in strings if f"`{s}`" not in text]
    assert not missing, f"missing from docs/cli.md: {missing}"


def test_every_leaf_command_of_the_parser_has_a_section(ref, doc):
    """The walk above starts from the parser; this pins the known nested commands by name."""
    sections = _sections(doc)
    for name in ("gan-studio", "gan-studio train", "gan-studio bench modes", "gan-studio figure timeline",
                 "gan-studio export tensorboard", "gan-studio sweep"):
        assert name in sections


def test_help_texts_are_written_and_expanded(ref):
    """Every option, positional and sub-command has help, and argparse's %-expansion leaves nothing
    behind: no empty help, no '%(default)s' or stray '%' formats (which also break --help)."""
    bad = []
    for path, parser, purpose in ref.commands(build_parser()):
        name = ref.title(path)
        if path and not (purpose or "").strip():
            bad.append(f"{name}: no one-line help in its parent's command list")
        for action in ref.arguments_of(parser):
            label = f"{name} {'/'.join(action.option_strings) or action.dest}"
            if action.help is None or not action.help.strip():
                bad.append(f"{label}: no help text")
                continue
            try:
                text = ref.help_text(parser, action)
            except (KeyError, ValueError, TypeError) as e:
                bad.append(f"{label}: help does not expand ({e!r})")
                continue
            if not text.strip() or re.search(r"%\(\w+\)", text) or "%%" in text:
                bad.append(f"{label}: help reads {text!r}")
        try:
            with ref._FixedWidth(parser):
                parser.format_help()   # a bad % in any help, description or usage raises here
        except (KeyError, ValueError, TypeError) as e:
            bad.append(f"{name} --help fails: {e!r}")
    assert not bad, "\n".join(bad)


def test_no_machine_specific_paths(ref, doc):
    """A default that expands the user's folder (/root/..., /home/me/...) is written as ~."""
    home = str(Path.home())
    if len(home) > 1:
        assert home not in doc
    assert str(ROOT) not in doc


def test_defaults_read_as_words_not_python(doc):
    """None, SUPPRESS and [] are '—'; flags read off/on, not False/True."""
    for leftover in ("None", "==SUPPRESS==", "`[]`", "`False`", "`True`"):
        assert not re.search(rf"\| {re.escape(leftover)} \|", doc), leftover
    assert "==SUPPRESS==" not in doc
