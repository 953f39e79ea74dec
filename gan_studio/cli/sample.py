"""gan-studio sample DIR --n N [--seed S] [--z FILE.npy] [--scale S] [--latents-out Z.npy] --out FILE(.npy|.png)
gan-studio sample DIR --code K[,C1,..] | --traverse J  (InfoGAN runs: hold the codes, or vary one)"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from gan_studio.core.errors import ConfigError

#: most samples one call draws (--n or rows of --z); larger outputs are also capped by MAX_OUTPUT_BYTES
MAX_SAMPLES = 1_000_000
MAX_OUTPUT_BYTES = 2 * 1024 ** 3
#: images in the .png grid (16 x 16), its widest side in pixels, and the largest --scale
GRID_MOST = 256
MAX_GRID_PX = 8192
MAX_SCALE = 32


def add_parser(sub):
    p = sub.add_parser("sample", help="draw samples from a run's generator",
                       description="Write samples of a run's generator as .npy (2-D: float32 (N,2) in data "
                                   "coordinates; images: float32 (N,C,H,W) in [-1,1]) or as a .png picture.")
    p.add_argument("run_dir", metavar="DIR", help="a run folder")
    p.add_argument("--n", type=int, default=2500, help="number of samples (default 2500)")
    p.add_argument("--seed", type=int, default=0, help="seed of the latents (default 0)")
    p.add_argument("--z", metavar="FILE.npy", help="use these latents (N, latent) instead of random ones")
    p.add_argument("--label", help="conditional runs (model.family = cgan): draw every sample of this class, "
                                   "by index or name (default: balanced labels, one block of N/K per class)")
    p.add_argument("--code", metavar="K[,C1,C2..]",
                   help="runs whose generator takes codes (model.family = infogan): draw every sample with "
                        "categorical value K and, if given, these continuous codes (default: each categorical "
                        "value in turn, one block of N/K samples each, continuous codes 0)")
    p.add_argument("--traverse", type=int, metavar="J",
                   help="runs with codes: the InfoGAN paper's figure: one row per categorical value, continuous "
                        "code J (from 1) from -2 to 2 along each row (8 columns), one latent (the first of "
                        "--z, or drawn with --seed), the other continuous codes from --code or 0")
    p.add_argument("--device", default="cpu", help="device to sample on (default cpu)")
    p.add_argument("--trust-code", action="store_true",
                   help="run the run's TorchScript generator (model.arch = torchscript): it is a program, so it runs "
                        "only if you trust it; trust is remembered for the file's sha256")
    p.add_argument("--out", required=True, help="output file, .npy or .png")
    p.add_argument("--scale", type=int, metavar="S",
                   help="image runs' .png: enlarge each image S times, nearest neighbour (default: enough "
                        "for 64 px per image, e.g. 4 for 16 px digits)")
    p.add_argument("--latents-out", metavar="Z.npy",
                   help="also write the latents drawn, float32 (N, latent), in the order of the samples: row i "
                        "is the .npy's sample i and the .png's image i (row-major, left to right, top to "
                        "bottom), so that `gan-studio latent DIR --z Z.npy --a 3,7,12 ...` picks from the grid")
    return p


def load_latents(path: str, latent_dim: int) -> np.ndarray:
    """A float (N, latent) or (N, latent, 1, 1) array; never unpickles (allow_pickle=False)."""
    from gan_studio.core.latent import read_npy
    z = read_npy(path, f"--z {path}")
    if z.ndim == 4 and z.shape[2:] == (1, 1):
        z = z[:, :, 0, 0]
    if z.ndim == 1 and z.shape[0] == latent_dim:
        z = z[None]
    real = np.issubdtype(z.dtype, np.integer) or np.issubdtype(z.dtype, np.floating)
    if z.ndim != 2 or z.shape[1] != latent_dim or not real:
        raise ConfigError(f"--z {path}: expected shape (N, {latent_dim}) real numbers (integer or float), "
                          f"got {z.shape} {z.dtype}")
    if z.shape[0] == 0:
        raise ConfigError(f"--z {path}: holds no latents (shape {z.shape}); give at least one row")
    if z.shape[0] > MAX_SAMPLES:
        raise ConfigError(f"--z {path}: {z.shape[0]} latents; at most {MAX_SAMPLES:,} samples per call")
    from gan_studio.core.latent import finite_float32
    return finite_float32(z, f"--z {path}")


def run(args) -> int:
    import torch

    from gan_studio.core.errors import RunError
    from gan_studio.core.io import atomic_write_bytes, refuse_output_in_runs
    from gan_studio.core.render import grid_png, readable_scale, scatter_png
    from gan_studio.core.runs import trainer_from_run
    out = Path(args.out)
    if out.suffix not in (".npy", ".png"):
        raise ConfigError(f"--out {out}: the file must end in .npy or .png")
    if args.latents_out and Path(args.latents_out).suffix.lower() != ".npy":
        raise ConfigError(f"--latents-out {args.latents_out}: must end in .npy")
    if args.latents_out and Path(args.latents_out).resolve() == out.resolve():   # the latents would replace the samples
        raise ConfigError(f"--latents-out {args.latents_out} is the --out file; name another file for the latents")
    if args.scale is not None and not 1 <= args.scale <= MAX_SCALE:
        raise ConfigError(f"--scale = {args.scale}: must be between 1 and {MAX_SCALE}")
    if not args.z and not 1 <= args.n <= MAX_SAMPLES:
        raise ConfigError(f"--n = {args.n}: must be between 1 and {MAX_SAMPLES:,}")
    if not 0 <= args.seed <= 2 ** 63 - 1:   # train.seed's range; torch and numpy refuse what lies outside
        raise ConfigError(f"--seed = {args.seed}: must be between 0 and {2 ** 63 - 1}")
    refuse_output_in_runs([args.run_dir], ("--out", out), ("--latents-out", args.latents_out))
    tr, _ = trainer_from_run(args.run_dir, device=args.device, trust_code=args.trust_code,
                             needs_data=False)   # G draws without the pictures, wherever they went
    latent = tr.cfg.model.latent_dim
    if args.z:
        z = torch.from_numpy(load_latents(args.z, latent))
    else:
        z = torch.randn(args.n, latent, generator=torch.Generator().manual_seed(args.seed))
    grid_note = ""
    per_sample = 4 * int(np.prod(tr.data.shape))
    if len(z) * per_sample > MAX_OUTPUT_BYTES:
        most = MAX_OUTPUT_BYTES // per_sample
        raise ConfigError(f"{'--z' if args.z else '--n'}: {len(z):,} samples of shape {tuple(tr.data.shape)} "
                          f"need {len(z) * per_sample / 1024 ** 3:.1f} GiB; this run allows at most {most:,} "
                          f"per call ({MAX_OUTPUT_BYTES // 1024 ** 3} GiB)")
    nrow = None
    if args.code is not None or args.traverse is not None:
        x, nrow = _with_codes(tr, z, args.code, args.traverse)
        x = x.cpu()
    else:
        x = (tr.generate(z, labels=_label_index(tr, args.label)) if args.label is not None else tr.generate(z)).cpu()
        if args.label is not None and tr.class_names_note:   # drawn by index: the names are unknown here
            print(f"gan-studio sample: note: {tr.class_names_note}", file=sys.stderr)
    bad = int((~torch.isfinite(x)).flatten(1).any(1).sum()) if len(x) else 0
    if bad:
        raise RunError(f"the generator of {args.run_dir} drew {bad} of {len(x)} samples with NaN or infinite "
                       f"values (its weights are not finite?); nothing was written to {out}")
    if out.suffix == ".npy":
        import io
        buf = io.BytesIO()
        np.save(buf, x.numpy().astype(np.float32))
        atomic_write_bytes(out, buf.getvalue())
    elif tr.is_image:
        shown = x[:GRID_MOST]
        nrow = nrow or grid_columns(len(shown))
        scale = args.scale or readable_scale(max(x.shape[-2:]))
        scale = min(scale, max(1, MAX_GRID_PX // (nrow * (max(x.shape[-2:]) + 2))))   # a sane picture size
        atomic_write_bytes(out, grid_png(shown, nrow=nrow, scale=scale))
        rows = -(-len(shown) // nrow)
        grid_note = (f" ({rows} x {nrow} grid{', ' + str(scale) + 'x enlarged' if scale > 1 else ''}"
                     f"{f'; the first {GRID_MOST} of {len(x)}' if len(x) > GRID_MOST else ''})")
    else:
        means = tr.data.modes.cpu().numpy() if tr.data.modes is not None else None
        atomic_write_bytes(out, scatter_png(x.numpy(), None, means, bounds=tr.data.bounds(),
                                            title=f"{len(x)} samples, step {tr.step_count}"))
    if args.latents_out:
        from gan_studio.core.latent import save_latents_npy
        save_latents_npy(args.latents_out, z.numpy())
    print(f"wrote {len(x)} samples to {out}{grid_note}"
          + (f"; their latents to {args.latents_out} (row i = image i)" if args.latents_out else ""))
    return 0


def grid_columns(n: int) -> int:
    """Columns of the .png grid of n images: the square root rounded up, at most 16."""
    return int(min(16, max(1, n) ** 0.5 + 0.999))


def _with_codes(tr, z, code: str | None, traverse: int | None):
    """(samples, columns of a traversal or None) for --code / --traverse; one-line errors naming the option."""
    option = f"--code {code}" if code is not None else f"--traverse {traverse}"
    if not tr.FAMILY.has("codes"):
        raise ConfigError(f"{option}: this run's generator takes no codes (model.family = {tr.cfg.model.family!r}; "
                          f"only families with codes do, e.g. infogan)")
    k, c = tr.code_sizes
    values = None
    if code is not None:
        try:
            values = [float(v) for v in code.split(",")]
        except ValueError:
            raise ConfigError(f"--code {code!r}: expected numbers separated by commas, e.g. 3 or 3,0.5,-1") from None
        if len(values) not in (1, 1 + c):
            raise ConfigError(f"--code {code!r}: give the categorical value (0..{k - 1}) alone or with all {c} "
                              f"continuous codes, e.g. {','.join(['3'] + ['0.5'] * c)}")
        values += [0.0] * (1 + c - len(values))
    if traverse is not None and not 1 <= traverse <= c:   # J's own error, named by J (not by --code beside it)
        raise ConfigError(f"--traverse {traverse}: " + (f"code {traverse} is not a continuous code of this run; "
                                                          f"choose 1..{c}" if c else
                                                          "this run has no continuous codes (infogan.continuous = 0)"))
    try:
        if traverse is not None:
            return tr.traversal(z[:1], traverse, fixed=None if values is None else values[1:])
        return tr.generate(z, values), None
    except ConfigError as e:
        raise ConfigError(f"{option}: {str(e).removeprefix('codes: ')}") from None


def _label_index(tr, text: str) -> int:
    """--label as a class index of a conditional run's generator (one that takes labels)."""
    if not tr.FAMILY.has("labels"):
        raise ConfigError(f"--label {text}: this run's generator takes no label (model.family = "
                          f"{tr.cfg.model.family!r}; only families that draw a chosen class do, e.g. cgan)")
    names = list(tr.class_names)
    if text in names:
        return names.index(text)
    if text.isascii() and text.isdigit() and int(text) < len(names):   # "²".isdigit(), but int("²") fails
        return int(text)
    if tr.class_names_note:
        raise ConfigError(f"--label {text!r} is not a class of this run; choose an index 0..{len(names) - 1}: "
                          f"{tr.class_names_note}")
    raise ConfigError(f"--label {text!r} is not a class of this run; choose an index 0..{len(names) - 1} "
                      f"or one of: {', '.join(names)}")
