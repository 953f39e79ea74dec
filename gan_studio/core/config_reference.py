"""What every config key is, read from the config's own declarations: its section, default, what it
allows (choices or range, from each field's ``opt(...)``), whether a change applies live or needs a
new run (``family_spec.needs_reset``, the rule the window and the training process follow) and its
doc. docs/config.md is written from this (docs/make_config_reference.py), and the window's
Help > Settings reference shows it beside the run's own values."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from gan_studio.core.config import Config
from gan_studio.core.data import registry as _data_registry  # noqa: F401  (data.name's choices)
from gan_studio.core.families import registry as _family_registry  # noqa: F401  (the families' sections)
from gan_studio.core.family_spec import needs_reset


@dataclass(frozen=True)
class KeyInfo:
    key: str                        # dotted, as --set takes it
    default: Any
    choices: tuple | None           # the names it takes, or None
    range_text: str                 # the kind and range of a value without choices ("number in (0, 1]")
    live: bool                      # False: needs a new run (Reset)
    doc: str

    @property
    def allowed(self) -> str:
        """What it takes, as plain text."""
        if self.choices is not None:
            return ", ".join(str(c) for c in self.choices)
        return "true, false" if isinstance(self.default, bool) else self.range_text


@dataclass(frozen=True)
class Section:
    name: str                       # "(top level)", "data", "tricks.packing", "cgan", ...
    doc: str                        # the section field's doc ("data set")
    intro: str | None               # the section class's own docstring, when it has one
    keys: tuple[KeyInfo, ...]


def _number(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def range_text(f: dataclasses.Field, default) -> str:
    """The kind of value a field without choices takes, and its range: 'whole number in [1, 16]'."""
    m = f.metadata
    kind = {bool: "on/off", int: "whole number", float: "number", str: "text", list: "list"}.get(
        type(default), type(default).__name__)
    lo, hi = m.get("lo"), m.get("hi")
    if lo is not None and hi is not None:
        return f"{kind} in {'(' if m.get('lo_open') else '['}{_number(lo)}, {_number(hi)}]"
    if lo is not None:
        return f"{kind} {'>' if m.get('lo_open') else '>='} {_number(lo)}"
    if hi is not None:
        return f"{kind} <= {_number(hi)}"
    return kind


def _info(key: str, f: dataclasses.Field, default) -> KeyInfo:
    choices = f.metadata.get("choices")
    if callable(choices):
        choices = choices()
    return KeyInfo(key, default, tuple(choices) if choices is not None else None, range_text(f, default),
                   not needs_reset(key), f.metadata.get("doc", ""))


def _written_doc(obj) -> str | None:
    """The class's own docstring; None for the signature dataclasses writes when it has none."""
    doc = type(obj).__doc__
    return None if not doc or doc.startswith(type(obj).__name__ + "(") else doc


def sections() -> list[Section]:
    """The top level, then each section in the order the config declares them, each trick its own."""
    cfg = Config()
    top, out = [], []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if not dataclasses.is_dataclass(value):
            top.append(_info(f.name, f, value))
            continue
        if f.name == "tricks":
            for tf in dataclasses.fields(value):
                trick = getattr(value, tf.name)
                keys = tuple(_info(f"tricks.{tf.name}.{g.name}", g, getattr(trick, g.name))
                             for g in dataclasses.fields(trick))
                out.append(Section(f"tricks.{tf.name}", tf.metadata.get("doc", ""), _written_doc(trick), keys))
            continue
        keys = tuple(_info(f"{f.name}.{g.name}", g, getattr(value, g.name)) for g in dataclasses.fields(value))
        out.append(Section(f.name, f.metadata.get("doc", ""), _written_doc(value), keys))
    return [Section("(top level)", "the run as a whole", None, tuple(top))] + out


def all_keys() -> list[KeyInfo]:
    return [k for s in sections() for k in s.keys]
