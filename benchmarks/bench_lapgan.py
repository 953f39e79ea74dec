"""LAPGAN on shapes: does each level of the pyramid add detail? Per-level residual statistics and D accuracy.

Trains the ``lapgan-shapes`` preset (8 -> 16 -> 32 px) and at every ``--eval-every`` steps prints,
per level: mean |residual| of real images and of G_l's (conditioned on real coarser images), and
D_l's accuracy / AUC telling them apart (0.5 = chance). At the end it measures what each level adds
to the final picture: the classifier Fréchet distance (fd_classifier, the 32 px shapes classifier)
of the samples composed up to level l and enlarged to 32 px, for l = 0, 1, 2: per seed on ``--sets``
sets of ``--n`` latents (each set the same latents at every level), mean ± sd over the sets, and the
mean ± sd over the seeds. Writes the table to docs/bench/lapgan-shapes.md (+ .csv, the per-level
curves of every seed) and the first seed's levels picture to docs/images/lapgan_levels.png.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_lapgan.py [--steps 2000] [--seeds 0-2]

``--cache DIR`` keeps each seed's result, so seeds can be trained by separate processes and the
table put together by a last run with every seed.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
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


def enlarge(x: torch.Tensor, size: int) -> torch.Tensor:
    return x if x.shape[-1] == size else F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


@torch.no_grad()
def fd_per_level(tr, n: int = 1000, seed: int = 9, classifier: int = 0) -> list[float]:
    """fd_classifier of the samples composed up to level l, enlarged (bilinear) to the final size; one
    set of n latents, the same for every level. ``classifier``: the seed of the classifier whose
    features it uses (0: the studio's own, the one fd_classifier always means)."""
    model = get_metric_model(tr.data, seed=classifier)
    z = torch.randn(n, tr.cfg.model.latent_dim, generator=torch.Generator().manual_seed(seed))
    S = tr.level_sizes[-1]
    return [image_report(model, enlarge(x, S))["fd_classifier"] for x in tr.render_levels(z)]


@torch.no_grad()
def fd_real_levels(data, levels: int, n: int = 1000, seed: int = 5, classifier: int = 0) -> list[float]:
    """The same measure for real images: their pyramid's level l enlarged to the final size (the best
    each row of the level table can reach)."""
    from gan_studio.core.families.lapgan import laplacian_pyramid
    model = get_metric_model(data, seed=classifier)
    images, _ = laplacian_pyramid(data.sample(n, torch.Generator().manual_seed(seed)), levels)
    return [image_report(model, enlarge(x, images[-1].shape[-1]))["fd_classifier"] for x in images]


@torch.no_grad()
def fd_on_real_coarse(tr, n: int = 1000, seed: int = 5) -> list[float]:
    """fd_classifier of the finer levels drawn on *real* coarse images, as they are trained: for each
    level l < L, real x_l composed up to the final level by G_{l+1}, ..., G_L (then enlarged); G as it
    samples (with tricks.g_ema, the moving average)."""
    from gan_studio.core.families.lapgan import laplacian_pyramid, up
    model = get_metric_model(tr.data)
    g = torch.Generator().manual_seed(seed)
    images, _ = laplacian_pyramid(tr.data.sample(n, g), tr.num_levels)
    z = torch.randn(n, tr.cfg.model.latent_dim, generator=g)
    tr.G.eval()
    try:
        out = []
        with tr.tricks.g_ema.averaged(tr):   # G as it samples: its moving average with tricks.g_ema on
            for start in range(tr.num_levels - 1):
                x = images[start]
                for level in tr.G.levels[start + 1:]:
                    cond = up(x)
                    x = (cond + level(z, cond)).clamp(-1, 1)
                out.append(image_report(model, x)["fd_classifier"])
        return out
    finally:
        tr.G.train()


def mean_sd(values) -> tuple[float, float]:
    v = [float(x) for x in values]
    m = sum(v) / len(v)
    sd = (sum((x - m) ** 2 for x in v) / (len(v) - 1)) ** 0.5 if len(v) > 1 else 0.0
    return m, sd


def parse_seeds(text: str) -> list[int]:
    """'0-2' -> [0, 1, 2]; '0,3,5' -> [0, 3, 5]."""
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def train_seed(args, seed: int) -> dict:
    """Train the preset on one seed; the per-level curves, the level table's fd_classifier sets, the
    final D AUCs and image metrics."""
    cfg = load_preset(args.preset)
    cfg.set("train.seed", seed)
    cfg.set("train.device", "cpu")
    for kv in args.set:
        key, _, value = kv.partition("=")
        cfg.set(key, json.loads(value) if value[:1] in "0123456789-[{tf\"" else value)
    tr = make_trainer(cfg)
    get_metric_model(tr.data)  # train/load the classifier before the clock starts
    L = tr.num_levels
    cols = curve_columns(L)
    rows = []
    t0 = time.perf_counter()
    print(f"{args.preset}, seed {seed}, levels {tr.level_sizes}, {args.steps} steps")
    print("  ".join(f"{c:>12}" for c in cols))
    while tr.step_count < args.steps:
        tr.step()
        if tr.step_count % args.eval_every == 0 or tr.step_count == args.steps:
            stats = tr.level_stats(1000, sampling=True)   # G as it samples
            row = {"step": tr.step_count, **{c: stats[c] for c in cols[1:]}}
            if tr.cfg.tricks.g_ema.enabled:   # and the live G, the one D_l is trained against
                live = tr.level_stats(1000, sampling=True, live=True)
                row.update({f"lap{l}_d_auc_live": live[f"lap{l}_d_auc"] for l in range(L)})
            rows.append(row)
            print("  ".join(f"{row[c]:>12}" for c in cols), flush=True)
    train_s = time.perf_counter() - t0
    fd_sets = [fd_per_level(tr, args.n, seed=1000 + k) for k in range(args.sets)]
    # the same latent sets through classifiers of other seeds: how much the drop owes to one classifier
    by_classifier = {str(c): [fd_per_level(tr, args.n, seed=1000 + k, classifier=c) for k in range(args.sets)]
                     for c in args.classifier_seeds if c != 0}
    on_real = fd_on_real_coarse(tr, args.n)
    final = tr.evaluate()
    print(f"trained in {train_s:.0f} s ({args.steps / train_s:.1f} steps/s)")
    for l in range(L):
        m, sd = mean_sd(fs[l] for fs in fd_sets)
        print(f"  samples composed up to level {l} ({tr.level_sizes[l]} px, enlarged to {tr.level_sizes[-1]}): "
              f"fd_classifier {m:.1f} ± {sd:.1f} ({args.sets} sets of {args.n})")
    for c, c_sets in by_classifier.items():
        m, sd = mean_sd(100 * (1 - fs[-1] / fs[0]) for fs in c_sets)
        print(f"  drop level 0 -> {L - 1} with the classifier of seed {c}: {m:.1f} ± {sd:.1f} %")
    print("  the finer levels on real coarse images: " + ", ".join(
        f"from real {tr.level_sizes[l]} px: fd_classifier {fd:.1f}" for l, fd in enumerate(on_real)))
    print(f"  final: classes_covered {final['classes_covered']}/12, confident {final['confident_pct']}%, "
          f"classifier_acc {final['classifier_acc']}", flush=True)
    if args.picture and seed == args.seeds[0]:
        levels_picture(tr, 6, Path(args.picture))
    return {"seed": seed, "steps": args.steps, "preset": args.preset, "set": args.set, "sizes": tr.level_sizes,
            "train_s": train_s, "rows": rows, "fd_sets": fd_sets, "fd_sets_by_classifier": by_classifier,
            "on_real": on_real,
            "final": {k: final[k] for k in ("classes_covered", "classes_covered_strict", "confident_pct",
                                             "fd_classifier", "classifier_acc")}}


def classifier_table(results: list[dict], classifier_seeds: list[int], data, L: int) -> list[str]:
    """Markdown: the drop level 0 -> L-1 per seed as classifiers of other seeds measure it (the same
    latent sets), with the real pyramid's row for each: a feature distance is only as general as the
    features, and these tell apart generated pictures the real ones never show them."""
    seeds = [c for c in classifier_seeds if all(c == 0 or str(c) in r.get("fd_sets_by_classifier", {})
                                                for r in results)]
    if len(seeds) < 2:
        return []

    def sets(r, c):
        return r["fd_sets"] if c == 0 else r["fd_sets_by_classifier"][str(c)]
    md = ["", "The drop level 0 -> final as shapes classifiers of other seeds measure it (each as accurate on real "
              "images; the same latent sets; mean ± sd over the sets):", "",
          "| seed | " + " | ".join(f"classifier {c}" for c in seeds) + " | mean over the classifiers |",
          "|---|" + "---|" * (len(seeds) + 1)]
    means = {c: [] for c in seeds}
    for r in results:
        cells, per = [], []
        for c in seeds:
            m, sd = mean_sd(100 * (1 - fs[-1] / fs[0]) for fs in sets(r, c))
            cells.append(f"{m:.1f} ± {sd:.1f} %")
            per.append(m)
            means[c].append(m)
        md.append(f"| {r['seed']} | " + " | ".join(cells) + f" | {sum(per) / len(per):.1f} % |")
    if len(results) > 1:
        md.append("| mean over seeds | " + " | ".join(f"{sum(v) / len(v):.1f} %" for v in means.values())
                  + f" | {sum(sum(v) for v in means.values()) / sum(len(v) for v in means.values()):.1f} % |")
    real = [fd_real_levels(data, L, classifier=c) for c in seeds]
    md.append("| real images (their pyramid): fd level 0 / final | "
              + " | ".join(f"{x[0]:.0f} / {x[-1]:.0f}" for x in real) + " | |")
    return md


def curve_columns(L: int) -> list[str]:
    return ["step"] + [f"lap{l}_{k}" for l in range(L) for k in
                       (("d_acc", "d_auc") if l == 0 else ("res_real", "res_fake", "d_acc", "d_auc"))]


def level_table(results: list[dict], real: list[float]) -> list[str]:
    """The level table (markdown lines): per seed fd_classifier composed up to each
    level (mean ± sd over the latent sets), the drop from level 0 to the final level, the final D AUCs;
    then the mean ± sd over seeds."""
    sizes = results[0]["sizes"]
    L = len(sizes)
    head = (["seed"] + [f"fd up to level {l} ({s} px)" for l, s in enumerate(sizes)]
            + [f"drop level 0 -> {L - 1}"] + [f"D AUC level {l}" for l in range(L)])
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    per_level, drops, aucs = [], [], []
    for r in results:
        ms = [mean_sd(fs[l] for fs in r["fd_sets"]) for l in range(L)]
        # the drop per latent set (the same latents at every level), then its mean and spread
        d = mean_sd(100 * (1 - fs[-1] / fs[0]) for fs in r["fd_sets"])
        a = [r["rows"][-1][f"lap{l}_d_auc"] for l in range(L)]
        # with G averaged for sampling, D_l's AUC on the live G (the one it is trained against) too
        a_live = [r["rows"][-1].get(f"lap{l}_d_auc_live") for l in range(L)]
        per_level.append([m for m, _ in ms]), drops.append(d[0]), aucs.append((a, a_live))
        md.append(f"| {r['seed']} | " + " | ".join(f"{m:.0f} ± {sd:.0f}" for m, sd in ms)
                  + f" | {d[0]:.1f} ± {d[1]:.1f} % | "
                  + " | ".join(f"{x:.3f}" + (f" (live {y:.3f})" if y is not None else "") for x, y in zip(a, a_live))
                  + " |")
    if len(results) > 1:
        cells = [mean_sd(p[l] for p in per_level) for l in range(L)]
        dm = mean_sd(drops)

        def auc_cell(l: int) -> str:
            m, sd = mean_sd(a[l] for a, _ in aucs)
            lives = [lv[l] for _, lv in aucs]
            if any(v is None for v in lives):
                return f"{m:.3f} ± {sd:.3f}"
            lm, lsd = mean_sd(lives)
            return f"{m:.3f} ± {sd:.3f} (live {lm:.3f} ± {lsd:.3f})"
        md.append(f"| mean ± sd over {len(results)} seeds | " + " | ".join(f"{m:.0f} ± {sd:.0f}" for m, sd in cells)
                  + f" | {dm[0]:.1f} ± {dm[1]:.1f} % | " + " | ".join(auc_cell(l) for l in range(L)) + " |")
    md.append("| real images (their pyramid) | " + " | ".join(f"{x:.0f}" for x in real)
              + f" | {100 * (1 - real[-1] / real[0]):.1f} % | " + " | ".join("" for _ in range(L)) + " |")
    return md


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="lapgan-shapes")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--seed", type=int, default=None, help="one seed (the same as --seeds N)")
    ap.add_argument("--seeds", default="0", help="seeds to train, e.g. 0-2 or 0,1,2 (default 0)")
    ap.add_argument("--sets", type=int, default=5, help="latent sets per seed for the level table (spread)")
    ap.add_argument("--n", type=int, default=1000, help="samples per latent set")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a preset setting")
    ap.add_argument("--classifier-seeds", default="0,1,2", type=parse_seeds, metavar="SEEDS",
                    help="also measure the level table's drop with the shapes classifiers of these seeds "
                         "(0 is fd_classifier's own; each other one is trained once and cached)")
    ap.add_argument("--cache", default=None, help="folder keeping each seed's result (a rerun reuses them)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "bench" / "lapgan-shapes"))
    ap.add_argument("--picture", default=str(ROOT / "docs" / "images" / "lapgan_levels.png"),
                    help="the levels picture of the first seed ('' for none)")
    args = ap.parse_args()
    args.seeds = [args.seed] if args.seed is not None else parse_seeds(args.seeds)
    torch.set_num_threads(1)

    results = []
    for seed in args.seeds:
        cached = Path(args.cache) / f"{args.preset}-s{seed}-{args.steps}.json" if args.cache else None
        if cached and cached.exists():
            r = json.loads(cached.read_text())
            if r["set"] == args.set and len(r["fd_sets"]) == args.sets:
                print(f"seed {seed}: reusing {cached}")
                results.append(r)
                continue
        r = train_seed(args, seed)
        if cached:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps(r))
        results.append({**r, "fresh": True})   # trained by this run (its picture is the first seed's)

    first = results[0]
    L = len(first["sizes"])
    data = make_data_for(args.preset)
    real = fd_real_levels(data, L)
    table = level_table(results, real)
    print("\n".join(table))

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cols = curve_columns(L)
    with open(out.with_suffix(".csv"), "w", newline="") as fh:
        extra = [k for r in results[:1] for k in (r["rows"][0] if r["rows"] else {}) if k not in cols]
        w = csv.DictWriter(fh, fieldnames=["seed"] + cols + extra, restval="")
        w.writeheader()
        for r in results:
            w.writerows({"seed": r["seed"], **row} for row in r["rows"])
    seeds_arg = (f"--seed {args.seeds[0]}" if len(args.seeds) == 1 else f"--seeds {args.seeds[0]}-{args.seeds[-1]}"
                 if args.seeds == list(range(args.seeds[0], args.seeds[-1] + 1)) else
                 "--seeds " + ",".join(map(str, args.seeds)))
    sets_arg = f" --sets {args.sets}" if args.sets != 5 else ""
    set_arg = "".join(f" --set {kv}" for kv in args.set)
    train_times = ", ".join(f"{r['train_s']:.0f}" for r in results)
    md = ["# LAPGAN on shapes: what each level adds",
          "",
          f"`OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_lapgan.py --steps {args.steps} {seeds_arg}"
          f"{sets_arg}{set_arg}` (preset {args.preset}, levels {' -> '.join(map(str, first['sizes']))} px, CPU, "
          f"training {train_times} s per seed on a shared machine).",
          "",
          f"What each level adds to the final picture: fd_classifier (the studio's {first['sizes'][-1]} px shapes "
          f"classifier's Fréchet distance to the real images, lower is closer to real) of samples composed up to "
          f"level l and enlarged bilinearly to {first['sizes'][-1]} px. Per seed, {args.sets} sets of {args.n} "
          f"latents, each set the same latents at every level: mean ± sd over the sets (the estimate's spread). "
          f"The drop is 1 - fd(final) / fd(level 0), per set. D AUC: P(D_l(real) > D_l(fake)) at the last step "
          f"(0.5: G_l fools D_l). The last row: real images' own pyramid (1,000 images).",
          ""]
    md += table
    md += classifier_table(results, args.classifier_seeds, data, L)
    md += ["", "The finer levels on real coarse images (as they are trained; 1,000 real images, their level l "
               "composed up to the final level by the trained G_{l+1}, ..., G_L): fd_classifier, against the "
               "real pyramid's row above.", "",
           "| seed | " + " | ".join(f"from real {s} px" for s in first["sizes"][:-1]) + " |",
           "|---|" + "---|" * (L - 1)]
    md += [f"| {r['seed']} | " + " | ".join(f"{x:.0f}" for x in r["on_real"]) + " |" if "on_real" in r else
           f"| {r['seed']} | " + " | ".join("not measured (an earlier run)" for _ in range(L - 1)) + " |"
           for r in results]
    md += ["", "Final samples (the trainer's evaluation, 2,500 samples):", "",
           "| seed | classes_covered | strict | confident_pct | fd_classifier | classifier_acc |",
           "|---|---|---|---|---|---|"]
    md += [f"| {r['seed']} | {r['final']['classes_covered']}/12 | {r['final']['classes_covered_strict']} | "
           f"{r['final']['confident_pct']} | {r['final']['fd_classifier']} | {r['final']['classifier_acc']} |"
           for r in results]
    md += ["", "Per-level statistics during training. res_real / res_fake: mean |residual| of real images and of "
               "G_l's (G as it samples: batch norm's running statistics), both on real coarser images; d_acc: "
               "D_l's accuracy at its threshold, d_auc: P(D_l(real) > D_l(fake)); 0.5 = chance. 1,000 images each.",
           ""]
    md += ["| seed | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    md += ["| " + " | ".join([str(r["seed"])] + [str(row[c]) for c in cols]) + " |"
           for r in results for row in r["rows"]]
    md.append("")
    out.with_suffix(".md").write_text("\n".join(md))
    made_picture = bool(args.picture) and bool(results[0].get("fresh"))
    print(f"wrote {out.with_suffix('.md')}, {out.with_suffix('.csv')}"
          + (f" and {args.picture}" if made_picture else ""))


def make_data_for(preset: str):
    """The preset's data set, as its trainer loads it."""
    from gan_studio.core.data.registry import build_dataset
    return build_dataset(load_preset(preset).data)


if __name__ == "__main__":
    main()
