"""gan-studio presets: one line per preset."""
from __future__ import annotations


def add_parser(sub):
    return sub.add_parser("presets", help="list the presets, one line each",
                          description="List the presets in resources/presets with their descriptions.")


def run(args) -> int:
    from gan_studio.core.presets import preset_descriptions
    descs = preset_descriptions()
    width = max((len(n) for n in descs), default=0)
    for name, desc in descs.items():
        print(f"{name:<{width}}  {desc}")
    return 0
