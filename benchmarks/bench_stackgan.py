"""StackGAN on shapes: do the pictures follow their captions? Attribute-match rates of stage II,
stage I (upsampled to the same size) and chance, by the studio's shapes classifiers.

Trains the ``stackgan-shapes`` preset (text -> 8 px stage I -> 16 px stage II) and at every
``--eval-every`` steps draws 1,000 samples for captions picked uniformly from the set's 96 distinct
captions, classifies stage II and stage I (bilinearly upsampled to 16 px) with the 16 px shapes
classifier, and prints the share whose predicted shape / colour / size / position is the caption's.
Chance is what a generator that ignores the text would score with stage II's output histogram:
sum_v p_caption(v) p_predicted(v) (1/K per attribute here, as captions are uniform).
Writes docs/bench/stackgan-shapes.md (+ .csv) and docs/images/stackgan_captions.png.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_stackgan.py [--steps 2000] [--seeds 0-2] [--jobs 2]
        [--set stackgan.kl_weight=1.0 ...] [--out none]

With several seeds it prints each seed's rates and the mean ± sd per attribute over the seeds.
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
from gan_studio.core.families.stackgan import ATTRIBUTES
from gan_studio.core.metrics.images import get_metric_model
from gan_studio.core.presets import load_preset
from gan_studio.core.render import grid_png

ROOT = Path(__file__).resolve().parents[1]
CAPTIONS = ("a large red circle at the top left", "a large green square at the bottom right",
            "a large blue triangle at the top right", "a large yellow square at the bottom left",
            "a small red triangle at the bottom left", "a small blue circle at the top right")
COLS = ["step", "s2_match", "s1_match", "chance_match", "s2_match_all", "s1_match_all", "chance_match_all"] + \
       [f"{s}_match_{a}" for a in ATTRIBUTES for s in ("s2", "s1", "chance")]


def captions_picture(tr, path: Path, n: int = 6) -> None:
    """Per caption one row: n stage-I samples (8 px, enlarged) | the n stage-II samples of the same draws."""
    from PIL import Image, ImageDraw
    S = tr.size
    tiles = []
    for text in CAPTIONS:
        s1, s2 = tr.render_caption(text, n)
        tiles += [F.interpolate(s1, size=(S, S), mode="nearest"), s2]
    grid = Image.open(io.BytesIO(grid_png(torch.cat(tiles), nrow=n))).convert("RGB")
    # stage I and stage II of one caption side by side: split the grid's rows and re-join them in pairs
    cell = S + 2
    scale = 4
    rows = [grid.crop((0, 2 + r * cell, grid.width, 2 + r * cell + S)) for r in range(2 * len(CAPTIONS))]
    pair_w = 2 * grid.width + 16
    label_h = 14
    out = Image.new("RGB", (pair_w * scale // 2 + 8, len(CAPTIONS) * (S * scale // 2 * 2 // 2 + label_h + 8) + 24),
                    "white")
    draw = ImageDraw.Draw(out)
    draw.text((4, 4), f"stage I ({tr.size1} px, enlarged)", fill=(0, 0, 0))
    draw.text((grid.width * scale // 2 + 12, 4), f"stage II ({S} px)", fill=(0, 0, 0))
    y = 24
    for i, text in enumerate(CAPTIONS):
        draw.text((4, y), f'"{text}"', fill=(0, 0, 0))
        y += label_h
        for j, row in enumerate(rows[2 * i: 2 * i + 2]):
            big = row.resize((row.width * scale // 2, row.height * scale // 2), Image.NEAREST)
            out.paste(big, (4 + j * (grid.width * scale // 2 + 8), y))
        y += S * scale // 2 + 8
    path.parent.mkdir(parents=True, exist_ok=True)
    out.crop((0, 0, out.width, y)).save(path)


def parse_seeds(text: str) -> list[int]:
    """'0-2' -> [0, 1, 2]; '0,3,5' -> [0, 3, 5]."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    return seeds


def run_seed(seed: int, steps: int, eval_every: int, overrides: list[str], picture: str | None) -> dict:
    """Train one seed; the attribute-match rows at every eval step, timings and (optionally) the picture."""
    torch.set_num_threads(1)
    cfg = load_preset("stackgan-shapes")
    for kv in overrides:
        key, _, value = kv.partition("=")
        cfg.set(key.strip(), value.strip())
    cfg.set("train.seed", seed)
    cfg.set("train.device", "cpu")
    t0 = time.perf_counter()
    tr = make_trainer(cfg)
    text_s = time.perf_counter() - t0
    model = get_metric_model(tr.data)  # train/load the classifier before the clock starts
    rows = []
    t0 = time.perf_counter()
    while tr.step_count < steps:
        tr.step()
        if tr.step_count % eval_every == 0 or tr.step_count == steps:
            m = tr.attribute_match(1000)
            rows.append({"seed": seed, "step": tr.step_count, **{c: m[c] for c in COLS[1:]}})
            print(f"seed {seed} " + "  ".join(f"{c} {rows[-1][c]}" for c in COLS[:4]) + f"  shape s2 {m['s2_match_shape']} s1 {m['s1_match_shape']}  ca_kl {m['ca_kl']}", flush=True)
    train_s = time.perf_counter() - t0
    if picture:
        captions_picture(tr, Path(picture))
    return {"seed": seed, "rows": rows, "train_s": train_s, "text_s": text_s,
            "text_acc": tr.text_match_accuracy, "n_captions": len(tr.captions), "size1": tr.size1,
            "size": tr.size, "text_steps": cfg.stackgan.text_steps,
            "classifier": dict(model.accuracy)}


def mean_sd(values: list[float]) -> tuple[float, float]:
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.mean()), (float(t.std()) if len(t) > 1 else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--seed", type=int, default=None, help="one seed (same as --seeds N)")
    ap.add_argument("--seeds", default="0", help="seeds to train, e.g. 0-2 or 0,3 (default 0)")
    ap.add_argument("--jobs", type=int, default=1, help="seeds trained at once, one process (one thread) each")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a preset setting (tuning); the report names every override")
    ap.add_argument("--out", default=str(ROOT / "docs" / "bench" / "stackgan-shapes"),
                    help="where the .md and .csv go; 'none' writes nothing")
    ap.add_argument("--picture", default=None,
                    help="the captions figure, from the first seed (default: docs/images/stackgan_captions.png, "
                         "none with --out none); 'none' for no figure")
    args = ap.parse_args()
    torch.set_num_threads(1)
    seeds = [args.seed] if args.seed is not None else parse_seeds(args.seeds)
    write = args.out.lower() != "none"
    # --out none writes nothing unasked (a tuning run); a --picture named is drawn all the same
    if args.picture is None:
        picture = str(ROOT / "docs" / "images" / "stackgan_captions.png") if write else None
    else:
        picture = None if args.picture.lower() == "none" else args.picture
    jobs = [(s, args.steps, args.eval_every, args.set, picture if i == 0 else None) for i, s in enumerate(seeds)]
    if args.jobs > 1 and len(seeds) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(min(args.jobs, len(seeds)), mp_context=mp.get_context("spawn")) as ex:
            results = list(ex.map(run_seed, *zip(*jobs)))
    else:
        results = [run_seed(*j) for j in jobs]

    r0 = results[0]
    accs = ", ".join(f"{100 * r['text_acc']:.1f}%" for r in results)
    times = ", ".join(f"{r['train_s']:.0f}" for r in results)
    print(f"stackgan-shapes{' ' + ' '.join(args.set) if args.set else ''}: text encoder caption retrieval on "
          f"held-out images {accs} "
          f"(chance {100 / r0['n_captions']:.1f}%); 16 px shapes classifier held-out accuracy "
          f"{', '.join(f'{k} {v:.3f}' for k, v in r0['classifier'].items())}")
    last = {r["seed"]: r["rows"][-1] for r in results}
    step = r0["rows"][-1]["step"]
    print(f"at step {step}, per seed (stage II / stage I / chance):")
    for s, row in last.items():
        print(f"  seed {s}: " + "  ".join(f"{a} {row[f's2_match_{a}']:.3f}/{row[f's1_match_{a}']:.3f}/"
                                         f"{row[f'chance_match_{a}']:.3f}" for a in ATTRIBUTES)
              + f"  (trained in {next(r['train_s'] for r in results if r['seed'] == s):.0f} s)")
    summary = {}
    for a in ATTRIBUTES + ("",):
        suffix = f"_{a}" if a else ""
        summary[a or "mean"] = [mean_sd([row[f"{st}_match{suffix}"] for row in last.values()])
                                for st in ("s2", "s1", "chance")]
    print(f"mean ± sd over seeds {','.join(map(str, seeds))}:")
    ok = True
    for a, ((m2, d2), (m1, d1), (mc, dc)) in summary.items():
        flag = ""
        if a != "mean":
            good = m2 >= 0.6 and m2 > m1
            ok &= good
            flag = "" if good else "   <- misses (>= 0.6 and above stage I)"
        print(f"  {a:<9} stage II {m2:.3f} ± {d2:.3f}  stage I {m1:.3f} ± {d1:.3f}  chance {mc:.3f} ± {dc:.3f}{flag}")
    print("every attribute >= 0.6 for stage II and above stage I:", "yes" if ok else "no")
    if not write:
        return

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = [row for r in results for row in r["rows"]]
    with open(out.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["seed"] + COLS)
        w.writeheader()
        w.writerows(rows)
    seed_arg = f"--seed {seeds[0]}" if len(seeds) == 1 else f"--seeds {args.seeds}"
    cmd = (f"OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_stackgan.py --steps {args.steps} {seed_arg}"
           + (f" --jobs {args.jobs}" if args.jobs > 1 else "") + "".join(f" --set {kv}" for kv in args.set))
    head = COLS[:7]
    md = ["# StackGAN on shapes: do the pictures follow their captions?",
          "",
          f"`{cmd}` (preset stackgan-shapes: stage I {r0['size1']} px, stage II {r0['size']} px; CPU, "
          f"{times} s of training per seed (one thread each"
          f"{', ' + str(args.jobs) + ' seeds at once' if args.jobs > 1 and len(seeds) > 1 else ''}) after "
          f"{r0['text_steps']} steps of text-encoder pre-training; caption retrieval of the text encoder on "
          f"held-out images {accs}, chance "
          f"{100 / r0['n_captions']:.1f}%; the 16 px shapes classifier's held-out accuracy on real images: "
          f"{', '.join(f'{k} {v:.3f}' for k, v in r0['classifier'].items())}).",
          "",
          "Share of 1,000 samples (captions uniform over the 96 distinct ones) whose attribute, as the 16 px "
          "shapes classifier predicts it, is the caption's. s1 = stage I upsampled bilinearly to 16 px; "
          "chance = sum_v p_caption(v) p_predicted(v) with stage II's predictions; match = mean over shape, "
          "colour, size, position; _all = all four right.",
          "",
          f"Per attribute at step {step}, mean ± sd over seeds {', '.join(map(str, seeds))}:",
          "",
          "| attribute | stage II | stage I (upsampled) | chance |", "|---|---|---|---|"]
    md += [f"| {a} | {m2:.3f} ± {d2:.3f} | {m1:.3f} ± {d1:.3f} | {mc:.3f} ± {dc:.3f} |"
           for a, ((m2, d2), (m1, d1), (mc, dc)) in summary.items()]
    md += ["", f"Per seed at step {step} (stage II / stage I / chance):", "",
           "| seed | " + " | ".join(ATTRIBUTES) + " |", "|---|" + "---|" * len(ATTRIBUTES)]
    md += [f"| {s} | " + " | ".join(f"{row[f's2_match_{a}']:.3f} / {row[f's1_match_{a}']:.3f} / "
                                    f"{row[f'chance_match_{a}']:.3f}" for a in ATTRIBUTES) + " |"
           for s, row in last.items()]
    md += ["", "During training (every seed):", "",
           "| seed | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
    md += ["| " + " | ".join(str(r[c]) for c in ["seed"] + head) + " |" for r in rows]
    md.append("")
    out.with_suffix(".md").write_text("\n".join(md))
    print(f"wrote {out.with_suffix('.md')}, {out.with_suffix('.csv')}" + (f" and {picture}" if picture else ""))


if __name__ == "__main__":
    main()
