"""Does latent arithmetic work on `shapes`? red circle - red square + blue square = blue circle?

DCGAN's Fig. 7 protocol, measured with the shapes attribute classifiers instead of by eye:

1. draw a pool of latents from a generator trained with the `shapes` preset (trained here, or the
   run folder given with --run) and classify the pool's images (shape and colour heads);
2. keep the latents whose images the classifiers call "red circle", "red square", "blue square"
   with probability >= --confidence on both heads;
3. per draw, pick three latents of each concept at random, compute mean(A) - mean(B) + mean(C) and
   its 8 neighbours (uniform noise +-0.25) and classify the 9 images; a hit is "blue circle";
4. the chance level is the same computation with A, B, C drawn from the whole pool.

The share is over all 9 images of all draws (20 by default). Prints a table and one JSON line.

    .venv/bin/python benchmarks/bench_latent_arithmetic.py --run /tmp/shapes_run
    .venv/bin/python benchmarks/bench_latent_arithmetic.py --steps 4000 --out /tmp/shapes_run
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gan_studio.core import latent as L

CONCEPTS = {"A": ("red", "circle"), "B": ("red", "square"), "C": ("blue", "square")}
TARGET = ("blue", "circle")


def train_shapes(out: Path, steps: int) -> Path:
    from gan_studio.core.presets import load_preset
    from gan_studio.core.runs import RunFolder
    from gan_studio.core.training.run_loop import RunLoop
    from gan_studio.core.training.trainer import Trainer
    cfg = load_preset("shapes")
    cfg.set("train.eval_every", 10 ** 6)   # the benchmark classifies on its own
    tr = Trainer(cfg)
    loop = RunLoop(tr, RunFolder.create(out, tr.cfg))
    t0 = time.perf_counter()
    while tr.step_count < steps:
        loop.advance()
        if tr.step_count % 500 == 0:
            print(f"  trained {tr.step_count}/{steps} steps ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    loop.run.save_checkpoint(tr)
    return out


class Judge:
    """The shapes classifiers' (colour, shape) verdict on a run's images."""

    def __init__(self, trainer):
        from gan_studio.core.metrics.images import get_metric_model
        self.tr = trainer
        self.model = get_metric_model(trainer.data)
        if self.model is None or "shape" not in self.model.net.heads:
            raise SystemExit("this run's data has no shape/colour labels: use a `shapes` run")
        self.colours = list(trainer.data.attribute_values["colour"])
        self.shapes = list(trainer.data.attribute_values["shape"])

    def __call__(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(colour index, shape index, confidence = the smaller of the two top probabilities)."""
        _, probs = self.model.predict(L.render_latents(self.tr, z))
        pc, ps = probs["colour"].numpy(), probs["shape"].numpy()
        return pc.argmax(1), ps.argmax(1), np.minimum(pc.max(1), ps.max(1))

    def index(self, colour: str, shape: str) -> tuple[int, int]:
        return self.colours.index(colour), self.shapes.index(shape)


def hit_table(judge: Judge, grids: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grids, 9) booleans: called TARGET; of the right colour; of the right shape."""
    colour, shape, _ = judge(np.concatenate(grids))
    tc, ts = judge.index(*TARGET)
    n = len(grids)
    return (((colour == tc) & (shape == ts)).reshape(n, -1), (colour == tc).reshape(n, -1),
            (shape == ts).reshape(n, -1))


def screenshot(run_dir: Path, picks: list[np.ndarray], path: Path, timeout_s: float = 120) -> None:
    """The window open on the run, the latent lab showing this draw's picks and their result."""
    import os
    import tempfile
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication

    from gan_studio.app.main_window import MainWindow
    app = QApplication.instance() or QApplication(["bench_latent_arithmetic"])

    def wait(condition) -> None:
        deadline = time.perf_counter() + timeout_s
        while not condition():
            if time.perf_counter() > deadline:
                raise SystemExit("the window did not draw the latent lab in time")
            app.processEvents()
            time.sleep(0.01)

    with tempfile.TemporaryDirectory(prefix="bench-latent-") as runs:
        win = MainWindow(open_path=run_dir, runs_dir=runs, restore_settings=False)
        win.resize(1000, 1000)
        for name in ("tricks", "plots"):
            win.docks[name].hide()   # the lab gets the whole window
        win.show()
        wait(lambda: win.state.session is not None)
        win.docks["latent"].raise_()
        lab = win.latent_lab
        wait(lambda: lab.isVisible() and not lab.busy)
        for group, z in zip("ABC", picks):
            lab.set_active_group(group)
            lab.load_group(z)
        lab.set_active_group("A")
        lab.tabs.setCurrentIndex(0)
        wait(lambda: not lab.busy and "result" in lab.outputs)
        app.processEvents()
        lab._show("result")   # fit the grid to the view at its final size
        app.processEvents()
        if not win.docks["latent"].grab().save(str(path)):
            raise SystemExit(f"could not write {path}")
        win.close()
        win.stop_worker()
        win.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    print(f"saved the screenshot {path}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", help="a run folder trained with the shapes preset (default: train one)")
    p.add_argument("--steps", type=int, default=4000, help="steps to train when no --run is given")
    p.add_argument("--out", default="runs/bench-latent-shapes", help="where to train when no --run is given")
    p.add_argument("--pool", type=int, default=3000, help="latents drawn to find the concepts")
    p.add_argument("--draws", type=int, default=20, help="random draws of the picks")
    p.add_argument("--chance-draws", type=int, default=200,
                   help="draws for a steadier chance level (the first --draws are reported as well)")
    p.add_argument("--confidence", type=float, default=0.9, help="classifier probability to accept a pick")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=1,
                   help="repeat the measurement of --draws draws this often (new picks) to show its spread")
    p.add_argument("--save-picks", metavar="DIR",
                   help="write the shown draw's a.npy, b.npy, c.npy here (for `gan-studio latent`)")
    p.add_argument("--screenshot", metavar="FILE.png",
                   help="then open the window's latent lab on the run with one draw's picks and save it "
                        "(the first draw whose centre image is a blue circle)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    from gan_studio.core.runs import trainer_from_run
    run_dir = Path(args.run) if args.run else train_shapes(Path(args.out), args.steps)
    tr, _ = trainer_from_run(run_dir)
    if tr.cfg.data.name != "shapes":
        raise SystemExit(f"{run_dir} was trained on {tr.cfg.data.name!r}; this benchmark needs shapes")
    judge = Judge(tr)
    rng = np.random.default_rng(args.seed)
    pool = rng.standard_normal((args.pool, tr.cfg.model.latent_dim)).astype(np.float32)
    colour, shape, conf = judge(pool)
    groups = {}
    for g, (c_name, s_name) in CONCEPTS.items():
        ci, si = judge.index(c_name, s_name)
        groups[g] = pool[(colour == ci) & (shape == si) & (conf >= args.confidence)]
    tc, ts = judge.index(*TARGET)
    base_rate = float(((colour == tc) & (shape == ts)).mean())
    print(f"run {run_dir} at step {tr.step_count}; pool of {args.pool} latents; "
          f"classifier accuracy {min(judge.model.accuracy.values()):.3f}")
    for g, (c_name, s_name) in CONCEPTS.items():
        print(f"  {g} = {c_name} {s_name}: {len(groups[g])} latents with confidence >= {args.confidence}")
    print(f"  {' '.join(TARGET)} among the pool's images: {base_rate:.3f}")
    if min(len(v) for v in groups.values()) < 3:
        raise SystemExit("fewer than 3 confident images of a concept: train longer or enlarge --pool")

    def picks(source: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [source[g][rng.choice(len(source[g]), 3, replace=False)] for g in "ABC"]

    # the same draws of picks, 20 at a time: one measurement is 20 draws x 9 images; --repeats gives
    # its spread (the 9 images of one draw are alike, so a measurement holds about 20 samples, not 180)
    draws = [picks(groups) for _ in range(args.draws * args.repeats)]
    grids = [L.result_grid(a, b, c, seed=i) for i, (a, b, c) in enumerate(draws)]
    hits, blue, circle = hit_table(judge, grids)                     # (draws, 9) each
    whole = {g: pool for g in "ABC"}
    chance_grids = [L.result_grid(*picks(whole), seed=10_000 + i)
                    for i in range(max(args.draws, args.chance_draws))]
    c_hits, c_blue, c_circle = hit_table(judge, chance_grids)
    chance, chance20 = float(c_hits.mean()), float(c_hits[:args.draws].mean())
    shares = [float(hits[r * args.draws:(r + 1) * args.draws].mean()) for r in range(args.repeats)]
    share = shares[0]
    # no blue circle at chance: the ratio is unbounded when the arithmetic finds some, undefined when not
    ratio = share / chance if chance > 0 else (float("inf") if share > 0 else float("nan"))
    first = slice(0, args.draws)
    print(f"\nred circle - red square + blue square, {args.draws} draws x 9 images:")
    print(f"  classified blue circle: {share:.3f}  (blue: {blue[first].mean():.3f}, circle: {circle[first].mean():.3f})")
    print(f"  the centre images alone (the results without noise): {hits[first, L.CENTRE].mean():.3f}")
    if args.repeats > 1:
        se = float(np.std(shares, ddof=1) / np.sqrt(len(shares)))
        print(f"  {args.repeats} repeats of {args.draws} draws: " + " ".join(f"{x:.3f}" for x in shares)
              + f"; mean {np.mean(shares):.3f} +- {se:.3f} (standard error)")
    print(f"  chance (A, B, C random), {args.draws} draws: {chance20:.3f}  "
          f"(blue: {c_blue[:args.draws].mean():.3f}, circle: {c_circle[:args.draws].mean():.3f})")
    print(f"  chance, {len(chance_grids)} draws: {chance:.3f}")
    print(f"  ratio to chance ({len(chance_grids)} draws): {ratio:.1f}x   (target >= 3x)"
          + (f"; mean of the repeats: {np.mean(shares) / chance:.1f}x" if args.repeats > 1 and chance > 0 else ""))
    print(json.dumps({"run": str(run_dir), "step": tr.step_count, "draws": args.draws, "share": share,
                      "shares": shares, "share_blue": float(blue[first].mean()),
                      "share_circle": float(circle[first].mean()), "share_centre": float(hits[first, L.CENTRE].mean()),
                      "chance": chance, "chance_first_draws": chance20, "chance_draws": len(chance_grids),
                      "pool_base_rate": base_rate, "ratio": ratio, "seed": args.seed,
                      "picks": {g: len(v) for g, v in groups.items()}}))
    # the picture: the first draw whose centre image is a blue circle (the first draw when none is)
    shown = next((i for i in range(len(draws)) if hits[i, L.CENTRE]), 0)
    if args.save_picks:
        for name, z in zip("abc", draws[shown]):
            L.save_latents_npy(Path(args.save_picks) / f"{name}.npy", z)
    if args.screenshot:
        print(f"  the screenshot shows draw {shown} ({int(hits[shown].sum())} of its 9 images are blue circles)")
        screenshot(run_dir, draws[shown], Path(args.screenshot))
    return 0

if __name__ == "__main__":
    sys.exit(main())
