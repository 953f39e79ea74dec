"""Config: defaults are valid, files round-trip, and every bad value gets a message naming the key."""
import json

import pytest

import gan_studio.core.data  # noqa: F401  (registers the names data.name may take)
from gan_studio.core.config import Config, parse_override
from gan_studio.core.errors import ConfigError


def test_defaults_validate_and_round_trip_json_and_toml(tmp_path):
    cfg = Config()
    cfg.validate()
    cfg.set("train.lr_d", "2e-4")
    cfg.set("loss", "wgan-gp")
    for name in ("c.json", "c.toml"):
        cfg.save(tmp_path / name)
        back = Config.load(tmp_path / name)
        assert back.to_dict() == cfg.to_dict()
    assert json.loads((tmp_path / "c.json").read_text())["train"]["lr_d"] == 2e-4


@pytest.mark.parametrize("key,value,needle", [
    ("train.lr_d", "-1", "train.lr_d = -1.0 is out of range"),
    ("train.lr_x", "1", "unknown config key 'train.lr_x'"),
    ("train.lrd", "1", "unknown config key 'train.lrd' (did you mean train.lr_d?): train has batch_size"),
    ("tricks.pakcing.enabled", "true", "(did you mean tricks.packing?)"),
    ("trian.lr_d", "1", "(did you mean train?): the top level has"),
    ("loss", "banana", "loss = 'banana' is not allowed; choose one of: minimax"),
    ("train.d_steps", "1.5", "train.d_steps = 1.5: expected a whole number"),
    ("data.name", "nope", "data.name = 'nope' is not allowed"),
    ("model.g_activation", "cosine", "choose one of: relu"),
    ("train.device", "tpu", "train.device = 'tpu' is not allowed"),
    ("train", "1", "is a section"),
    ("train.lr_g", "nan", "must be a finite number"),
])
def test_bad_values_name_key_value_and_allowed(key, value, needle):
    cfg = Config()
    with pytest.raises(ConfigError) as e:
        cfg.set(key, value)
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


def test_failed_set_leaves_the_old_value():
    cfg = Config()
    with pytest.raises(ConfigError):
        cfg.set("train.lr_g", "5")
    assert cfg.train.lr_g == 1e-3


def test_loss_aliases_and_override_parsing():
    cfg = Config()
    cfg.set(*parse_override("loss=lsgan"))
    assert cfg.loss == "least-squares"
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("train.lr_d")


def test_unknown_key_in_file_is_reported(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[train]\nlearning_rate = 0.1\n')
    with pytest.raises(ConfigError, match="unknown config key 'train.learning_rate'"):
        Config.load(p)
    p.write_text("[train\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Config.load(p)
