"""StackGAN on shapes: do the pictures follow their captions? Attribute-match rates of stage II,
stage I (upsampled to the same size) and chance, by the studio's shapes classifiers.

Trains the ``stackgan-shapes`` preset (text -> 8 px stage I -> 16 px stage II) and at every
``--eval-every`` steps draws 1,000 samples for captions picked uniformly from the set's 96 distinct
captions, classifies stage II and stage I (bilinearly upsampled to 16 px) with the 16 px shapes
classifier, and prints the share whose predicted shape / colour / size / position is the caption's.
Chance is what a generator that ignores the text would score with stage II's output histogram:
sum_v p_caption(v) p_predicted(v) (1/K per attribute here, as captions are uniform).
Writes docs/bench/stackgan-shapes.md (+ .csv) and docs/images/stackgan_captions.png.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_stackgan.py [--steps 2000] [--seed 0]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "docs" / "bench" / "stackgan-shapes"))
    ap.add_argument("--picture", default=str(ROOT / "docs" / "images" / "stackgan_captions.png"))
    args = ap.parse_args()
    torch.set_num_threads(1)

    cfg = load_preset("stackgan-shapes")
    cfg.set("train.seed", args.seed)
    cfg.set("train.device", "cpu")
    t0 = time.perf_counter()
    tr = make_trainer(cfg)
    print(f"stackgan-shapes, seed {args.seed}: text encoder pre-trained in {time.perf_counter() - t0:.0f} s "
          f"({cfg.stackgan.text_steps} steps), caption retrieval on held-out images "
          f"{100 * tr.text_match_accuracy:.1f}% (chance {100 / len(tr.captions):.1f}%)")
    model = get_metric_model(tr.data)  # train/load the classifier before the clock starts
    print(f"16 px shapes classifier: held-out accuracy "
          f"{', '.join(f'{k} {v:.3f}' for k, v in model.accuracy.items())}")
    head = COLS[:7]
    print("  ".join(f"{c:>16}" for c in head))
    rows = []
    t0 = time.perf_counter()
    while tr.step_count < args.steps:
        tr.step()
        if tr.step_count % args.eval_every == 0 or tr.step_count == args.steps:
            m = tr.attribute_match(1000)
            row = {"step": tr.step_count, **{c: m[c] for c in COLS[1:]}}
            rows.append(row)
            print("  ".join(f"{row[c]:>16}" for c in head), flush=True)
    train_s = time.perf_counter() - t0
    last = rows[-1]
    print(f"trained in {train_s:.0f} s ({args.steps / train_s:.1f} steps/s); at step {last['step']}:")
    for a in ATTRIBUTES:
        print(f"  {a:<9} stage II {last[f's2_match_{a}']:.3f}  stage I {last[f's1_match_{a}']:.3f}  "
              f"chance {last[f'chance_match_{a}']:.3f}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLS)
        w.writeheader()
        w.writerows(rows)
    md = ["# StackGAN on shapes: do the pictures follow their captions?",
          "",
          f"`OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_stackgan.py --steps {args.steps} --seed {args.seed}` "
          f"(preset stackgan-shapes: stage I {tr.size1} px, stage II {tr.size} px; CPU, {train_s:.0f} s of training "
          f"after {cfg.stackgan.text_steps} steps of text-encoder pre-training; caption retrieval of the text "
          f"encoder on held-out images {100 * tr.text_match_accuracy:.1f}%, chance {100 / len(tr.captions):.1f}%).",
          "",
          "Share of 1,000 samples (captions uniform over the 96 distinct ones) whose attribute, as the 16 px "
          "shapes classifier predicts it, is the caption's. s1 = stage I upsampled bilinearly to 16 px; "
          "chance = sum_v p_caption(v) p_predicted(v) with stage II's predictions; match = mean over shape, "
          "colour, size, position; _all = all four right.",
          "",
          "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(str(r[c]) for c in head) + " |" for r in rows]
    md += ["", f"Per attribute at step {last['step']}:", "",
           "| attribute | stage II | stage I (upsampled) | chance |", "|---|---|---|---|"]
    md += [f"| {a} | {last[f's2_match_{a}']} | {last[f's1_match_{a}']} | {last[f'chance_match_{a}']} |"
           for a in ATTRIBUTES]
    md.append("")
    out.with_suffix(".md").write_text("\n".join(md))
    captions_picture(tr, Path(args.picture))
    print(f"wrote {out.with_suffix('.md')}, {out.with_suffix('.csv')} and {args.picture}")


if __name__ == "__main__":
    main()
