"""Which panels and tricks apply to a run, decided from its config: the data set's kind (2-D points
or images), ``model.arch`` and what ``model.family`` declares (core/family_spec.py: the tricks it
takes, its capabilities).

One function per question, so the window, the tricks panel and the tests ask the same place. Every
answer comes from a declaration of the core: the family's (tricks, capabilities) and each trick's
config section (``ARCHS``: the networks a trick that plugs layers into the MLPs works with).
"""
from __future__ import annotations

from gan_studio.core.config import Config

#: the panels (dock names of the main window) and the runs they show something for
ALWAYS = ("tricks", "plots", "events")


def is_image_run(cfg: Config) -> bool:
    from gan_studio.core.data.registry import dataset_kind
    try:
        return dataset_kind(cfg.data.name) == "image"
    except KeyError:          # an unknown data set: the run will not build; show the 2-D panels
        return False


def panels_for(cfg: Config) -> set[str]:
    """The dock names that show something for this run: the 2-D view on 2-D data; the grid browser
    and the latent lab on images; text to image on StackGAN runs only; image to image, in place of the
    latent lab, on runs that translate between two domains (CycleGAN: it draws nothing from a latent)."""
    panels = set(ALWAYS)
    if is_image_run(cfg):
        panels |= {"grid", "latent"}
        spec = family_spec(cfg)
        if spec is not None and spec.has("text"):   # G draws a typed caption (StackGAN)
            panels.add("caption")
        if spec is not None and spec.has("translation"):   # image to image (CycleGAN): no latent to explore
            panels.add("translate")
            panels.discard("latent")
    else:
        panels.add("modes")
    return panels


def family_spec(cfg: Config):
    """The declaration of ``cfg``'s family, or None for a family nobody registered."""
    import gan_studio.core.families  # noqa: F401 - registers every built-in family
    from gan_studio.core.family_spec import SPECS
    return SPECS.get(cfg.model.family)


def refused_tricks(cfg: Config) -> set[str]:
    """Names of the tricks (fields of cfg.tricks) this run's Trainer would refuse."""
    names = set(type(cfg.tricks).__dataclass_fields__)
    spec = family_spec(cfg)
    refused = {n for n in names if not spec.supports_trick(n)} if spec is not None else set()
    for n in names:
        archs = getattr(type(getattr(cfg.tricks, n)), "ARCHS", None)
        if archs is not None and cfg.model.arch not in archs:
            refused.add(n)
    return refused
