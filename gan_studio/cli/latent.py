"""gan-studio latent DIR --a A.npy --b B.npy --c C.npy --out FILE.png  |  --interpolate FROM.npy TO.npy
gan-studio latent DIR --z Z.npy --a 3,7,12 --b 1,2 --c 5 --out FILE.png  (rows of Z.npy by index)"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from gan_studio.core.errors import ConfigError

DESCRIPTION = """\
Latent arithmetic and interpolation on a run's generator, as in the window's latent lab.

Arithmetic (DCGAN, Radford et al. 2015): each of --a, --b, --c is a .npy file of latents, float32
(N, latent_dim) or (N, latent_dim, 1, 1), or, with --z Z.npy, indices of its rows ("3,7,12");
each group is averaged, and mean(A) - mean(B) + mean(C) is drawn in the middle of a 3x3 grid with
8 neighbours (uniform noise of +-RADIUS around it, seeded), beside the columns A, B and C (the
images of the three means). With --analogy, a grid of rows
mean(A) : mean(B) :: C_i : mean(A) - mean(B) + C_i, one row per C, its columns labelled.

Picking from a sample grid: `gan-studio sample DIR --n 64 --out grid.png --latents-out Z.npy`
writes image i of the grid (row-major: left to right, then top to bottom, from 0) and row i of
Z.npy; then `--z Z.npy --a 3,7,12` means the latents of images 3, 7 and 12.

Interpolation: --interpolate FROM.npy TO.npy (each averaged), or one file of exactly two rows; a
strip of --steps images, slerp by default (Gaussian latents), --linear for a straight line.

Directions: --direction NAME --to Z.npy [--strength S] applies a direction saved with the run (the
latent lab's 'Save direction', kept in DIR/latent_directions.json): top row the latents of --to,
bottom row each moved by S x the direction.

--latents-out writes the latents that were drawn, so a picture can be reproduced or refined.
Small images are enlarged to at least 64 px each (nearest neighbour; --scale S to choose)."""

EPILOG = """\
examples:
  gan-studio latent runs/shapes --a red_circle.npy --b red_square.npy --c blue_square.npy --out result.png
  gan-studio sample runs/shapes --n 64 --out grid.png --latents-out z.npy
  gan-studio latent runs/shapes --z z.npy --a 3,7,12 --b 1,2 --c 5,9 --analogy --out analogy.png
  gan-studio latent runs/shapes --interpolate z0.npy z1.npy --steps 10 --linear --out strip.png
  gan-studio latent runs/shapes --direction "square to circle" --to z.npy --strength 1.5 --out moved.png"""


def add_parser(sub):
    import argparse
    p = sub.add_parser("latent", help="latent arithmetic and interpolation on a run's generator",
                       description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="DIR", help="a run folder (trained here or imported)")
    p.add_argument("--a", metavar="Z.npy|I,J,..", help="latents of group A: a .npy file, or row indices of --z")
    p.add_argument("--b", metavar="Z.npy|I,J,..", help="latents of group B (subtracted)")
    p.add_argument("--c", metavar="Z.npy|I,J,..", help="latents of group C")
    p.add_argument("--z", metavar="Z.npy",
                   help="latents to pick from by index (e.g. `gan-studio sample --latents-out`): "
                        "--a 3,7,12 means rows 3, 7 and 12 (also for --interpolate and --to)")
    p.add_argument("--analogy", action="store_true",
                   help="draw A : B :: C : ? for each row of --c instead of the 3x3 grid of mean(C)")
    p.add_argument("--interpolate", nargs="+", metavar="Z.npy",
                   help="interpolate between two latents: FROM.npy TO.npy, or one file with two rows")
    p.add_argument("--direction", metavar="NAME", help="a direction saved with the run (see --to, --strength)")
    p.add_argument("--to", metavar="Z.npy", help="with --direction: the latents to move")
    p.add_argument("--strength", type=float, default=1.0, help="with --direction: how far to move (default 1)")
    p.add_argument("--steps", type=int, default=8, help="images in the interpolation strip (default 8)")
    p.add_argument("--linear", action="store_true", help="interpolate on a straight line instead of slerp")
    p.add_argument("--seed", type=int, default=0, help="seed of the 8 neighbours' noise (default 0)")
    p.add_argument("--radius", type=float, default=None,
                   help="half-width of the neighbours' uniform noise (default 0.25, as in DCGAN)")
    p.add_argument("--device", default="cpu", help="device to draw on (default cpu)")
    p.add_argument("--trust-code", action="store_true",
                   help="run the run's TorchScript generator (model.arch = torchscript): it is a program, so it runs "
                        "only if you trust it; trust is remembered for the file's sha256")
    p.add_argument("--out", required=True, metavar="FILE.png", help="the picture to write (.png)")
    p.add_argument("--latents-out", metavar="FILE.npy", help="also write the drawn latents (float32 (N, latent))")
    p.add_argument("--scale", type=int, metavar="S",
                   help="enlarge each image S times, nearest neighbour (default: enough for 64 px per image)")
    return p


#: row indices of --z ("3,7,12"), negative ones too ("-1"): refused as out of range, not looked for as a file
_INDICES = re.compile(r"\s*-?\d+(\s*,\s*-?\d+)*\s*,?\s*")
MAX_SCALE = 32


class _Latents:
    """Latents named on the command line: a .npy file, or row indices of --z ("3,7,12")."""

    def __init__(self, args, latent_dim: int):
        self.args, self.latent_dim, self._z = args, latent_dim, None

    def __call__(self, spec: str, what: str) -> np.ndarray:
        from gan_studio.core import latent as L
        if not _INDICES.fullmatch(spec) or Path(spec).exists():
            return L.load_latents_npy(spec, self.latent_dim, what)
        picks = [int(t) for t in spec.replace(" ", "").split(",") if t]
        if min(picks) < 0:   # Python's "from the end" would pick a latent nobody pointed at
            rows = f" (rows 0..{len(self._rows()) - 1} of --z {self.args.z})" if self.args.z else ""
            raise ConfigError(f"{what}: index {min(picks)} is out of range: indices count from 0, the first "
                              f"latent{rows}; or give a .npy file of latents")
        if not self.args.z:
            raise ConfigError(f"{what}: indices need --z Z.npy, the latents they index (e.g. from "
                              f"`gan-studio sample DIR --latents-out Z.npy`)")
        z = self._rows()
        bad = [i for i in picks if i >= len(z)]
        if bad:
            raise ConfigError(f"{what}: index {bad[0]} is past the end of --z {self.args.z} "
                              f"({len(z)} latents: 0..{len(z) - 1})")
        return z[picks]

    def _rows(self) -> np.ndarray:
        """The latents of --z, read once."""
        from gan_studio.core import latent as L
        if self._z is None:
            self._z = L.load_latents_npy(self.args.z, self.latent_dim, f"--z {self.args.z}")
        return self._z


def _plan(args, latent_dim: int):
    """(latents (N, D), columns of the picture, the group means A, B, C of the arithmetic figure or
    None) from the arguments; all input checked first."""
    from gan_studio.core import latent as L
    load = _Latents(args, latent_dim)
    groups = [args.a, args.b, args.c]
    if args.direction is not None or args.to:
        if any(groups) or args.analogy or args.interpolate:
            raise ConfigError("--direction cannot be combined with --a/--b/--c/--interpolate: run them separately")
        if not (args.direction and args.to):
            raise ConfigError("--direction NAME and --to Z.npy go together")
        saved = {d.name: d for d in L.load_directions(args.run_dir, latent_dim)}
        if args.direction not in saved:
            known = ", ".join(repr(n) for n in saved) or "none saved yet (use the window's latent lab)"
            raise ConfigError(f"--direction {args.direction!r}: not saved with this run; saved: {known}")
        targets = load(args.to, f"--to {args.to}")[:64]
        try:
            moved = L.apply_direction(targets, saved[args.direction].vector, args.strength)
        except ConfigError as e:   # "strength = 1e+39: ...", said of the option
            raise ConfigError(f"--{e}") from None
        return np.concatenate([targets, moved]), len(targets), None
    if args.interpolate:
        if any(groups) or args.analogy:
            raise ConfigError("--interpolate cannot be combined with --a/--b/--c/--analogy: run them separately")
        if len(args.interpolate) > 2:
            raise ConfigError(f"--interpolate takes FROM.npy TO.npy or one file of two rows, "
                              f"got {len(args.interpolate)} files")
        if args.steps < 2 or args.steps > 256:
            raise ConfigError(f"--steps = {args.steps}: must be between 2 and 256")
        if len(args.interpolate) == 2:
            z0 = L.group_mean(load(args.interpolate[0], f"--interpolate {args.interpolate[0]}"))
            z1 = L.group_mean(load(args.interpolate[1], f"--interpolate {args.interpolate[1]}"))
        else:
            both = load(args.interpolate[0], f"--interpolate {args.interpolate[0]}")
            if len(both) != 2:
                raise ConfigError(f"--interpolate {args.interpolate[0]}: one file must hold exactly 2 latents "
                                  f"(got {len(both)}); or give two files")
            z0, z1 = both
        z = L.interpolate(z0, z1, args.steps, "linear" if args.linear else "slerp")
        return z, args.steps, None
    if not all(groups):
        missing = [f"--{n}" for n, g in zip("abc", groups) if not g]
        raise ConfigError(f"give --a, --b and --c (missing {', '.join(missing)}), or --interpolate")
    a, b, c = (load(path, f"--{n} {path}") for n, path in zip("abc", groups))
    if args.analogy:
        return L.analogy_grid(a, b, c), L.ANALOGY_COLUMNS, None
    radius = L.NEIGHBOUR_RADIUS if args.radius is None else args.radius
    if not (0 <= radius < 100):
        raise ConfigError(f"--radius = {args.radius}: must be >= 0 and < 100")
    means = np.stack([L.group_mean(a), L.group_mean(b), L.group_mean(c)])
    return L.result_grid(a, b, c, seed=args.seed, radius=radius), 3, means


def run(args) -> int:
    from gan_studio.core import latent as L
    from gan_studio.core.io import atomic_write_bytes, refuse_output_in_runs
    from gan_studio.core.render import grid_png, readable_scale
    from gan_studio.core.runs import trainer_from_run
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out {out}: the picture must be a .png file")
    if args.latents_out and Path(args.latents_out).suffix.lower() != ".npy":
        raise ConfigError(f"--latents-out {args.latents_out}: must end in .npy")
    if args.scale is not None and not 1 <= args.scale <= MAX_SCALE:
        raise ConfigError(f"--scale = {args.scale}: must be between 1 and {MAX_SCALE}")
    if not 0 <= args.seed <= 2 ** 63 - 1:   # train.seed's range; torch and numpy refuse what lies outside
        raise ConfigError(f"--seed = {args.seed}: must be between 0 and {2 ** 63 - 1}")
    refuse_output_in_runs([args.run_dir], ("--out", out), ("--latents-out", args.latents_out))
    tr, _ = trainer_from_run(args.run_dir, device=args.device, trust_code=args.trust_code,
                             needs_data=False)   # G draws without the pictures, wherever they went
    if not tr.is_image:
        raise ConfigError(f"{args.run_dir} is a 2-D run: latent arithmetic draws images, it needs an image run")
    z, columns, means = _plan(args, tr.cfg.model.latent_dim)
    drawn = L.render_latents(tr, z if means is None else np.concatenate([z, means]))
    images, labels, separators = drawn, None, None
    if args.analogy:            # A : B :: C : A - B + C
        labels, separators = ANALOGY_LABELS, ANALOGY_SEPARATORS
    elif means is not None:     # A - B + C = the 3x3 result grid, its centre the arithmetic's result
        images, columns = arithmetic_figure(drawn[:len(z)], drawn[len(z):]), 6
        labels, separators = ARITHMETIC_LABELS, ARITHMETIC_SEPARATORS
    scale = args.scale or readable_scale(max(images.shape[-2:]))
    atomic_write_bytes(out, grid_png(images, nrow=columns, scale=scale, column_labels=labels,
                                     separators=separators))
    if args.latents_out:
        L.save_latents_npy(args.latents_out, z)
    what = ("direction rows" if args.direction else "interpolation strip" if args.interpolate
            else "analogy grid" if args.analogy else "result grid")
    print(f"wrote the {what} ({len(z)} images, step {tr.step_count}) to {out}")
    return 0


#: the analogy grid's columns and what stands between them: A : B :: C : A - B + C
ANALOGY_LABELS = ("A", "B", "C", "A - B + C")
ANALOGY_SEPARATORS = (":", "::", ":")
#: the arithmetic figure: the images of mean(A), mean(B), mean(C), then the 3x3 result grid
ARITHMETIC_LABELS = ("A", "B", "C", "", "A - B + C", "")
ARITHMETIC_SEPARATORS = ("-", "+", "=")


def arithmetic_figure(result, means):
    """The arithmetic as one 3 x 6 grid, row-major: G(mean A), G(mean B), G(mean C) in the middle
    row of the first three columns (blank, white, above and below), the 3x3 result grid beside."""
    import torch
    blank = torch.ones_like(result[0])
    tiles = []
    for r in range(3):
        tiles += [means[i] if r == 1 else blank for i in range(3)]
        tiles += list(result[3 * r:3 * r + 3])
    return torch.stack(tiles)
