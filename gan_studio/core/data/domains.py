"""Two image domains cut out of one image set by filters (``data.domain_a``, ``data.domain_b``): what
unpaired image-to-image translation (CycleGAN) trains on.

A filter is terms joined by commas, all of which an image must pass:

- ``attribute=value``: an attribute of the set (shapes: shape, colour, size, position), e.g.
  ``shape=circle`` or ``shape=square,colour=red``;
- ``class=name``: a class of a labelled set (shapes: "red circle"; a folder tree: a sub-folder, so
  ``class=trainA`` picks the pictures in data.path/trainA);
- a bare value: the one attribute value or class of that name (``circle``, ``trainA``).

Names are matched without regard to case or surrounding spaces. A filter that names nothing of the
set, or that no image passes (an empty sub-folder), is a one-line ConfigError naming the key.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from gan_studio.core.errors import ConfigError


@dataclass(frozen=True)
class Domain:
    """One domain: the filter's text, its terms as (label set, value index), the images' indices in the set."""
    key: str                              # "data.domain_a"
    text: str                             # the filter as written
    terms: tuple[tuple[str, int], ...]    # (attribute or "class", index of the value)
    index: torch.Tensor                   # (n,) indices into the set's images

    @property
    def name(self) -> str:
        return self.text.strip()


def label_sets(data) -> dict[str, tuple[torch.Tensor, list[str]]]:
    """What a filter can test: name -> (per-image value indices, value names)."""
    sets = {k: (v, list(data.attribute_values[k])) for k, v in (getattr(data, "attributes", None) or {}).items()}
    if getattr(data, "labels", None) is not None and getattr(data, "class_names", None):
        sets["class"] = (data.labels, [str(c) for c in data.class_names])
    return sets


def parse_filter(text: str, data, key: str) -> tuple[tuple[str, int], ...]:
    """The terms of filter ``text`` on ``data``; ConfigError (naming ``key``) for anything it cannot mean."""
    sets = label_sets(data)
    if not text or not text.strip():
        raise ConfigError(f"{key} is empty: model.family = 'cyclegan' needs two domains, e.g. data.domain_a = "
                          f"'shape=circle' and data.domain_b = 'shape=square' on shapes, or two sub-folders of "
                          f"data.path with data.name = folder")
    if not sets:
        raise ConfigError(f"{key} = {text!r}: {data.name} has no classes or attributes to filter by; put the two "
                          f"domains in two sub-folders of data.path (data.name = folder) and name them")
    terms: list[tuple[str, int]] = []
    for raw in text.split(","):
        term = raw.strip()
        if not term:
            raise ConfigError(f"{key} = {text!r}: an empty term; write terms like 'shape=circle' joined by commas")
        if "=" in term:
            name, _, value = (s.strip() for s in term.partition("="))
            found = next((n for n in sets if n.lower() == name.lower()), None)
            if found is None:
                raise ConfigError(f"{key} = {text!r}: {name!r} is not an attribute of {data.name}; use one of: "
                                  f"{', '.join(sets)}")
            values = sets[found][1]
            hit = [i for i, v in enumerate(values) if v.lower() == value.lower()]
            if not hit:
                raise ConfigError(f"{key} = {text!r}: {found} = {value!r} is not a value of {data.name}; choose one "
                                  f"of: {', '.join(values)}")
            terms.append((found, hit[0]))
        else:
            hits = [(n, i) for n, (_, values) in sets.items() for i, v in enumerate(values)
                    if v.lower() == term.lower()]
            if not hits:
                known = "; ".join(f"{n}: {', '.join(vals)}" for n, (_, vals) in sets.items())
                raise ConfigError(f"{key} = {text!r}: {term!r} names no value of {data.name} ({known})")
            if len(hits) > 1:
                raise ConfigError(f"{key} = {text!r}: {term!r} is ambiguous; write one of: "
                                  f"{', '.join(f'{n}={term}' for n, _ in hits)}")
            terms.append(hits[0])
    seen = [n for n, _ in terms]
    twice = sorted({n for n in seen if seen.count(n) > 1})
    if twice:
        raise ConfigError(f"{key} = {text!r}: {twice[0]} is given twice; an image has one {twice[0]}")
    return tuple(terms)


def matches(data, terms: tuple[tuple[str, int], ...]) -> torch.Tensor:
    """(N,) bool: the images of ``data`` that pass every term."""
    sets = label_sets(data)
    keep = torch.ones(len(data.pixels), dtype=torch.bool, device=data.pixels.device)
    for name, value in terms:
        keep &= sets[name][0] == value
    return keep


def select(data, text: str, key: str) -> Domain:
    """The domain of filter ``text`` (at ``key``) in ``data``; ConfigError when no image passes it."""
    terms = parse_filter(text, data, key)
    index = matches(data, terms).nonzero().squeeze(1)
    if len(index) == 0:
        classes = [v for n, v in terms if n == "class"]
        where = (f" (its sub-folder {label_sets(data)['class'][1][classes[0]]!r} holds no pictures)"
                 if data.name == "folder" and classes else "")
        raise ConfigError(f"{key} = {text!r} matches none of the {len(data.pixels)} images of {data.name}{where}: "
                          f"the domain is empty; choose a filter that some images pass")
    return Domain(key, text, terms, index)


def split_domains(data, text_a: str, text_b: str) -> tuple[Domain, Domain]:
    """Domains A and B of ``data``; ConfigError when either is empty or both are the same images."""
    a = select(data, text_a, "data.domain_a")
    b = select(data, text_b, "data.domain_b")
    if len(a.index) == len(b.index) and torch.equal(a.index, b.index):
        raise ConfigError(f"data.domain_a = {text_a!r} and data.domain_b = {text_b!r} pick the same images: "
                          f"translation needs two different domains")
    return a, b
