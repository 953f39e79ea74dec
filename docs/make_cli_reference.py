"""Write docs/cli.md, the reference of every `gan-studio` command and option, from the argparse
parser itself (gan_studio.cli.build_parser), so that it cannot drift from `--help`.

    .venv/bin/python docs/make_cli_reference.py            # rewrite docs/cli.md
    .venv/bin/python docs/make_cli_reference.py --check    # exit 1 if docs/cli.md is out of date

tests/test_cli_reference.py regenerates it in memory and compares it with docs/cli.md byte for byte.
The help is formatted at a fixed width, without colour, and the user's home folder is written as ~,
so the file is the same on every machine.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

#: the command that rewrites the reference (named in the file and in the test's failure message)
COMMAND = ".venv/bin/python docs/make_cli_reference.py"
OUT = Path(__file__).resolve().parent / "cli.md"
#: the width at which argparse's usage lines and the top-level --help are formatted
WIDTH = 100
NONE = "—"


# --------------------------------------------------------------------------------------- the parser
def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = (), purpose: str | None = None):
    """(path, parser, purpose) of the top-level parser and every (sub-)sub-command, depth first in
    the parser's order: ((), gan-studio, its description), (("train",), ..., its one-line help), ..."""
    yield path, parser, purpose if path else parser.description
    for name, text in subcommands_of(parser):
        yield from commands(_choices(parser)[name], path + (name,), text)


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def subcommands_of(parser: argparse.ArgumentParser) -> list[tuple[str, str | None]]:
    """(name, one-line help) of the parser's own sub-commands (none for a leaf command)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            return [(name, helps.get(name)) for name in action.choices]
    return []


def arguments_of(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The parser's arguments and options as --help lists them (the sub-command choice excluded)."""
    return [a for a in parser._actions if not isinstance(a, argparse._SubParsersAction)]


class _FixedWidth:
    """While active, the parser formats its help at WIDTH columns and without colour (Python 3.14's
    argparse colours help for a terminal), whatever the terminal or $COLUMNS."""

    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser

    def __enter__(self):
        base = self.parser.formatter_class
        self.saved = base, getattr(self.parser, "color", None)

        class Fixed(base):
            def __init__(self, prog, *args, **kwargs):
                kwargs["width"] = WIDTH
                super().__init__(prog, *args, **kwargs)

        self.parser.formatter_class = Fixed
        if hasattr(self.parser, "color"):
            self.parser.color = False
        return self.parser

    def __exit__(self, *exc):
        self.parser.formatter_class, color = self.saved
        if color is not None:
            self.parser.color = color


def formatter(parser: argparse.ArgumentParser) -> argparse.HelpFormatter:
    with _FixedWidth(parser):
        return parser._get_formatter()


def usage(parser: argparse.ArgumentParser) -> str:
    with _FixedWidth(parser):
        return parser.format_usage().rstrip()


def full_help(parser: argparse.ArgumentParser) -> str:
    with _FixedWidth(parser):
        return parser.format_help().rstrip()


def help_text(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The action's help as --help prints it (%(default)s and friends expanded), on one line."""
    if action.help is None:
        return ""
    if action.help == argparse.SUPPRESS:
        return "(hidden from --help)"
    return " ".join(formatter(parser)._expand_help(action).split())


def value_of(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """What the argument takes, as --help writes it (`KEY=VALUE`, `{ring8,grid25}`, `RUN [RUN ...]`)."""
    if action.nargs == 0:
        return ""
    f = formatter(parser)
    metavar = (f._get_default_metavar_for_optional(action) if action.option_strings
               else f._get_default_metavar_for_positional(action))
    return f._format_args(action, metavar)


#: what a positional argument takes, by its nargs, in words
POSITIONAL_COUNTS = {None: "positional", "?": "positional, may be left out", "*": "positional, any number",
                     "+": "positional, one or more", argparse.REMAINDER: "positional, the rest of the line"}


def positional_name(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """A positional argument's name as the usage line and --help show it (its metavar, else its dest)."""
    f = formatter(parser)
    return f._metavar_formatter(action, f._get_default_metavar_for_positional(action))(1)[0]


def default_of(action: argparse.Action) -> str:
    """The default in words: NONE for none (None, SUPPRESS, an empty list), 'off' for a flag."""
    if action.required:
        return "*required*"
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return "on" if action.default else "off"
    if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
        return NONE
    d = action.default
    if d is None or d == argparse.SUPPRESS or (isinstance(d, (list, tuple)) and not d):
        return NONE
    if isinstance(d, (list, tuple)):
        return ", ".join(code(str(v)) for v in d)
    return code(str(d))


# ----------------------------------------------------------------------------------------- Markdown
def code(text: str) -> str:
    """`text` as a code span that survives a table cell (a | is escaped, backticks fenced wider)."""
    text = text.replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def prose(text: str) -> str:
    """Help text for a table cell: | escaped; <, > and * outside `code spans` escaped so that
    FILE_<panel>.png is not taken for an HTML tag or a*b for emphasis."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):   # the even parts lie outside code spans
        parts[i] = (parts[i].replace("\\", "\\\\").replace("<", "&lt;").replace(">", "&gt;")
                    .replace("*", "\\*"))
    return "`".join(parts).replace("|", "\\|")


def title(path: tuple[str, ...]) -> str:
    return " ".join(("gan-studio",) + path)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but - and _ dropped, spaces as -."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def block(text: str, lang: str = "text") -> list[str]:
    return [f"```{lang}", text.rstrip(), "```"]


def description_lines(parser: argparse.ArgumentParser, text: str) -> list[str]:
    """A description or epilog: kept as written where the parser keeps its line breaks
    (RawDescriptionHelpFormatter), else one paragraph, as --help refills it."""
    if issubclass(parser.formatter_class, argparse.RawDescriptionHelpFormatter):
        return block(text)
    return [prose(" ".join(text.split()))]


def section(path: tuple[str, ...], parser: argparse.ArgumentParser, purpose: str | None) -> list[str]:
    lines = [f"## {title(path)}", ""]
    if purpose:   # the one-line help of the parent's command list, as a sentence
        text = " ".join(purpose.split())
        text = text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")
        lines += [prose(text), ""]
    if path and parser.description and " ".join(parser.description.split()) != " ".join((purpose or "").split()):
        lines += description_lines(parser, parser.description) + [""]
    if path:
        lines += block(usage(parser)) + [""]
    else:   # the top level: its whole --help, which lists the commands
        lines += ["`gan-studio --help`:", ""] + block(full_help(parser)) + [""]
    subs = subcommands_of(parser)
    if subs:
        lines += ["| command | what it does |", "| --- | --- |"]
        for name, text in subs:
            sub_title = title(path + (name,))
            lines.append(f"| [{code(sub_title)}](#{anchor(sub_title)}) | {prose(' '.join((text or NONE).split()))} |")
        lines.append("")
    lines += ["| argument | value | default | description |", "| --- | --- | --- | --- |"]
    for action in arguments_of(parser):
        if action.option_strings:
            names = ", ".join(code(s) for s in action.option_strings)
            value = value_of(parser, action)
            value_cell = code(value) if value else NONE
        else:   # a positional: its name as --help shows it; what it takes in words
            names = code(positional_name(parser, action))
            value_cell = POSITIONAL_COUNTS.get(action.nargs, f"positional, {action.nargs}")
        if isinstance(action.type, type) and action.type in (int, float) and action.nargs != 0:
            value_cell += " (integer)" if action.type is int else " (number)"
        if isinstance(action, argparse._AppendAction):
            value_cell += ", repeatable"
        lines.append(f"| {names} | {value_cell} | {default_of(action)} | {prose(help_text(parser, action)) or NONE} |")
    lines.append("")
    if parser.epilog:
        lines += description_lines(parser, parser.epilog) + [""]
    return lines


def generate(parser: argparse.ArgumentParser | None = None) -> str:
    """The whole reference as one string (what docs/cli.md holds)."""
    if parser is None:
        from gan_studio.cli import build_parser
        parser = build_parser()
    items = list(commands(parser))
    lines = [
        "# `gan-studio` command-line reference",
        "",
        "Every command and every option of `gan-studio`, with its default and help text.",
        "",
        "This file is generated from the argparse parser itself (`gan_studio.cli.build_parser`) by",
        "",
        *block(COMMAND, "sh"),
        "",
        "so do not edit it by hand: change the parser's help strings and run that command again",
        "(`tests/test_cli_reference.py` fails while the two differ). The README's",
        "[command-line table](../README.md#the-command-line) gives the common uses of each command.",
        "",
        "Defaults read `—` where an option has none (it is then unset, or its meaning is described in",
        "its help text); `off` for a flag that is off unless given; `*required*` where the command",
        "cannot run without it.",
        "",
        "## Contents",
        "",
    ]
    for path, _parser, _purpose in items:
        indent = "  " * max(len(path) - 1, 0)
        lines.append(f"{indent}- [{title(path)}](#{anchor(title(path))})")
    lines.append("")
    for path, sub, purpose in items:
        lines += section(path, sub, purpose)
    text = "\n".join(lines).rstrip() + "\n"
    home = str(Path.home())
    if len(home) > 1:   # a default that expanded the user's folder: written as ~, not /root/...
        text = text.replace(home, "~")
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write docs/cli.md from gan-studio's argparse parser.")
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/cli.md is out of date; write nothing")
    ap.add_argument("--out", type=Path, default=OUT, help="the file to write (default: docs/cli.md)")
    args = ap.parse_args(argv)
    text = generate()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else None
        if current != text:
            print(f"{args.out} is out of date: run {COMMAND}", file=sys.stderr)
            return 1
        return 0
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
