"""Fuzzing the command line (issue 16): config values for --set, JSON/TOML config files, CSV points and
.npy latents. Every call of ``gan-studio ...`` must end in success (exit 0) or in one line on stderr
and a non-zero exit; any exception out of ``main`` (other than argparse's SystemExit) fails.

Bounded to seconds: few examples per property, tiny networks, no training steps, and configs that
would take long to build (image sets, big networks) are stopped before the networks are built,
after everything the user typed was parsed and checked."""
from __future__ import annotations

import contextlib
import json
import math
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from gan_studio.cli import main  # noqa: E402
from gan_studio.core.config import Config, field_docs  # noqa: E402
from gan_studio.core.errors import ConfigError

FUZZ = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
LATENT = 4
TINY = ["--quiet", "--device", "cpu", "--set=model.g_width=8", "--set=model.d_width=8", "--set=model.g_depth=1",
        "--set=model.d_depth=1", "--set=train.batch_size=8", f"--set=model.latent_dim={LATENT}"]
KEYS = sorted(field_docs())


def run_cli(capsys, argv) -> int:
    """``gan-studio ARGV``: 0, or one non-empty line on stderr and a non-zero exit."""
    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:   # argparse: usage and one error line
        assert e.code not in (0, None) or "--help" in argv
        return int(e.code or 0)
    err = capsys.readouterr().err
    assert rc is not None and isinstance(rc, int)
    event(f"{argv[0]}: exit {rc}")   # --hypothesis-show-statistics: how many ran through
    if rc != 0:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1, f"exit {rc} with {len(lines)} lines on stderr:\n{err}"
        assert "Traceback" not in err
    return rc


# -- building cheaply ----------------------------------------------------------------------------------
def _cheap(cfg: Config) -> bool:
    from gan_studio.core.data.registry import dataset_kind
    m, t = cfg.model, cfg.tricks
    return (m.family == "gan" and m.arch == "mlp" and dataset_kind(cfg.data.name) == "2d"
            and m.g_width ** 2 * m.g_depth <= 256 ** 2 * 4 and m.d_width ** 2 * m.d_depth <= 256 ** 2 * 4
            and m.latent_dim <= 512 and cfg.train.batch_size <= 4096
            and (not t.replay.enabled or t.replay.buffer_size <= 100_000)
            and (not t.minibatch_discrimination.enabled
                 or t.minibatch_discrimination.kernels * t.minibatch_discrimination.kernel_dim <= 4096)
            and (not t.checkpoint_swap.enabled or t.checkpoint_swap.snapshots <= 10))


@contextlib.contextmanager
def cheap_trainers():
    """Build the Trainer only for configs that build in milliseconds; others stop with one line."""
    from gan_studio.core.families import registry as families
    real = families.make_trainer

    def make_trainer(cfg, device=None):
        if not _cheap(cfg):
            raise ConfigError("(fuzz) a valid config too large to build in a test")
        return real(cfg, device=device)
    with mock.patch.object(families, "make_trainer", make_trainer):
        yield


# -- strategies ----------------------------------------------------------------------------------------
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10 ** 20), 10 ** 20),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
value_texts = st.one_of(
    json_values.map(lambda v: json.dumps(v)),
    st.text(max_size=30),
    st.sampled_from(["true", "off", "nan", "-inf", "1e400", "1" * 5000, "[" * 5000, "[[0,0],[1,1]]",
                     "[[3e38,3e38]]", "[[1,2,3]]", "relu", "cpu", "cuda:7", "mps", "../x", "a/b", ".x",
                     "{}", "[]", "", "0", "-1", "2", "8", "0.5", "1e-4", "wgan-gp", "points", "digits"]),
    st.integers(-5, 10 ** 6).map(str), st.floats(-1e6, 1e6).map(repr))


def _plausible(key: str):
    """Values near the key's default (so that many configs are valid and get built)."""
    default = Config().get(key)
    if isinstance(default, bool):
        return st.sampled_from(["true", "false", "on", "off", "1"])
    if isinstance(default, (int, float)):
        return st.sampled_from([0, 0.5, 1, 1, 2, 10, -1]).map(lambda f: repr(type(default)(default * f)))
    if isinstance(default, list):
        return st.lists(st.tuples(st.floats(-10, 10), st.floats(-10, 10)), max_size=5).map(
            lambda pts: json.dumps([list(p) for p in pts]))
    return st.sampled_from([default, default.upper(), default + "x", ""])


plausible_sets = st.sampled_from(KEYS).flatmap(lambda k: st.tuples(st.just(k), _plausible(k)))
keys = st.one_of(st.sampled_from(KEYS), st.sampled_from(["train", "tricks.packing", "x", "train.", ".lr",
                                                         "model.g_width.x", ""]), st.text(max_size=15))


@FUZZ
@example(sets=[("train.seed", "1" * 5000)])
@example(sets=[("name", "../escape")])
@example(sets=[("data.points", "[" * 5000)])
@given(sets=st.lists(st.one_of(plausible_sets, plausible_sets, st.tuples(keys, value_texts)),
                     min_size=1, max_size=4))
def test_set_values(capsys, sets):
    with tempfile.TemporaryDirectory() as tmp, cheap_trainers():
        argv = ["train", "ring8", "--steps", "0", "--out", Path(tmp) / "run", *TINY]
        argv += [f"--set={k}={v}" for k, v in sets]
        run_cli(capsys, argv)


def _config_doc():
    """A dict shaped like a config (known sections and keys, random values) or anything at all."""
    key_values = st.lists(st.tuples(st.sampled_from(KEYS), st.one_of(json_values, value_texts)), max_size=6)

    def nest(pairs):
        doc: dict = {}
        for key, value in pairs:
            *sections, name = key.split(".")
            d = doc
            for s in sections:
                d = d.setdefault(s, {}) if isinstance(d.get(s, {}), dict) else d
            d[name] = value
        return doc
    return st.one_of(key_values.map(nest), json_values)


def _toml(doc) -> str:
    import tomli_w
    try:
        return tomli_w.dumps(doc) if isinstance(doc, dict) else json.dumps(doc)
    except (TypeError, ValueError):
        return json.dumps(doc)


config_texts = st.one_of(
    st.tuples(st.just(".json"), _config_doc().map(json.dumps)),
    st.tuples(st.just(".toml"), _config_doc().map(_toml)),
    st.tuples(st.sampled_from([".json", ".toml"]), st.text(max_size=200)),
    st.tuples(st.sampled_from([".json", ".toml"]), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))


@FUZZ
@example(case=(".json", '{"name": ' + "[" * 5000 + "]" * 5000 + "}"), raw=False)
@example(case=(".toml", "name = " + "[" * 5000 + "]" * 5000), raw=False)
@example(case=(".json", '{"name": "caf\xe9"}'), raw=True)
@given(case=config_texts, raw=st.booleans())
def test_config_files(capsys, case, raw):
    suffix, text = case
    with tempfile.TemporaryDirectory() as tmp, cheap_trainers():
        path = Path(tmp) / f"config{suffix}"
        path.write_bytes(text.encode("latin-1", "replace") if raw else text.encode("utf-8", "surrogatepass"))
        run_cli(capsys, ["train", path, "--steps", "0", "--out", Path(tmp) / "run", *TINY])


csv_texts = st.one_of(
    st.lists(st.tuples(st.one_of(st.floats(-1e3, 1e3), st.floats(-1e7, 1e7)), st.floats(-1e3, 1e3)),
             min_size=1, max_size=8).map(
        lambda rows: "x,y\n" + "\n".join(f"{x!r},{y!r}" for x, y in rows)),
    st.text(alphabet="0123456789.,-+eE \t\n\r\"xyna", max_size=120),
    st.lists(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                                st.integers(-10 ** 8, 10 ** 8).map(str), st.text(max_size=4)),
                      min_size=0, max_size=4).map(",".join), max_size=8).map("\n".join))


@FUZZ
@example(text="1,2,3\n4,5,6", encoding="utf-8")
@example(text="x,y\n1,2", encoding="utf-16")
@example(text="x,y\n3e38,3e38", encoding="utf-8")
@given(text=csv_texts, encoding=st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "latin-1"]))
def test_csv_points(capsys, text, encoding):
    with tempfile.TemporaryDirectory() as tmp, cheap_trainers():
        path = Path(tmp) / "points.csv"
        path.write_bytes(text.encode(encoding, "replace"))
        run_cli(capsys, ["train", "ring8", "--steps", "0", "--out", Path(tmp) / "run", *TINY,
                         "--set=data.name=points", f"--set=data.path={path}"])


# -- .npy latents -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny 2-D run and a tiny image run (latent size 4), built once."""
    from gan_studio.core.presets import load_preset
    from gan_studio.core.runs import RunFolder
    from gan_studio.core.training.trainer import Trainer
    base = tmp_path_factory.mktemp("fuzz-runs")
    assert main(["train", "ring8", "--steps", "1", "--out", str(base / "points"), *TINY]) == 0
    cfg = load_preset("shapes")
    for key, value in {"data.image_size": 16, "data.num_images": 64, "model.latent_dim": LATENT,
                       "model.ngf": 4, "model.ndf": 4, "train.batch_size": 8, "train.eval_every": 10_000}.items():
        cfg.set(key, value)
    tr = Trainer(cfg, device="cpu")
    tr.step()
    RunFolder.create(base / "images", tr.cfg).save_checkpoint(tr)
    return base / "points", base / "images"


dtypes = st.one_of(hnp.floating_dtypes(), hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(),
                   hnp.complex_number_dtypes(), hnp.boolean_dtypes(), st.just(np.dtype("U3")),
                   st.just(np.dtype([("a", "<f4"), ("b", "<i2")])))
shapes = st.one_of(st.sampled_from([(LATENT,), (1, LATENT), (3, LATENT), (0, LATENT), (2, LATENT, 1, 1),
                                    (2, LATENT + 1), ()]),
                   hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
good_latents = hnp.arrays(np.float32, st.sampled_from([(LATENT,), (1, LATENT), (3, LATENT), (2, LATENT, 1, 1)]),
                          elements=st.floats(-3, 3, width=32))
arrays = st.one_of(good_latents, good_latents, dtypes.flatmap(lambda dt: shapes.flatmap(lambda sh: hnp.arrays(dt, sh))),
                   st.sampled_from(["object", "bytes", "empty-file", "npz", "nan"]))


def _save(path: Path, a) -> Path:
    if isinstance(a, np.ndarray):
        np.save(path, a)
    elif a == "object":
        np.save(path, np.array([{"x": 1}, None], dtype=object), allow_pickle=True)
    elif a == "bytes":
        path.write_bytes(b"\x93NUMPY\x01\x00garbage" * 3)
    elif a == "empty-file":
        path.write_bytes(b"")
    elif a == "npz":
        with open(path, "wb") as fh:
            np.savez(fh, z=np.zeros((2, LATENT)))
    else:
        np.save(path, np.full((2, LATENT), math.nan, np.float32))
    return path


@FUZZ
@example(z="empty-file", n=1)
@example(z="npz", n=1)
@example(z="object", n=1)
@example(z=np.ones((2, LATENT), np.complex64), n=1)
@example(z=np.zeros((0, LATENT), np.float32), n=1)
@given(z=arrays, n=st.sampled_from([1, 3]))
def test_sample_z(capsys, runs, z, n):
    points, images = runs
    with tempfile.TemporaryDirectory() as tmp:
        path = _save(Path(tmp) / "z.npy", z)
        for run, out in ((points, "s.npy"), (images, "s.png")):
            run_cli(capsys, ["sample", run, "--z", path, "--n", n, "--out", Path(tmp) / out])


@FUZZ
@example(a="empty-file", b="npz", c="object", analogy=False)
@example(a=np.ones((2, LATENT), np.complex64), b=np.zeros((0, LATENT)), c=np.ones(LATENT), analogy=True)
@given(a=arrays, b=arrays, c=arrays, analogy=st.booleans())
def test_latent_a(capsys, runs, a, b, c, analogy):
    _, images = runs
    with tempfile.TemporaryDirectory() as tmp:
        files = [_save(Path(tmp) / f"{n}.npy", v) for n, v in zip("abc", (a, b, c))]
        argv = ["latent", images, "--a", files[0], "--b", files[1], "--c", files[2], "--out", Path(tmp) / "o.png"]
        run_cli(capsys, argv + (["--analogy"] if analogy else []))
