"""gan-studio latent DIR --a A.npy --b B.npy --c C.npy --out FILE.png  |  --interpolate FROM.npy TO.npy"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gan_studio.core.config import ConfigError

DESCRIPTION = """\
Latent arithmetic and interpolation on a run's generator, as in the window's latent lab.

Arithmetic (DCGAN, Radford et al. 2015): each of --a, --b, --c is a .npy file of latents, float32
(N, latent_dim) or (N, latent_dim, 1, 1); each group is averaged, and mean(A) - mean(B) + mean(C) is
drawn in the middle of a 3x3 grid with 8 neighbours (uniform noise of +-RADIUS around it, seeded).
With --analogy, a grid of rows mean(A) : mean(B) :: C_i : mean(A) - mean(B) + C_i, one row per C.

Interpolation: --interpolate FROM.npy TO.npy (each averaged), or one file of exactly two rows; a
strip of --steps images, slerp by default (Gaussian latents), --linear for a straight line.

Directions: --direction NAME --to Z.npy [--strength S] applies a direction saved with the run (the
latent lab's 'Save direction', kept in DIR/latent_directions.json): top row the latents of --to,
bottom row each moved by S x the direction.

--latents-out writes the latents that were drawn, so a picture can be reproduced or refined."""

EPILOG = """\
examples:
  gan-studio latent runs/shapes --a red_circle.npy --b red_square.npy --c blue_square.npy --out result.png
  gan-studio latent runs/shapes --interpolate z0.npy z1.npy --steps 10 --linear --out strip.png
  gan-studio latent runs/shapes --direction "square to circle" --to z.npy --strength 1.5 --out moved.png"""


def add_parser(sub):
    import argparse
    p = sub.add_parser("latent", help="latent arithmetic and interpolation on a run's generator",
                       description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="DIR", help="a run folder (trained here or imported)")
    p.add_argument("--a", metavar="Z.npy", help="latents of group A")
    p.add_argument("--b", metavar="Z.npy", help="latents of group B (subtracted)")
    p.add_argument("--c", metavar="Z.npy", help="latents of group C")
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
    return p


def _plan(args, latent_dim: int):
    """(latents (N, D), columns of the picture) from the arguments; all input checked first."""
    from gan_studio.core import latent as L
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
        targets = L.load_latents_npy(args.to, latent_dim, f"--to {args.to}")[:64]
        moved = L.apply_direction(targets, saved[args.direction].vector, args.strength)
        return np.concatenate([targets, moved]), len(targets)
    if args.interpolate:
        if any(groups) or args.analogy:
            raise ConfigError("--interpolate cannot be combined with --a/--b/--c/--analogy: run them separately")
        if len(args.interpolate) > 2:
            raise ConfigError(f"--interpolate takes FROM.npy TO.npy or one file of two rows, "
                              f"got {len(args.interpolate)} files")
        if args.steps < 2 or args.steps > 256:
            raise ConfigError(f"--steps = {args.steps}: must be between 2 and 256")
        if len(args.interpolate) == 2:
            z0 = L.group_mean(L.load_latents_npy(args.interpolate[0], latent_dim, f"--interpolate {args.interpolate[0]}"))
            z1 = L.group_mean(L.load_latents_npy(args.interpolate[1], latent_dim, f"--interpolate {args.interpolate[1]}"))
        else:
            both = L.load_latents_npy(args.interpolate[0], latent_dim, f"--interpolate {args.interpolate[0]}")
            if len(both) != 2:
                raise ConfigError(f"--interpolate {args.interpolate[0]}: one file must hold exactly 2 latents "
                                  f"(got {len(both)}); or give two files")
            z0, z1 = both
        z = L.interpolate(z0, z1, args.steps, "linear" if args.linear else "slerp")
        return z, args.steps
    if not all(groups):
        missing = [f"--{n}" for n, g in zip("abc", groups) if not g]
        raise ConfigError(f"give --a, --b and --c (missing {', '.join(missing)}), or --interpolate")
    a, b, c = (L.load_latents_npy(path, latent_dim, f"--{n} {path}") for n, path in zip("abc", groups))
    if args.analogy:
        return L.analogy_grid(a, b, c), L.ANALOGY_COLUMNS
    radius = L.NEIGHBOUR_RADIUS if args.radius is None else args.radius
    if not (0 <= radius < 100):
        raise ConfigError(f"--radius = {args.radius}: must be >= 0 and < 100")
    return L.result_grid(a, b, c, seed=args.seed, radius=radius), 3


def run(args) -> int:
    from gan_studio.core import latent as L
    from gan_studio.core.render import grid_png
    from gan_studio.core.runs import atomic_write_bytes, trainer_from_run
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out {out}: the picture must be a .png file")
    if args.latents_out and Path(args.latents_out).suffix.lower() != ".npy":
        raise ConfigError(f"--latents-out {args.latents_out}: must end in .npy")
    tr, _ = trainer_from_run(args.run_dir, device=args.device, trust_code=args.trust_code)
    if not tr.is_image:
        raise ConfigError(f"{args.run_dir} is a 2-D run: latent arithmetic draws images, it needs an image run")
    z, columns = _plan(args, tr.cfg.model.latent_dim)
    images = L.render_latents(tr, z)
    atomic_write_bytes(out, grid_png(images, nrow=columns))
    if args.latents_out:
        L.save_latents_npy(args.latents_out, z)
    what = ("direction rows" if args.direction else "interpolation strip" if args.interpolate
            else "analogy grid" if args.analogy else "result grid")
    print(f"wrote the {what} ({len(z)} images, step {tr.step_count}) to {out}")
    return 0
