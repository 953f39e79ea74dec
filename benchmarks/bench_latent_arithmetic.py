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

With --train-seeds 0-4 it measures one generator per training seed, each in OUT/seedS (trained
there with `gan-studio train shapes --steps STEPS --seed S --out OUT/seedS` when the folder does
not hold it yet), and ends with one table row per seed:

    .venv/bin/python benchmarks/bench_latent_arithmetic.py --train-seeds 0-4 --steps 6000 --out /tmp/lat --repeats 3
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
OTHERS = ("size", "position")   # the attributes the arithmetic should leave alone


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
        v = self.verdict(z)
        return v["colour"][0], v["shape"][0], np.minimum(v["colour"][1], v["shape"][1])

    def verdict(self, z: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Every head's (index, top probability): colour, shape, size, position."""
        _, probs = self.model.predict(L.render_latents(self.tr, z))
        return {k: (p.numpy().argmax(1), p.numpy().max(1)) for k, p in probs.items()}

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
        win.show()
        wait(lambda: win.state.session is not None)
        for name in ("tricks", "events", "plots"):
            if name in win.docks:
                win.docks[name].hide()   # the lab gets the whole window (after the run is open: opening
                                         # a run shows the panels it has)
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


def train_seed(run_dir: Path, steps: int, seed: int) -> Path:
    """OUT/seedS holding the `shapes` preset trained ``steps`` steps on training seed ``seed``: reused
    when it is there, else trained by the CLI (`gan-studio train shapes --steps N --seed S`), so the
    table's generators are the ones that command makes."""
    from gan_studio.core.runs import trainer_from_run
    if (run_dir / "checkpoint.pt").exists():
        tr, _ = trainer_from_run(run_dir)
        if (tr.cfg.name, tr.cfg.train.seed, tr.step_count) != ("shapes", seed, steps):
            raise SystemExit(f"{run_dir} holds {tr.cfg.name!r} with training seed {tr.cfg.train.seed} at step "
                             f"{tr.step_count}, not shapes with seed {seed} at step {steps}: give another --out")
        print(f"training seed {seed}: reusing {run_dir} (step {steps})", file=sys.stderr)
        return run_dir
    from gan_studio.cli import main as cli
    print(f"training seed {seed}: gan-studio train shapes --steps {steps} --seed {seed} --out {run_dir}",
          file=sys.stderr)
    t0 = time.perf_counter()
    rc = cli(["train", "shapes", "--steps", str(steps), "--seed", str(seed), "--out", str(run_dir),
              "--threads", "1", "--quiet"])
    if rc != 0:
        raise SystemExit(f"training seed {seed} failed (exit status {rc})")
    print(f"  trained in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return run_dir


def measure(run_dir: Path, args) -> dict:
    """The measurement on one run folder: prints the report, returns its JSON record."""
    from gan_studio.core.runs import trainer_from_run
    tr, _ = trainer_from_run(run_dir)
    if tr.cfg.data.name != "shapes":
        raise SystemExit(f"{run_dir} was trained on {tr.cfg.data.name!r}; this benchmark needs shapes")
    judge = Judge(tr)
    rng = np.random.default_rng(args.seed)
    pool = rng.standard_normal((args.pool, tr.cfg.model.latent_dim)).astype(np.float32)
    v = judge.verdict(pool)
    (colour, pc), (shape, ps) = v["colour"], v["shape"]
    conf = np.minimum(pc, ps)
    if args.picks != "any":   # a clear image: one object of a definite size and position too
        conf = np.minimum.reduce([pc, ps] + [v[k][1] for k in OTHERS])
    # a pick's cell: its size and position (--picks matched takes all of a draw's picks from one cell)
    cell = v["size"][0] * 1000 + v["position"][0] if args.picks == "matched" else np.zeros(len(pool), int)
    groups, cells = {}, {}
    for g, (c_name, s_name) in CONCEPTS.items():
        ci, si = judge.index(c_name, s_name)
        keep = (colour == ci) & (shape == si) & (conf >= args.confidence)
        groups[g], cells[g] = pool[keep], cell[keep]
    tc, ts = judge.index(*TARGET)
    base_rate = float(((colour == tc) & (shape == ts)).mean())
    print(f"run {run_dir} at step {tr.step_count} (training seed {tr.cfg.train.seed}); pool of {args.pool} "
          f"latents; classifier accuracy {min(judge.model.accuracy.values()):.3f}")
    heads = "colour and shape" if args.picks == "any" else "colour, shape, size and position"
    for g, (c_name, s_name) in CONCEPTS.items():
        print(f"  {g} = {c_name} {s_name}: {len(groups[g])} latents with confidence >= {args.confidence} on {heads}")
    print(f"  {' '.join(TARGET)} among the pool's images: {base_rate:.3f}")
    k = args.exemplars
    if k < 1:
        raise SystemExit(f"--exemplars = {k}: must be >= 1")
    if min(len(x) for x in groups.values()) < k:
        raise SystemExit(f"fewer than {k} confident images of a concept: train longer or enlarge --pool")

    def picks(source: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [source[g][rng.choice(len(source[g]), k, replace=False)] for g in "ABC"]

    # the cells where every concept has k picks; a draw takes one of them at random
    shared = sorted(set.intersection(*({c for c in np.unique(cells[g]) if (cells[g] == c).sum() >= k}
                                       for g in "ABC")))
    if not shared:
        raise SystemExit(f"no size and position has {k} confident images of every concept: enlarge --pool")
    if args.picks == "matched":
        print(f"  --picks matched: {len(shared)} size-position cells have {k} of each concept")

    def matched_picks() -> list[np.ndarray]:
        c = shared[rng.integers(len(shared))]
        return picks({g: groups[g][cells[g] == c] for g in "ABC"})

    # the same draws of picks, 20 at a time: one measurement is 20 draws x 9 images; --repeats gives
    # its spread (the 9 images of one draw are alike, so a measurement holds about 20 samples, not 180)
    draws = [matched_picks() if args.picks == "matched" else picks(groups) for _ in range(args.draws * args.repeats)]
    grids = [L.result_grid(a, b, c, seed=i) for i, (a, b, c) in enumerate(draws)]
    hits, blue, circle = hit_table(judge, grids)                     # (draws, 9) each
    whole = {g: pool for g in "ABC"}
    chance_grids = [L.result_grid(*picks(whole), seed=10_000 + i)
                    for i in range(max(args.draws, args.chance_draws))]
    c_hits, c_blue, c_circle = hit_table(judge, chance_grids)
    chance, chance20 = float(c_hits.mean()), float(c_hits[:args.draws].mean())
    shares = [float(hits[r * args.draws:(r + 1) * args.draws].mean()) for r in range(args.repeats)]
    share = shares[0]
    ratio = ratio_to(share, chance)
    first = slice(0, args.draws)
    print(f"\nred circle - red square + blue square ({k} exemplars each), {args.draws} draws x 9 images:")
    print(f"  classified blue circle: {share:.3f}  (blue: {blue[first].mean():.3f}, circle: {circle[first].mean():.3f})")
    print(f"  the centre images alone (the results without noise): {hits[first, L.CENTRE].mean():.3f}")
    se = float(np.std(shares, ddof=1) / np.sqrt(len(shares))) if args.repeats > 1 else float("nan")
    if args.repeats > 1:
        print(f"  {args.repeats} repeats of {args.draws} draws: " + " ".join(f"{x:.3f}" for x in shares)
              + f"; mean {np.mean(shares):.3f} +- {se:.3f} (standard error)")
    print(f"  chance (A, B, C random), {args.draws} draws: {chance20:.3f}  "
          f"(blue: {c_blue[:args.draws].mean():.3f}, circle: {c_circle[:args.draws].mean():.3f})")
    print(f"  chance, {len(chance_grids)} draws: {chance:.3f}")
    print(f"  ratio to chance ({len(chance_grids)} draws): {ratio:.1f}x   (target >= {TARGET_RATIO:g}x)"
          + (f"; mean of the repeats: {ratio_to(float(np.mean(shares)), chance):.1f}x" if args.repeats > 1 else ""))
    record = {"run": str(run_dir), "step": tr.step_count, "train_seed": tr.cfg.train.seed, "draws": args.draws,
              "share": share, "shares": shares, "share_mean": float(np.mean(shares)), "share_se": se,
              "share_blue": float(blue[first].mean()), "share_circle": float(circle[first].mean()),
              "share_centre": float(hits[first, L.CENTRE].mean()),
              "chance": chance, "chance_first_draws": chance20, "chance_draws": len(chance_grids),
              "pool_base_rate": base_rate, "ratio": ratio, "ratio_mean": ratio_to(float(np.mean(shares)), chance),
              "seed": args.seed, "exemplars": k, "picks_rule": args.picks, "picks": {g: len(v) for g, v in groups.items()}}
    print(json.dumps(record))
    # the picture: the first draw whose centre image is a blue circle (the first draw when none is)
    shown = next((i for i in range(len(draws)) if hits[i, L.CENTRE]), 0)
    record["_shown"] = (int(shown), int(hits[shown].sum()), draws[shown])
    return record


TARGET_RATIO = 3.0


def ratio_to(share: float, chance: float) -> float:
    """share / chance; with no blue circle at chance, unbounded when the arithmetic finds some, else
    undefined."""
    if chance > 0:
        return share / chance
    return float("inf") if share > 0 else float("nan")


def seeds_table(rows: list[dict]) -> str:
    """The README's table: one row per training seed."""
    repeats = max(len(r["shares"]) for r in rows) if rows else 1
    draws = rows[0].get("draws", 20) if rows else 20
    chance_draws = rows[0].get("chance_draws", 200) if rows else 200
    # with repeats, the mean of the repeats is the measurement that decides (one set of draws is noisy);
    # the first draws' ratio is given beside it
    out = [f"| training seed | share, first {draws} draws (blue, circle) | mean of {repeats} × {draws} draws "
           f"| chance ({chance_draws} draws) | ratio for the mean (first {draws} draws) | target 3× |",
           "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        n = len(r["shares"])
        mean = (f"{r['share_mean']:.3f} ± {r['share_se']:.3f}" if n > 1 else "–")
        deciding = r["ratio_mean"] if n > 1 else r["ratio"]
        held = "held" if deciding >= TARGET_RATIO else "**missed**"
        out.append(f"| {r['train_seed']} | {r['share']:.3f} ({r['share_blue']:.2f}, {r['share_circle']:.2f}) | {mean} "
                   f"| {r['chance']:.3f} | **{deciding:.1f}×** ({r['ratio']:.1f}×) | {held} |")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", help="a run folder trained with the shapes preset (default: train one)")
    p.add_argument("--steps", type=int, default=4000, help="steps to train when no --run is given")
    p.add_argument("--out", default="runs/bench-latent-shapes",
                   help="where to train when no --run is given (with --train-seeds: OUT/seed0, OUT/seed1, ...)")
    p.add_argument("--train-seeds", metavar="SEEDS",
                   help="measure one generator per training seed (a range 0-4, a list 0,3,7 or a count 5), each "
                        "trained --steps steps in OUT/seedS unless it is there already; ends with a table")
    p.add_argument("--pool", type=int, default=3000, help="latents drawn to find the concepts")
    p.add_argument("--draws", type=int, default=20, help="random draws of the picks")
    p.add_argument("--chance-draws", type=int, default=200,
                   help="draws for a steadier chance level (the first --draws are reported as well)")
    p.add_argument("--confidence", type=float, default=0.9, help="classifier probability to accept a pick")
    p.add_argument("--exemplars", type=int, default=3, metavar="K",
                   help="latents averaged per concept (DCGAN: 3); the chance level averages as many")
    p.add_argument("--picks", choices=("any", "clear", "matched"), default="any",
                   help="which confident images make a concept: any (confident on colour and shape), clear "
                        "(confident on size and position as well), matched (clear, and all of a draw's picks share "
                        "one size and position, so that A - B differs in shape alone)")
    p.add_argument("--seed", type=int, default=0, help="the measurement's seed (pool and draws)")
    p.add_argument("--repeats", type=int, default=1,
                   help="repeat the measurement of --draws draws this often (new picks) to show its spread")
    p.add_argument("--save-picks", metavar="DIR",
                   help="write the shown draw's a.npy, b.npy, c.npy here (for `gan-studio latent`)")
    p.add_argument("--screenshot", metavar="FILE.png",
                   help="then open the window's latent lab on the run with one draw's picks and save it "
                        "(the first draw whose centre image is a blue circle)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.train_seeds is not None:
        from gan_studio.core.bench import parse_seeds
        from gan_studio.core.errors import ConfigError
        if args.run or args.save_picks or args.screenshot:
            p.error("--train-seeds measures its own run folders: drop --run, --save-picks and --screenshot")
        try:
            seeds = parse_seeds(args.train_seeds)
        except ConfigError as e:
            p.error(str(e).replace("--seeds", "--train-seeds"))
        rows = []
        for s in seeds:
            run_dir = train_seed(Path(args.out) / f"seed{s}", args.steps, s)
            rows.append(measure(run_dir, args))
            print()
        print(f"red circle - red square + blue square = blue circle, `shapes` preset at {args.steps} steps, "
              f"measurement seed {args.seed}:\n")
        print(seeds_table(rows))
        first = sum(r["ratio"] >= TARGET_RATIO for r in rows)
        mean = sum(r["ratio_mean"] >= TARGET_RATIO for r in rows)
        decides = "the mean of the repeats" if args.repeats > 1 else f"the first {args.draws} draws"
        print(f"\nthe target ({TARGET_RATIO:g}x chance) held on {mean if args.repeats > 1 else first} of "
              f"{len(rows)} training seeds by {decides} (on the first {args.draws} draws: {first}; for the mean "
              f"of the repeats: {mean})")
        return 0

    run_dir = Path(args.run) if args.run else train_shapes(Path(args.out), args.steps)
    record = measure(run_dir, args)
    shown, n_hits, draw = record["_shown"]
    if args.save_picks:
        for name, z in zip("abc", draw):
            L.save_latents_npy(Path(args.save_picks) / f"{name}.npy", z)
    if args.screenshot:
        print(f"  the screenshot shows draw {shown} ({n_hits} of its 9 images are blue circles)")
        screenshot(run_dir, draw, Path(args.screenshot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
