"""Presets: TOML files in resources/presets, each a partial config with a one-line description."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

from gan_studio.core.config import Config
from gan_studio.core.errors import ConfigError, echo


def presets_dir() -> Path:
    try:
        from importlib.resources import files
        p = Path(str(files("gan_studio.resources") / "presets"))
        if p.is_dir():
            return p
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[2] / "resources" / "presets"


def preset_names() -> list[str]:
    return sorted(p.stem for p in presets_dir().glob("*.toml"))


def preset_path(name: str) -> Path:
    p = presets_dir() / f"{name}.toml"
    names = preset_names()
    if name not in names:   # looked up by name, not by the file system (a 300-letter name is no ENAMETOOLONG)
        import difflib
        # a typo or a capital ('ring9', 'Ring8', 'pac5'): the closest name first, as config keys do
        close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"unknown preset {echo(name)}{hint}; `gan-studio presets` lists them: {', '.join(names)}")
    return p


def looks_like_path(name: str) -> bool:
    """A config file's path (``my.toml``, ``configs/run``, ``./x.json``), not a preset's name: it holds
    a path separator or ends in .toml/.json. Preset names are plain words (their files' stems)."""
    seps = {"/", os.sep, os.altsep} - {None}
    return any(sep in name for sep in seps) or name.lower().endswith((".toml", ".json"))


def load_preset(name: str) -> Config:
    """A preset by name, or a config file by path (.toml or .json), checked against every registered
    data set and model family (their packages are imported here, not at module level, so listing
    the presets stays light)."""
    import gan_studio.core.data  # noqa: F401  (registers the names data.name may take)
    import gan_studio.core.families  # noqa: F401  (and those of model.family)
    unknown = name not in preset_names()
    if looks_like_path(name) or (unknown and os.path.isdir(name)):   # 'runs' or a run folder's name, in its parent
        path = Path(name)
        if not path.exists():
            raise ConfigError(f"no such config file: {name}")
        if path.is_dir():
            hint = ""
            if (path / "checkpoint.pt").is_file() or (path / "config.json").is_file():
                hint = f"; it is a run folder: continue it with gan-studio train --resume {name}"
            raise ConfigError(f"{name} is a folder, not a config file (.toml or .json){hint}")
        return Config.load(path)
    if unknown and os.path.lexists(name):   # 'notes.txt': a file here, not a preset
        raise ConfigError(f"unknown preset {echo(name)}; {name} is a file here, but a config file must end in "
                          ".toml or .json (`gan-studio presets` lists the presets)")
    cfg = Config.load(preset_path(name))
    if cfg.name == "custom":
        cfg.name = name
    return cfg


def preset_descriptions() -> dict[str, str]:
    out = {}
    for name in preset_names():
        try:
            d = tomllib.loads(preset_path(name).read_text(encoding="utf-8"))
            out[name] = str(d.get("description", ""))
        except (OSError, tomllib.TOMLDecodeError) as e:
            out[name] = f"(unreadable: {e})"
    return out
