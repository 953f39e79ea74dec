"""gan-studio presets: one entry per preset, its description wrapped to the terminal's width."""
from __future__ import annotations

#: the narrowest description column; a narrower terminal wraps at this width anyway
MIN_TEXT_WIDTH = 30


def add_parser(sub):
    return sub.add_parser("presets", help="list the presets with their descriptions",
                          description="List the presets in resources/presets with their descriptions, "
                                      "wrapped to the terminal's width.")


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


def run(args) -> int:
    import shutil
    from gan_studio.core.presets import preset_descriptions
    print(format_presets(preset_descriptions(), shutil.get_terminal_size((100, 24)).columns))
    return 0
