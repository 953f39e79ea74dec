"""The `gan-studio train` command that trains a config: a preset, then ``--set KEY=VALUE`` for every
setting where the config differs from it (File > Copy command line). No Qt: the window only puts
the text on the clipboard.

A value is written so that ``Config.set`` parses it back to what it was (``_coerce`` in
core/config.py): JSON for numbers and lists, true/false for switches, text as it is. Each
``KEY=VALUE`` is quoted for a POSIX shell (shlex.quote).
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from gan_studio.core.config import Config, differing_settings, parse_override
from gan_studio.core.errors import ConfigError
from gan_studio.core.presets import load_preset, preset_names

#: the steps a command trains when the run has trained none yet (the user edits it)
FRESH_RUN_STEPS = 1000


def override_text(key: str, value) -> str:
    """``KEY=VALUE`` as --set takes it, VALUE in the form Config.set reads back to ``value``."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float, list, tuple)):
        text = json.dumps(value)   # a float's shortest repr: read back to the same float
    else:
        text = str(value)
    return f"{key}={text}"


@dataclass
class TrainCommand:
    text: str                 # the command line, quoted for a shell
    preset: str               # the preset it starts from
    from_preset: bool         # the run's own preset (else the preset nearest to its settings)
    overrides: list[str]      # the KEY=VALUE of each --set, unquoted
    lost: list[str]           # keys a --set cannot give exactly (text with spaces at its ends)


def nearest_preset(cfg: Config) -> str:
    """The preset from which the fewest settings differ (the first by name among equals)."""
    best, fewest = "", None
    for name in preset_names():
        try:
            n = len(differing_settings(cfg, load_preset(name)))
        except ConfigError:
            continue   # a broken preset file is no base for a command
        if fewest is None or n < fewest:
            best, fewest = name, n
    return best


def train_command(cfg: Config, steps: int) -> TrainCommand:
    """The command that trains ``cfg`` for ``steps`` steps: from the preset the run is named after
    (a preset's runs carry its name), else from the nearest preset; every differing setting a --set."""
    names = preset_names()
    from_preset = cfg.name in names
    preset = cfg.name if from_preset else nearest_preset(cfg)
    base = load_preset(preset)
    overrides, lost = [], []
    for key, value, _ in differing_settings(cfg, base):
        text = override_text(key, value)
        trial = base.copy()   # read back as `gan-studio train` reads it (cli/train.py build_config)
        try:
            trial.set(*parse_override(text))
            exact = trial.get(key) == value
        except ConfigError:
            exact = False
        (overrides if exact else lost).append(text if exact else key)
    parts = ["gan-studio", "train", shlex.quote(preset), "--steps", str(steps if steps > 0 else FRESH_RUN_STEPS)]
    for text in overrides:
        parts += ["--set", shlex.quote(text)]
    return TrainCommand(" ".join(parts), preset, from_preset, overrides, lost)
