"""LAPGAN on shapes: does each level of the pyramid add detail? Per-level residual statistics and D accuracy.

Trains the ``lapgan-shapes`` preset (8 -> 16 -> 32 px) and at every ``--eval-every`` steps prints,
per level: mean |residual| of real images and of G_l's (conditioned on real coarser images), and
D_l's accuracy / AUC telling them apart (0.5 = chance). At the end it measures what each level adds
to the final picture: the classifier Fréchet distance (fd_classifier, the 32 px shapes classifier)
of the samples composed up to level l and enlarged to 32 px, for l = 0, 1, 2. Writes the table to
docs/bench/lapgan-shapes.md (+ .csv) and the levels picture to docs/images/lapgan_levels.png.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_lapgan.py [--steps 2000] [--seed 0]
"""
from __future__ import annotations

import argparse
import csv
import io
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gan_studio.core.families.registry import make_trainer
from gan_studio.core.metrics.images import get_metric_model, image_report
from gan_studio.core.presets import load_preset
from gan_studio.core.render import grid_png

ROOT = Path(__file__).resolve().parents[1]


def levels_picture(tr, n_rows: int, path: Path) -> None:
    """One row per latent: x_0 | h_1 | x_1 | h_2 | x_2 (all at 32 px, residuals x3 around grey),
    with the column titles on top."""
    from PIL import Image, ImageDraw
    z = torch.randn(n_rows, tr.cfg.model.latent_dim, generator=torch.Generator().manual_seed(7))
    tiles, ncols, titles = tr.level_grid(z)
    grid = Image.open(io.BytesIO(grid_png(tiles, nrow=ncols))).convert("RGB")
    scale = 3
    grid = grid.resize((grid.width * scale, grid.height * scale), Image.NEAREST)
    head = 28
    out = Image.new("RGB", (grid.width, grid.height + head), "white")
    out.paste(grid, (0, head))
    draw = ImageDraw.Draw(out)
    col_w = grid.width / ncols
    for i, t in enumerate(titles):
        draw.text((i * col_w + 4, 4), t.replace(" (", "\n("), fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    out.save(path)


@torch.no_grad()
def fd_per_level(tr, n: int = 1000) -> list[float]:
    """fd_classifier of the samples composed up to level l, enlarged (bilinear) to the final size."""
    model = get_metric_model(tr.data)
    z = torch.randn(n, tr.cfg.model.latent_dim, generator=torch.Generator().manual_seed(9))
    images = tr.render_levels(z)
    S = tr.level_sizes[-1]
    out = []
    for x in images:
        big = x if x.shape[-1] == S else F.interpolate(x, size=(S, S), mode="bilinear", align_corners=False)
        out.append(image_report(model, big)["fd_classifier"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "docs" / "bench" / "lapgan-shapes"))
    ap.add_argument("--picture", default=str(ROOT / "docs" / "images" / "lapgan_levels.png"))
    args = ap.parse_args()
    torch.set_num_threads(1)

    cfg = load_preset("lapgan-shapes")
    cfg.set("train.seed", args.seed)
    cfg.set("train.device", "cpu")
    tr = make_trainer(cfg)
    get_metric_model(tr.data)  # train/load the classifier before the clock starts
    L = tr.num_levels
    cols = ["step"] + [f"lap{l}_{k}" for l in range(L) for k in
                       (("d_acc", "d_auc") if l == 0 else ("res_real", "res_fake", "d_acc", "d_auc"))]
    rows = []
    t0 = time.perf_counter()
    print(f"lapgan-shapes, seed {args.seed}, levels {tr.level_sizes}, {args.steps} steps")
    print("  ".join(f"{c:>12}" for c in cols))
    while tr.step_count < args.steps:
        tr.step()
        if tr.step_count % args.eval_every == 0 or tr.step_count == args.steps:
            stats = tr.level_stats(1000)
            row = {"step": tr.step_count, **{c: stats[c] for c in cols[1:]}}
            rows.append(row)
            print("  ".join(f"{row[c]:>12}" for c in cols), flush=True)
    train_s = time.perf_counter() - t0
    fds = fd_per_level(tr)
    final = tr.evaluate()
    print(f"trained in {train_s:.0f} s ({args.steps / train_s:.1f} steps/s)")
    for l, fd in enumerate(fds):
        print(f"  samples composed up to level {l} ({tr.level_sizes[l]} px, enlarged to {tr.level_sizes[-1]}): "
              f"fd_classifier {fd:.1f}")
    print(f"  final: classes_covered {final['classes_covered']}/12, confident {final['confident_pct']}%, "
          f"classifier_acc {final['classifier_acc']}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    md = [f"# LAPGAN on shapes: per-level statistics",
          "",
          f"`OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_lapgan.py --steps {args.steps} --seed {args.seed}` "
          f"(preset lapgan-shapes, levels {' -> '.join(map(str, tr.level_sizes))} px, CPU, {train_s:.0f} s of training).",
          "",
          "res_real / res_fake: mean |residual| of real images and of G_l's, both on real coarser images; "
          "d_acc: D_l's accuracy at its threshold, d_auc: P(D_l(real) > D_l(fake)); 0.5 = chance. "
          "1,000 images each.",
          "",
          "| " + " | ".join(cols) + " |",
          "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    md += ["", "What each level adds to the final picture (1,000 samples composed up to level l, enlarged "
               "bilinearly to the final size; fd_classifier from the studio's 32 px shapes classifier, lower is closer to real):",
           "", "| composed up to | fd_classifier |", "|---|---|"]
    md += [f"| level {l} ({tr.level_sizes[l]} px) | {fd:.1f} |" for l, fd in enumerate(fds)]
    md += ["", f"Final samples: classes_covered {final['classes_covered']}/12 (strict {final['classes_covered_strict']}), "
               f"confident_pct {final['confident_pct']}, fd_classifier {final['fd_classifier']}, "
               f"classifier_acc {final['classifier_acc']}.", ""]
    out.with_suffix(".md").write_text("\n".join(md))
    levels_picture(tr, 6, Path(args.picture))
    print(f"wrote {out.with_suffix('.md')}, {out.with_suffix('.csv')} and {args.picture}")


if __name__ == "__main__":
    main()
