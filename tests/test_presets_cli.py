"""`gan-studio presets NAME` shows a preset: its file, then every setting it changes from the defaults
as comments. The output is itself a config file that trains as the preset does."""
from __future__ import annotations

import pytest

from gan_studio.core.config import Config
from gan_studio.core.presets import load_preset, preset_names
from cli_helpers import cli


@pytest.mark.parametrize("name", preset_names())
def test_a_shown_preset_is_a_config_file_that_loads_as_the_preset(tmp_path, capsys, name):
    rc, out, err = cli(capsys, "presets", name)
    assert rc == 0 and not err
    mine = tmp_path / "mine.toml"
    mine.write_text(out)
    assert load_preset(str(mine)) == load_preset(name)


def test_the_changes_listed_are_the_preset_s_differences_from_the_defaults(capsys):
    rc, out, _ = cli(capsys, "presets", "ring8")
    assert rc == 0
    listed = {line.split("=")[0].strip("# ").strip() for line in out.splitlines()
              if line.startswith("#   ")}
    cfg, default = load_preset("ring8"), Config()
    differs = {k for k in ("train.lr_d", "train.lr_g", "model.g_width", "model.d_width", "model.latent_dim",
                           "model.d_activation", "loss", "data.name", "train.batch_size")
               if cfg.get(k) != default.get(k)}
    assert differs and differs <= listed
    assert "train.lr_g" not in listed and "data.name" not in listed      # the same as the defaults
    assert f"ring8: {len(listed)} settings changed from the defaults" in out
    assert "#   train.lr_d         = 0.002   (default 0.001)" in out


def test_an_unknown_preset_is_one_line_naming_the_presets(capsys):
    rc, out, err = cli(capsys, "presets", "no-such-preset")
    assert rc == 2 and not out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "unknown preset 'no-such-preset'" in lines[0] and "ring8" in lines[0]


@pytest.mark.parametrize("typo, meant", [("ring9", "ring8"), ("Ring8", "ring8"), ("pac5", "pac4"),
                                         ("infogan-shape", "infogan-shapes"), ("cycle-gan-shapes", "cyclegan-shapes")])
def test_a_typo_in_a_preset_name_gets_the_closest_name_first(capsys, typo, meant):
    """'ring9' listed all 23 presets and left the user to spot ring8 among them."""
    rc, out, err = cli(capsys, "train", typo, "--steps", "1")
    assert rc == 2 and not out
    line, = err.strip().splitlines()
    assert f"unknown preset {typo!r} (did you mean {meant}?); `gan-studio presets` lists them: " in line
    rc, _, err = cli(capsys, "presets", "no-such-preset")
    assert rc == 2 and "did you mean" not in err   # nothing close: no guess


def test_without_a_name_every_preset_is_listed(capsys):
    rc, out, _ = cli(capsys, "presets")
    assert rc == 0
    firsts = [line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")]
    assert firsts == preset_names()
