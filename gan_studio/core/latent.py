"""Latent arithmetic and interpolation (DCGAN, Radford et al. 2015, Fig. 7; slerp after White 2016).

All latents here are float32 numpy arrays, ``(N, latent_dim)`` or one ``(latent_dim,)`` vector, so the
window, the CLI and the benchmark share one implementation and the window can keep latents while
the Trainer moves on. :func:`render_latents` is the only function that touches a Trainer; call it in
the Trainer's thread (the CLI's main thread, or the worker through ``call``).

Named directions are kept with the run in ``RUN/latent_directions.json`` (plain JSON, written
atomically, validated on loading: a file never makes the studio run code).
"""
from __future__ import annotations

import io
import json
import math
import reprlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gan_studio.core.errors import ConfigError, RunError
from gan_studio.core.io import atomic_write_bytes, atomic_write_text

#: DCGAN Fig. 7: the result is shown with 8 neighbours made by uniform noise of this half-width
NEIGHBOUR_RADIUS = 0.25
NEIGHBOURS = 8
#: in a 3x3 grid the arithmetic result sits in the middle, its 8 neighbours around it
CENTRE = 4
DIRECTIONS_FILE = "latent_directions.json"
DIRECTIONS_FORMAT = "gan-studio-latent-directions/1"
MAX_NAME = 80


# -- checking latents ------------------------------------------------------------------------------
def as_latents(z, latent_dim: int, what: str = "latents") -> np.ndarray:
    """``z`` as float32 (N, latent_dim); (N, latent_dim, 1, 1) and one (latent_dim,) vector are
    accepted. Wrong shapes, non-numbers and NaN/inf raise ConfigError naming ``what``."""
    arr = np.asarray(z)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ConfigError(f"{what}: expected numbers, got dtype {arr.dtype}")
    if arr.ndim == 4 and arr.shape[2:] == (1, 1):
        arr = arr[:, :, 0, 0]
    if arr.ndim == 1 and arr.shape[0] == latent_dim:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != latent_dim or arr.shape[0] == 0:
        raise ConfigError(f"{what}: expected shape (N, {latent_dim}) with N >= 1 (this generator's "
                          f"latent size is {latent_dim}), got {tuple(arr.shape)}")
    return finite_float32(arr, what)


def finite_float32(arr: np.ndarray, what: str) -> np.ndarray:
    """Real numbers ``arr`` as float32, or ConfigError naming ``what``: NaN or infinite values, or
    values beyond float32's range (said in words, not as numpy's overflow warning on stderr)."""
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ConfigError(f"{what}: holds NaN or infinite values")
    with np.errstate(over="ignore"):
        arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise ConfigError(f"{what}: holds values beyond float32's range (about 3.4e38)")
    return arr


def read_npy(path: str | Path, what: str) -> np.ndarray:
    """The one array of a .npy file, never unpickled (allow_pickle=False); a ConfigError naming
    ``what`` for a missing file, a folder, an .npz archive, a file that is no .npy at all (numpy's
    own word for that is "pickled data ... load it unsafely", which is neither true nor advice to
    give) or one it cannot read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(NPY_MAGIC))
    except FileNotFoundError:
        raise ConfigError(f"{what}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{what}: is a folder, not a .npy file") from None
    except OSError as e:
        raise ConfigError(f"{what}: cannot be read ({e.strerror or type(e).__name__})") from None
    if head.startswith(b"PK"):   # a zip: numpy.savez's archive of several arrays
        raise ConfigError(f"{what}: an .npz archive of several arrays, not a single .npy array; save one "
                          "array with numpy.save")
    if head != NPY_MAGIC:
        raise ConfigError(f"{what}: not a .npy file (it does not start with NumPy's header); write latents "
                          "with numpy.save, or with --latents-out of `gan-studio sample`")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:   # cut short, a bad header, an array of Python objects
        first = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise ConfigError(f"{what}: not a plain .npy array ({first})") from None


#: the first bytes of every .npy file (numpy.lib.format.MAGIC_PREFIX)
NPY_MAGIC = b"\x93NUMPY"


def load_latents_npy(path: str | Path, latent_dim: int, what: str | None = None) -> np.ndarray:
    """A plain .npy array of latents; never unpickles (allow_pickle=False)."""
    what = what or str(path)
    return as_latents(read_npy(path, what), latent_dim, what)


def latents_npy_bytes(z: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(z, dtype=np.float32))
    return buf.getvalue()


def save_latents_npy(path: str | Path, z: np.ndarray) -> None:
    atomic_write_bytes(path, latents_npy_bytes(z))


# -- arithmetic --------------------------------------------------------------------------------------
def group_mean(z: np.ndarray) -> np.ndarray:
    """The mean latent of a group (DCGAN averages three samples per concept: one sample is noisy)."""
    z = np.asarray(z, dtype=np.float32)
    if z.ndim == 1:
        return z.copy()
    if len(z) == 0:
        raise ConfigError("a group needs at least one latent")
    return z.mean(0, dtype=np.float64).astype(np.float32)


def arithmetic(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """mean(A) - mean(B) + mean(C), one (latent_dim,) vector."""
    return (group_mean(a).astype(np.float64) - group_mean(b) + group_mean(c)).astype(np.float32)


def neighbours(centre: np.ndarray, n: int = NEIGHBOURS, radius: float = NEIGHBOUR_RADIUS,
               seed: int = 0) -> np.ndarray:
    """(n, D): ``centre`` plus independent uniform noise in [-radius, radius] per coordinate."""
    centre = np.asarray(centre, dtype=np.float32).reshape(-1)
    noise = np.random.default_rng(seed).uniform(-radius, radius, size=(n, centre.shape[0]))
    return (centre[None] + noise).astype(np.float32)


def result_grid(a: np.ndarray, b: np.ndarray, c: np.ndarray, seed: int = 0,
                radius: float = NEIGHBOUR_RADIUS) -> np.ndarray:
    """(9, D) latents of the 3x3 result grid: the arithmetic result at ``CENTRE``, neighbours around.

    The same seed gives the same neighbours, so re-rendering while G trains shows the same points.
    """
    centre = arithmetic(a, b, c)
    around = neighbours(centre, NEIGHBOURS, radius, seed)
    return np.concatenate([around[:CENTRE], centre[None], around[CENTRE:]])


def analogy_grid(a: np.ndarray, b: np.ndarray, cs: np.ndarray) -> np.ndarray:
    """A : B :: C : ? for several C's: rows of [mean(A), mean(B), C_i, mean(A) - mean(B) + C_i],
    as (4 * len(cs), D) in row order (a grid with 4 columns)."""
    ma, mb = group_mean(a), group_mean(b)
    cs = np.asarray(cs, dtype=np.float32).reshape(-1, ma.shape[0])
    rows = [np.stack([ma, mb, c_i, (ma.astype(np.float64) - mb + c_i).astype(np.float32)]) for c_i in cs]
    return np.concatenate(rows).astype(np.float32)


ANALOGY_COLUMNS = 4


# -- interpolation -----------------------------------------------------------------------------------
def lerp(z0: np.ndarray, z1: np.ndarray, t: np.ndarray) -> np.ndarray:
    z0, z1 = np.asarray(z0, np.float64).reshape(-1), np.asarray(z1, np.float64).reshape(-1)
    t = np.asarray(t, np.float64).reshape(-1, 1)
    return ((1 - t) * z0 + t * z1).astype(np.float32)


def slerp(z0: np.ndarray, z1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation: along the great circle between the directions of z0 and z1.

    A Gaussian latent of high dimension lies near the sphere of radius sqrt(D); the straight line
    between two of them passes closer to the origin (the midpoint of two independent ones has about
    0.71 of their norm), where G saw no training latents. With equal norms, slerp keeps the norm.
    """
    z0, z1 = np.asarray(z0, np.float64).reshape(-1), np.asarray(z1, np.float64).reshape(-1)
    t = np.asarray(t, np.float64).reshape(-1, 1)
    n0, n1 = np.linalg.norm(z0), np.linalg.norm(z1)
    if n0 == 0 or n1 == 0:
        return lerp(z0, z1, t)
    cos = float(np.clip(np.dot(z0 / n0, z1 / n1), -1.0, 1.0))
    omega = math.acos(cos)
    if math.sin(omega) < 1e-6:  # (anti)parallel: the great circle is not defined, the line is fine
        return lerp(z0, z1, t)
    s = math.sin(omega)
    return (np.sin((1 - t) * omega) / s * z0 + np.sin(t * omega) / s * z1).astype(np.float32)


def interpolate(z0: np.ndarray, z1: np.ndarray, steps: int, method: str = "slerp") -> np.ndarray:
    """(steps, D) from z0 to z1, both ends included."""
    if steps < 2:
        raise ConfigError(f"steps = {steps}: an interpolation needs at least 2 images")
    if method not in ("slerp", "linear"):
        raise ConfigError(f"method = {method!r}: use 'slerp' or 'linear'")
    t = np.linspace(0.0, 1.0, steps)
    return (slerp if method == "slerp" else lerp)(z0, z1, t)


# -- directions ---------------------------------------------------------------------------------------
@dataclass
class Direction:
    """A named direction in latent space, e.g. mean(A) - mean(B) ('smiling' minus 'neutral')."""
    name: str
    vector: np.ndarray          # (D,) float32
    made_from: str = ""         # how it was made, for the person who reads the file later


def direction_between(name: str, a: np.ndarray, b: np.ndarray) -> Direction:
    return Direction(check_name(name), (group_mean(a).astype(np.float64) - group_mean(b)).astype(np.float32),
                     "mean(A) - mean(B)")


def apply_direction(z: np.ndarray, direction: np.ndarray, strength: float) -> np.ndarray:
    """z + strength * direction, for one latent or each row of many."""
    if not math.isfinite(strength):
        raise ConfigError(f"strength = {strength}: must be a finite number")
    moved = np.asarray(z, dtype=np.float64) + strength * np.asarray(direction, dtype=np.float64).reshape(-1)
    if not np.all(np.abs(moved) <= np.finfo(np.float32).max):   # infinite as float32 (and NaN beyond float64)
        raise ConfigError(f"strength = {strength}: moves the latents beyond float32's range; try a strength "
                          "between -10 and 10")
    return moved.astype(np.float32)


def check_name(name: str) -> str:
    name = str(name).strip()
    if not name:
        raise ConfigError("a direction needs a name")
    if len(name) > MAX_NAME:
        raise ConfigError(f"direction name {name[:20]!r}...: at most {MAX_NAME} characters")
    return name


def directions_path(run_path: str | Path) -> Path:
    return Path(run_path) / DIRECTIONS_FILE


def save_directions(run_path: str | Path, directions: list[Direction], latent_dim: int) -> Path:
    """Write all directions of a run at once (atomically: a crash leaves the old file whole)."""
    names = [check_name(d.name) for d in directions]
    if len(set(names)) != len(names):
        raise ConfigError("two directions have the same name")
    rows = []
    for d in directions:
        v = as_latents(d.vector, latent_dim, f"direction {d.name!r}")[0]
        rows.append({"name": d.name.strip(), "made_from": d.made_from, "vector": [float(x) for x in v]})
    doc = {"format": DIRECTIONS_FORMAT, "latent_dim": latent_dim, "directions": rows}
    path = directions_path(run_path)
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
    return path


def load_directions(run_path: str | Path, latent_dim: int) -> list[Direction]:
    """The run's saved directions ([] when there are none). A file that is not ours, does not fit
    this generator's latent size or holds non-finite numbers raises RunError with the reason."""
    path = directions_path(run_path)
    if not path.exists():
        return []

    def bad(why: str) -> RunError:
        return RunError(f"{path}: {why}")

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise bad("nested too deeply to be a directions file") from None
    except (OSError, ValueError) as e:   # unreadable, not UTF-8, not JSON, a 5,000-digit number
        first = str(e).splitlines()[0][:100] if str(e) else type(e).__name__
        raise bad(f"not readable JSON ({first})") from None
    if not isinstance(doc, dict) or doc.get("format") != DIRECTIONS_FORMAT:
        raise bad(f"not a GAN Studio directions file (format {DIRECTIONS_FORMAT} expected)")
    if doc.get("latent_dim") != latent_dim:
        raise bad(f"made for latent size {reprlib.repr(doc.get('latent_dim'))}, this generator's is {latent_dim}")
    rows = doc.get("directions")
    if not isinstance(rows, list):
        raise bad("'directions' must be a list")
    out, seen = [], set()
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            raise bad(f"direction {i} needs a 'name' string")
        name = row["name"].strip()
        if not name or len(name) > MAX_NAME or name in seen:
            raise bad(f"direction {i}: the name {name[:20]!r} is empty, too long or repeated")
        vec = row.get("vector")
        if (not isinstance(vec, list) or len(vec) != latent_dim
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vec)):
            raise bad(f"direction {name!r}: 'vector' must be a list of {latent_dim} numbers")
        try:
            arr = np.asarray(vec, dtype=np.float64)
        except OverflowError:   # an integer too large for a float
            raise bad(f"direction {name!r}: holds a number too large") from None
        if not np.isfinite(arr).all() or (np.abs(arr) > np.finfo(np.float32).max).any():
            raise bad(f"direction {name!r}: holds NaN or infinite values")
        made_from = row.get("made_from", "")
        seen.add(name)
        out.append(Direction(name, arr.astype(np.float32), made_from if isinstance(made_from, str) else ""))
    return out


# -- rendering ----------------------------------------------------------------------------------------
@torch.no_grad()
def render_latents(trainer, z: np.ndarray, reference: torch.Tensor | None = None, label=None) -> torch.Tensor:
    """G(z) on the CPU, (N, C, H, W) in [-1, 1], where each image depends on its own z only.

    A training DCGAN generator normalises with the statistics of its batch, so G(z) alone would
    depend on which other latents share the batch: the 9 near-identical latents of a result grid
    would normalise each other away. Here batch norm layers use the statistics of a fixed reference
    batch (the Trainer's ``fixed_z``, what the grid browser shows), which is what G sees in training.
    The model is left as it was: its running averages are restored and nothing is learned. With
    ``tricks.g_ema`` on, G is the moving average of its weights, as in ``Trainer.generate``.
    Call in the Trainer's thread.

    A conditional generator (cgan) draws every image with class ``label`` (an index), or with
    balanced class-major labels when it is None; StackGAN draws its grid's captions.
    """
    z_t = torch.from_numpy(as_latents(z, trainer.cfg.model.latent_dim)).to(trainer.device)
    if trainer.FAMILY.has("conditioned"):   # G takes a condition besides z (cgan, stackgan)
        with torch.no_grad():
            images = trainer.generate(z_t, label) if label is not None else trainer.generate(z_t)
        return images.float().cpu()
    with trainer.tricks.g_ema.averaged(trainer):   # the G the grid browser shows: the average when on
        return _render_plain(trainer, z_t, reference)


def _render_plain(trainer, z_t: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
    G = trainer.G
    bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
           and m.training and m.track_running_stats]
    if not bns:
        return torch.cat([G(chunk) for chunk in z_t.split(4096)]).float().cpu()
    ref = trainer.fixed_z if reference is None else reference.to(trainer.device)
    saved = [(m.momentum, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
             for m in bns]
    try:
        for m in bns:
            m.momentum = 1.0   # one forward pass leaves exactly the reference batch's statistics
        G(ref)
        for m in bns:
            m.eval()
        return torch.cat([G(chunk) for chunk in z_t.split(4096)]).float().cpu()
    finally:
        for m, (momentum, mean, var, count) in zip(bns, saved):
            m.train()
            m.momentum = momentum
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(count)
