"""docs/config.md, the reference of every config key, is generated from the config's declarations
(docs/make_config_reference.py): it must match them byte for byte, list every key a Config has with
its real default, and its "applies" column must say what `fork --set` and the window do."""
from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path

import pytest

from gan_studio.core.config import Config
from gan_studio.core.errors import ConfigError
from gan_studio.core.families import registry  # noqa: F401  (the families' sections)
from gan_studio.core.fork import check_changes

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "config.md"
ROW = re.compile(r"^\| `([^`]+)` \| (.*?) \| (.*?) \| (live|Reset) \| (.*) \|$", re.M)


@pytest.fixture(scope="module")
def ref():
    """docs/make_config_reference.py, loaded as a module (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_config_reference",
                                                  ROOT / "docs" / "make_config_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rows() -> dict[str, tuple[str, str, str, str]]:
    """key -> (default, allowed, applies, doc) as docs/config.md's tables give them."""
    return {m[1]: m.groups()[1:] for m in ROW.finditer(DOC.read_text(encoding="utf-8"))}


def leaf_keys(obj, prefix: str = "") -> list[str]:
    """Every dotted key of a config, found by walking its dataclasses (not the generator's walk)."""
    out = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out += leaf_keys(value, f"{prefix}{f.name}.")
        else:
            out.append(prefix + f.name)
    return out


def test_docs_config_md_matches_the_config(ref):
    """A new key, a changed default, range or doc without the reference regenerated."""
    assert DOC.read_text(encoding="utf-8") == ref.render(), (
        f"docs/config.md is out of date with gan_studio/core/config.py (or a family's section); "
        f"regenerate it with `{ref.COMMAND}` and commit the result")


def test_every_key_is_listed_once_with_its_real_default(rows):
    cfg = Config()
    keys = leaf_keys(cfg)
    assert len(keys) > 100 and {"tricks.packing.m", "train.lr_d", "infogan.lambda_cat", "loss"} <= set(keys)
    assert set(rows) == set(keys), (set(keys) ^ set(rows))
    text = DOC.read_text(encoding="utf-8")
    for key in keys:
        assert text.count(f"| `{key}` |") == 1, key
        default = rows[key][0]
        value = cfg.get(key)
        if isinstance(value, bool):
            assert default == f"`{str(value).lower()}`", key
        elif isinstance(value, (int, float)):
            assert float(default.strip("`")) == pytest.approx(value), key
        elif isinstance(value, str):
            assert default.startswith(f'`"{value}"`'), key


def test_the_applies_column_is_what_fork_and_the_window_do(rows):
    """'Reset' keys are refused by `fork --set` (a fork keeps its parent's networks); 'live' keys are
    taken. Each key is tried with its own default, so only its kind of change is in question."""
    cfg = Config()
    for key, (_, _, applies, _) in rows.items():
        if key in ("name", "description"):
            continue
        value = cfg.get(key)
        if applies == "Reset":
            with pytest.raises(ConfigError, match="fixed when a run is built"):
                check_changes(cfg, {key: value})
        else:
            assert check_changes(cfg, {key: value}) == {key: value}, key


def test_the_allowed_column_is_what_set_refuses(rows):
    """A number just outside a range the table states, or a name not among its choices, is refused
    by --set with a message that names the key (the default, inside, is taken: the test above)."""
    checked = 0
    for key, (_, allowed, _, _) in rows.items():
        cfg = Config()
        m = re.fullmatch(r"(?:whole number|number) in ([\[(])(\S+), (\S+)\]", allowed)
        if m:
            lo, hi = float(m[2]), float(m[3])
            whole = allowed.startswith("whole")
            if hi < 1e15:
                beyond = int(hi) + 1 if whole else hi * 1.5 + 1
                with pytest.raises(ConfigError, match=re.escape(key)):
                    cfg.set(key, str(beyond))
            below = (int(lo) - 1) if whole else (lo if m[1] == "(" else lo - 1)
            with pytest.raises(ConfigError, match=re.escape(key)):
                cfg.set(key, str(below))
            checked += 1
        elif allowed.startswith("`") and "`true`" not in allowed:
            with pytest.raises(ConfigError, match=re.escape(key)):
                cfg.set(key, "no-such-choice")
            checked += 1
    assert checked > 80
