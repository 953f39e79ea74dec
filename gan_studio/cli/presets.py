"""gan-studio presets: one entry per preset, its description wrapped to the terminal's width; with a
name, that preset's file and the settings it changes from the defaults."""
from __future__ import annotations

#: the narrowest description column; a narrower terminal wraps at this width anyway
MIN_TEXT_WIDTH = 30


def add_parser(sub):
    p = sub.add_parser("presets", help="list the presets with their descriptions, or show one",
                       description="List the presets in resources/presets with their descriptions, "
                                   "wrapped to the terminal's width. With a NAME, print that preset's "
                                   "file (its comments say why each value was chosen) and, as comments "
                                   "after it, every setting it changes from the defaults: the output is "
                                   "a config file, so `gan-studio presets best > mine.toml`, edited, "
                                   "trains with `gan-studio train mine.toml`.")
    p.add_argument("name", nargs="?", metavar="NAME", help="a preset to show (default: list them all)")
    return p


def format_presets(descs: dict[str, str], columns: int) -> str:
    """Names in a column, each description wrapped beside its name with aligned continuation lines."""
    import textwrap
    width = max((len(n) for n in descs), default=0)
    text_width = max(MIN_TEXT_WIDTH, columns - width - 2 - 1)   # one column spare: no auto-wrap at the edge
    lines = []
    for name, desc in descs.items():
        wrapped = textwrap.wrap(desc, text_width, break_on_hyphens=False) or [""]
        lines.append(f"{name:<{width}}  {wrapped[0]}".rstrip())
        lines += [" " * (width + 2) + more for more in wrapped[1:]]
    return "\n".join(lines)


def show_preset(name: str) -> str:
    """The preset's file, then its changes from the defaults as TOML comments (the whole stays a
    config file that loads as the preset does)."""
    import json
    from gan_studio.core.config import Config, differing_settings
    from gan_studio.core.presets import load_preset, preset_path
    path = preset_path(name)   # an unknown name: ConfigError listing the presets
    cfg = load_preset(name)
    text = path.read_text(encoding="utf-8").rstrip("\n")
    changes = [c for c in differing_settings(cfg, Config()) if c[0] not in ("name", "description")]
    lines = [text, "", f"# {name}: {len(changes)} settings changed from the defaults "
             "(every key: docs/config.md; override any with --set KEY=VALUE)"]
    width = max((len(k) for k, _, _ in changes), default=0)
    lines += [f"#   {k:<{width}} = {json.dumps(v)}   (default {json.dumps(d)})" for k, v, d in changes]
    return "\n".join(lines)


def run(args) -> int:
    import shutil
    from gan_studio.core.presets import preset_descriptions
    if args.name:
        print(show_preset(args.name))
        return 0
    print(format_presets(preset_descriptions(), shutil.get_terminal_size((100, 24)).columns))
    return 0
