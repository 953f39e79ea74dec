"""Write docs/config.md, the reference of every config key (what `--set KEY=VALUE`, a preset's TOML
file, `config.json` and the Tricks panel take), from gan_studio.core.config_reference, which reads the
config's own declarations: each field's default, its allowed values and its doc come from the
``opt(...)`` that declares it, and whether a change applies live or needs a new run (Reset) from
gan_studio.core.family_spec.needs_reset, the rule the window and the training process follow. The
window's Help > Settings reference shows the same.

    .venv/bin/python docs/make_config_reference.py            # rewrite docs/config.md
    .venv/bin/python docs/make_config_reference.py --check    # exit 1 if docs/config.md is out of date

tests/test_config_reference.py regenerates it in memory and compares it with docs/config.md byte for
byte, and checks that every key a Config has is in it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

#: the command that rewrites the reference (named in the file and in the test's failure message)
COMMAND = ".venv/bin/python docs/make_config_reference.py"
OUT = Path(__file__).resolve().parent / "config.md"
NONE = "—"


def _cell(text: str) -> str:
    """Text that stays inside one cell of a Markdown table."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _value(v) -> str:
    if v is None:
        return NONE
    if isinstance(v, bool):
        return "`true`" if v else "`false`"
    if isinstance(v, str):
        return f'`"{v}"`' if v else '`""` (empty)'
    if isinstance(v, float):
        return f"`{v:g}`"
    return f"`{json.dumps(v)}`"


def _allowed(info) -> str:
    if info.choices is not None:
        return ", ".join(f"`{c}`" for c in info.choices)
    return "`true`, `false`" if isinstance(info.default, bool) else info.range_text


def _anchor(title: str) -> str:
    return "".join(c for c in title.lower().replace(" ", "-") if c.isalnum() or c in "-_")


def render() -> str:
    from gan_studio.core.config_reference import sections
    secs = [(s.name, s.doc, s.intro, s.keys) for s in sections()]
    lines = [
        "# Config keys",
        "",
        "Every setting of a run: what `--set KEY=VALUE` takes (`gan-studio train`, `gui`, `fork`, `sweep`,",
        "`bench modes`), what a preset's TOML file and a run's `config.json` hold, and what the window's",
        "Tricks panel shows. Values given to `--set` are read as the key's type (`--set tricks.packing.m=4`,",
        "`--set train.lr_d=1e-4`, `--set tricks.packing.enabled=true`); a value outside what a key allows is",
        "refused with a message naming the key, the value and what is allowed.",
        "",
        "**When a change applies.** *live*: changed while a run trains (the Tricks panel, `--change",
        "STEP:KEY=VALUE` of `gan-studio gui`, `gan-studio train --resume DIR --set`, `gan-studio fork",
        "--set`) it applies at the next step, and the run's `events.jsonl` records it with its step.",
        "*Reset*: it needs new networks or new data, so the window applies it when you press Reset (a",
        "new run), and `train --resume` and `fork` refuse it.",
        "A model family's section (`[cgan]`, `[ssl]`, ...) is read only by runs of that family",
        "(`model.family`).",
        "",
        "This file is generated from the config's own declarations (`gan_studio/core/config.py` and the",
        "model families' sections) by",
        "",
        "```sh",
        COMMAND,
        "```",
        "",
        "so do not edit it by hand (`tests/test_config_reference.py` fails while the two differ).",
        "",
        "## Contents",
        "",
    ]
    titles = [f"`{key}`" if key != "(top level)" else "Top level" for key, *_ in secs]
    for (key, doc, _, rows), title in zip(secs, titles):
        plain = title.strip("`")
        lines.append(f"- [{plain}](#{_anchor(plain)}): {_cell(doc)} ({len(rows)} keys)")
    lines.append("")
    for (key, doc, intro, rows), title in zip(secs, titles):
        lines += [f"## {title.strip('`')}", ""]
        text = doc[:1].upper() + doc[1:] if doc else ""
        if intro:
            text = f"{text}. {' '.join(intro.split())}" if text else " ".join(intro.split())
        if text:
            lines += [text.rstrip(".") + ".", ""]
        lines += ["| key | default | allowed | applies | what it does |", "| --- | --- | --- | --- | --- |"]
        for info in rows:
            lines.append(f"| `{info.key}` | {_cell(_value(info.default))} | {_cell(_allowed(info))} "
                         f"| {'live' if info.live else 'Reset'} | {_cell(info.doc)} |")
        lines.append("")
    return "\n".join(lines)


def all_keys() -> list[str]:
    """Every dotted key of a Config (its family sections included)."""
    from gan_studio.core.config_reference import all_keys
    return [info.key for info in all_keys()]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if argv == ["--check"]:
        if OUT.is_file() and OUT.read_text(encoding="utf-8") == text:
            return 0
        print(f"{OUT} is out of date; run {COMMAND}", file=sys.stderr)
        return 1
    if argv:
        print(f"usage: {COMMAND} [--check]", file=sys.stderr)
        return 2
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(all_keys())} keys)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
