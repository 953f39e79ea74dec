"""Write docs/config.md, the reference of every config key (what `--set KEY=VALUE`, a preset's TOML
file, `config.json` and the Tricks panel take), from the config's own dataclasses
(gan_studio.core.config): each field's default, its allowed values and its doc come from the
``opt(...)`` that declares it, and whether a change applies live or needs a new run (Reset) from
gan_studio.core.family_spec.needs_reset, the rule the window and the training process follow.

    .venv/bin/python docs/make_config_reference.py            # rewrite docs/config.md
    .venv/bin/python docs/make_config_reference.py --check    # exit 1 if docs/config.md is out of date

tests/test_config_reference.py regenerates it in memory and compares it with docs/config.md byte for
byte, and checks that every key a Config has is in it.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

#: the command that rewrites the reference (named in the file and in the test's failure message)
COMMAND = ".venv/bin/python docs/make_config_reference.py"
OUT = Path(__file__).resolve().parent / "config.md"
NONE = "—"


def _load():
    """The Config with every model family's section registered, and the rules it is read with."""
    from gan_studio.core import config as config_mod
    from gan_studio.core.families import registry  # noqa: F401  (registers the families' sections)
    from gan_studio.core.data import registry as data_registry  # noqa: F401  (registers data.name's choices)
    from gan_studio.core.family_spec import SPECS, needs_reset
    return config_mod, SPECS, needs_reset


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


def _number(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def allowed(f: dataclasses.Field, default) -> str:
    """What the field takes: its choices, its range, or its type."""
    m = f.metadata
    choices = m.get("choices")
    if callable(choices):
        choices = choices()
    if choices is not None:
        return ", ".join(f"`{c}`" for c in choices)
    lo, hi = m.get("lo"), m.get("hi")
    kind = {bool: "on/off", int: "whole number", float: "number", str: "text", list: "list"}.get(
        type(default), type(default).__name__)
    if isinstance(default, bool):
        return "`true`, `false`"
    if lo is not None and hi is not None:
        left = "(" if m.get("lo_open") else "["
        return f"{kind} in {left}{_number(lo)}, {_number(hi)}]"
    if lo is not None:
        return f"{kind} {'>' if m.get('lo_open') else '>='} {_number(lo)}"
    if hi is not None:
        return f"{kind} <= {_number(hi)}"
    return kind


def _written_doc(obj) -> str | None:
    """The class's own docstring; None for the signature dataclasses writes when it has none."""
    doc = type(obj).__doc__
    return None if not doc or doc.startswith(type(obj).__name__ + "(") else doc


def sections(config_mod):
    """(section key, its doc, its intro, [(key, field, default)]) for the top level and each section,
    in the order the config declares them; the tricks one section each."""
    cfg = config_mod.Config()
    top = []
    out = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if not dataclasses.is_dataclass(value):
            top.append((f.name, f, value))
            continue
        if f.name == "tricks":
            for tf in dataclasses.fields(value):
                trick = getattr(value, tf.name)
                rows = [(f"tricks.{tf.name}.{g.name}", g, getattr(trick, g.name))
                        for g in dataclasses.fields(trick)]
                out.append((f"tricks.{tf.name}", tf.metadata.get("doc", ""), _written_doc(trick), rows))
            continue
        rows = [(f"{f.name}.{g.name}", g, getattr(value, g.name)) for g in dataclasses.fields(value)]
        out.append((f.name, f.metadata.get("doc", ""), _written_doc(value), rows))
    return [("(top level)", "the run as a whole", None, top)] + out


def _anchor(title: str) -> str:
    return "".join(c for c in title.lower().replace(" ", "-") if c.isalnum() or c in "-_")


def render() -> str:
    config_mod, specs, needs_reset = _load()
    secs = sections(config_mod)
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
        for k, f, default in rows:
            applies = "Reset" if needs_reset(k) else "live"
            lines.append(f"| `{k}` | {_cell(_value(default))} | {_cell(allowed(f, default))} | {applies} "
                         f"| {_cell(f.metadata.get('doc', ''))} |")
        lines.append("")
    return "\n".join(lines)


def all_keys() -> list[str]:
    """Every dotted key of a Config (its family sections included), for the test."""
    config_mod, _, _ = _load()
    return [k for _, _, _, rows in sections(config_mod) for k, _, _ in rows]


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
