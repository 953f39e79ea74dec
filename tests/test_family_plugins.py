"""Model families are plugins: each declares its config section, reset keys, tricks, losses, plot,
grid and capabilities as torch-free data (core/family_spec.py); the Trainer builds only through the
family's hooks; the config and apply_setting refuse what a declaration does not take before
anything runs; and a new family is one module (tests/plugins/toy_family.py) plus a preset."""
from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys

import pytest

import gan_studio.core.families  # noqa: F401  (registers the built-in families)
from gan_studio.core import config as config_module
from gan_studio.core import family_spec
from gan_studio.core.config import LOSSES, Config, TricksConfig, field_docs
from gan_studio.core.errors import ConfigError
from gan_studio.core.families.registry import FAMILIES, family_of, make_trainer
from gan_studio.core.family_spec import CAPABILITIES, SPECS, needs_reset
from gan_studio.core.presets import load_preset
from gan_studio.core.training import trainer as trainer_module


def test_the_declarations_are_read_without_torch_or_qt():
    code = ("import sys; from gan_studio.core.family_spec import needs_reset, SPECS; "
            "assert needs_reset('train.fast_paths') and needs_reset('model.g_width') and not needs_reset('train.lr_d'); "
            "assert 'gan' in SPECS; "
            "print(sorted(m for m in ('torch', 'PySide6', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["gan", "cgan", "ssl", "lapgan", "stackgan", "cyclegan", "infogan"])
def test_every_family_declares_what_exists(name):
    spec = SPECS[name]
    fits = {"model": {"family": name, **({"arch": spec.archs[0]} if spec.archs else {})},
            **({"loss": spec.losses[0]} if spec.losses else {})}   # a loss and arch it takes
    assert FAMILIES[name].FAMILY is spec and family_of(Config.from_dict(fits)) is spec
    tricks = set(TricksConfig.__dataclass_fields__)
    assert spec.tricks is None or set(spec.tricks) <= tricks
    assert spec.losses is None or set(spec.losses) <= set(LOSSES)
    assert set(spec.capabilities) <= set(CAPABILITIES)
    if spec.section is not None:   # the section is one of every Config's, documented, with its live keys
        cfg = Config()
        assert isinstance(getattr(cfg, name), spec.section) and name in cfg.to_dict()
        assert set(spec.live) <= {f.name for f in dataclasses.fields(spec.section)}
        assert all(key in field_docs() for key in spec.section_keys())
        for key in spec.section_keys():
            assert needs_reset(key) == (key.split(".", 1)[1] not in spec.live)


def test_reset_keys_come_from_the_declarations():
    assert needs_reset("train.fast_paths") and needs_reset("data.name") and needs_reset("cgan.embed_dim")
    assert needs_reset("ssl.labels_per_class") and not needs_reset("ssl.unsup_weight")
    assert needs_reset("stackgan.text_dim") and not needs_reset("stackgan.kl_weight")
    assert not needs_reset("train.lr_d") and not needs_reset("tricks.packing.enabled") and not needs_reset("loss")


def test_the_config_refuses_what_the_family_does_not_take_before_anything_is_built(monkeypatch):
    monkeypatch.setattr(trainer_module, "build_dataset", lambda *a, **k: pytest.fail("built the data"))
    with pytest.raises(ConfigError, match=r"tricks.packing.enabled = true is not available with model.family = "
                                          r"'cgan'; tricks there: label_smoothing, instance_noise, two_time_scale"):
        Config.from_dict({"model": {"family": "cgan"}, "tricks": {"packing": {"enabled": True}}})
    with pytest.raises(ConfigError, match=r"loss = 'hinge' does not fit model.family = 'ssl'"):
        Config.from_dict({"model": {"family": "ssl"}, "loss": "hinge"})
    with pytest.raises(ConfigError, match=r"model.arch = 'torchscript' does not fit model.family = 'cgan'"):
        Config.from_dict({"model": {"family": "cgan", "arch": "torchscript"}})


def test_apply_setting_refuses_from_the_declaration_before_touching_the_trainer(monkeypatch):
    cfg = load_preset("cgan-digits")
    for k, v in {"model.ngf": 8, "model.ndf": 8, "train.batch_size": 8, "train.device": "cpu"}.items():
        cfg.set(k, v)
    tr = make_trainer(cfg)
    monkeypatch.setattr(tr, "_on_setting_changed", lambda key: pytest.fail(f"{key} reached the live state"))
    with pytest.raises(ConfigError, match="tricks.replay.enabled = true is not available"):
        tr.apply_setting("tricks.replay.enabled", True)
    with pytest.raises(ConfigError, match="cgan.embed_dim is fixed when a run is built"):
        tr.apply_setting("cgan.embed_dim", 4)
    with pytest.raises(ConfigError, match="train.fast_paths is fixed when a run is built"):
        tr.apply_setting("train.fast_paths", False)
    assert not tr.cfg.tricks.replay.enabled and tr.cfg.cgan.embed_dim == 16 and tr.events == []


def test_a_family_builds_only_its_own_networks_and_optimisers(monkeypatch):
    monkeypatch.setattr(trainer_module, "build_models",
                        lambda *a, **k: pytest.fail("the Trainer built the plain G and D for a family"))
    made = []
    original = trainer_module.Trainer.make_optimizer
    monkeypatch.setattr(trainer_module.Trainer, "make_optimizer",
                        lambda self, *a, **k: made.append(1) or original(self, *a, **k))
    cfg = Config.from_dict({"data": {"name": "digits", "image_size": 8}, "model": {"family": "ssl"},
                            "ssl": {"labels_per_class": 3}, "train": {"batch_size": 8, "device": "cpu"}})
    tr = make_trainer(cfg)
    assert len(made) == 3   # G, D and the labelled-only baseline: nothing thrown away
    assert tr.plot() == SPECS["ssl"].plot and tr.grid_row_names is None and tr.FAMILY.has("classifier")


# -- adding a family: one module, one preset, its tests ----------------------------------------------------
@pytest.fixture
def toy_family():
    from tests.plugins import toy_family as toy
    from gan_studio.core.families.registry import register_family
    register_family(toy.ToyTrainer)
    yield toy
    # unregister: the toy must not show up in the other tests' family lists
    FAMILIES.pop("toy", None)
    SPECS.pop("toy", None)
    config_module._SECTIONS.pop("toy", None)
    Config.__dataclass_fields__.pop("toy", None)


def test_a_new_family_is_one_module_and_a_preset(toy_family, tmp_path):
    preset = tmp_path / "toy-ring8.toml"
    preset.write_text('name = "toy-ring8"\ndescription = "the toy family"\n[data]\nname = "ring8"\n'
                      '[model]\nfamily = "toy"\ng_width = 16\ng_depth = 2\nd_depth = 2\n'
                      '[toy]\nd_width = 8\n[train]\nbatch_size = 16\ndevice = "cpu"\n', encoding="utf-8")
    cfg = load_preset(str(preset))
    assert cfg.model.family == "toy" and "toy" in family_spec.family_names()
    tr = make_trainer(cfg)
    assert type(tr) is toy_family.ToyTrainer and toy_family.ToyTrainer.built == 1
    assert tr.D.width == 8 and tr.plot().title == "Modes"
    for _ in range(2):
        tr.step()
    tr.apply_setting("toy.out_gain", 2.0)                        # live, as declared
    assert tr.G.out_scale == 2.0
    with pytest.raises(ConfigError, match="toy.d_width is fixed when a run is built"):
        tr.apply_setting("toy.d_width", 32)
    with pytest.raises(ConfigError, match="tricks.unrolled.enabled = true is not available with model.family = 'toy'"):
        tr.apply_setting("tricks.unrolled.enabled", True)
    with pytest.raises(ConfigError, match="loss = 'hinge' does not fit model.family = 'toy'"):
        tr.apply_setting("loss", "hinge")
    # saved and continued like any family: the section travels in the checkpoint's config
    state = tr.state_dict()
    assert json.loads(state["config_json"])["toy"] == {"d_width": 8, "out_gain": 2.0}
    again = make_trainer(Config.from_dict(json.loads(state["config_json"])))
    again.load_state_dict(copy.deepcopy(state))
    assert again.step().as_dict() == tr.step().as_dict()


def test_network_tricks_are_refused_by_the_config_for_other_networks():
    """A trick that plugs layers into the MLPs declares it (ARCHS): the config refuses it on a DCGAN
    before anything is built, and the window hides it from the same declaration."""
    from gan_studio.app.run_kind import refused_tricks
    cfg = Config()
    cfg.set("data.name", "digits")
    cfg.set("model.arch", "dcgan")
    cfg.set("tricks.packing.enabled", True)
    with pytest.raises(ConfigError, match="tricks.packing needs the studio's MLP networks"):
        cfg.validate()
    cfg.set("tricks.packing.enabled", False)
    assert {"packing", "normalization", "minibatch_discrimination"} <= refused_tricks(cfg)
    assert "replay" not in refused_tricks(cfg)
    cfg.set("model.arch", "mlp")
    cfg.set("tricks.packing.enabled", True)   # the MLPs take it
    cfg.validate()
    assert refused_tricks(cfg) == set()


def test_the_session_and_window_ask_the_family_declaration_not_its_name():
    """No module of the session or the window compares model.family with a family's name: what a
    panel shows follows FAMILY (capabilities, plot, grid), so a new family needs no change there."""
    import ast
    from pathlib import Path

    import gan_studio.core.families  # noqa: F401
    names = set(family_spec.family_names())
    root = Path(__file__).resolve().parents[1] / "gan_studio"
    found = []
    for sub in ("session", "app"):
        for path in (root / sub).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Compare):
                    consts = [c for c in [node.left, *node.comparators] if isinstance(c, ast.Constant)]
                    if any(c.value in names - {"gan"} for c in consts):
                        found.append(f"{path.name}:{node.lineno}")
    assert found == []


def test_run_info_carries_the_family_declaration():
    from gan_studio.session.payloads import run_info
    cfg = Config()
    for k, v in {"data.name": "ring8", "model.g_width": 8, "model.d_width": 8, "train.batch_size": 16,
                 "train.device": "cpu"}.items():
        cfg.set(k, v)
    tr = make_trainer(cfg)
    info = run_info(tr, "/nowhere")
    assert info.family == "gan" and info.capabilities == frozenset() and info.family_plot is None
    assert info.class_names is None and info.vocabulary is None
