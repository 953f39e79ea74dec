"""Write the README's contents list (its ## and ### headings, linked) between the markers
``<!-- contents -->`` and ``<!-- /contents -->``: ``python docs/make_readme_contents.py``.
``tests/test_readme_walk.py`` checks that the list in README.md is the one this script writes."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- contents -->", "<!-- /contents -->"


def _anchor():
    spec = importlib.util.spec_from_file_location("make_cli_reference", ROOT / "docs" / "make_cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.anchor


def headings(text: str) -> list[tuple[int, str]]:
    """(level, title) of each ## and ### heading outside fenced code, in order."""
    found, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        for level in (2, 3):
            mark = "#" * level + " "
            if line.startswith(mark):
                found.append((level, line[len(mark):].strip()))
    return found


def contents(text: str) -> str:
    """The block between the markers: one item per heading, ### nested under its ##."""
    anchor, seen, lines = _anchor(), {}, []
    for level, title in headings(text):
        slug = anchor(title)
        n = seen.get(slug, 0)      # GitHub numbers a repeated heading's id: slug, slug-1, slug-2
        seen[slug] = n + 1
        if n:
            slug = f"{slug}-{n}"
        lines.append(f"{'  ' * (level - 2)}- [{title.replace('`', '')}](#{slug})")
    return "\n".join([START, *lines, END])


def current_block(text: str) -> str:
    i, j = text.index(START), text.index(END) + len(END)
    return text[i:j]


def main() -> int:
    path = ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"{path} has no {START} ... {END} markers", file=sys.stderr)
        return 1
    new = text.replace(current_block(text), contents(text))
    if new != text:
        path.write_text(new, encoding="utf-8")
    print(f"wrote the contents of {path} ({len(headings(text))} headings)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
