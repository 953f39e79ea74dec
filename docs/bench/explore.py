"""Exploration for the mode-collapse table: train one configuration, keep moving averages of G with several decays
beside it, and evaluate the live G and each average at the given steps (PacGAN metrics, 2,500 samples).
Run from the repository root: OMP_NUM_THREADS=1 .venv/bin/python docs/bench/explore.py --data grid25 --seeds 0,1 ..."""
import sys, time, json, argparse
import torch

from gan_studio.core.bench import build_bench_config
from gan_studio.core.families.registry import make_trainer

ap = argparse.ArgumentParser()
ap.add_argument("--preset", default="best"); ap.add_argument("--data", default="ring8")
ap.add_argument("--seeds", default="0"); ap.add_argument("--steps", type=int, default=10000)
ap.add_argument("--set", action="append", default=[]); ap.add_argument("--decays", default="0.99,0.999,0.9995")
ap.add_argument("--evals", default="")
a = ap.parse_args()
torch.set_num_threads(1)
decays = [float(d) for d in a.decays.split(",") if d]
evals = sorted(set([int(e) for e in a.evals.split(",") if e] + [a.steps]))
for seed in [int(s) for s in a.seeds.split(",")]:
    cfg = build_bench_config(a.preset, a.data, seed, a.set)
    tr = make_trainer(cfg, device="cpu")
    names = [n for n, _ in tr.G.named_parameters()]
    params = [p for _, p in tr.G.named_parameters()]
    emas = {d: [p.detach().clone() for p in params] for d in decays}
    t0 = time.perf_counter()
    for s in range(1, a.steps + 1):
        tr.step()
        with torch.no_grad():
            for d, e in emas.items():
                torch._foreach_lerp_(e, [p.detach() for p in params], 1 - d)
        if s in evals:
            el = time.perf_counter() - t0
            res = {"live": tr.evaluate()}
            live = [p.detach().clone() for p in params]
            with torch.no_grad():
                for d, e in emas.items():
                    for p, v in zip(params, e): p.copy_(v)
                    res[f"ema{d}"] = tr.evaluate()
                for p, v in zip(params, live): p.copy_(v)
            line = " | ".join(f"{k}: m{r['modes']} s{r['modes_strict']} hq{r['hq']:.1f} kl{(r['rkl'] or 9):.3f}" for k, r in res.items())
            print(f"seed {seed} step {s} t={el:.0f}s {line}", flush=True)
            if s == a.steps:
                zz = torch.randn(2500, tr.cfg.model.latent_dim, generator=tr.eval_generator())
                x = tr.generate(zz).double()
                d = torch.cdist(x, torch.as_tensor(tr.data.modes, dtype=torch.float64)).min(1).values / tr.data.sigma
                print("   counts", res["live"]["mode_counts"], flush=True)
                print("   dist/sigma fractions <2,<3,<4,<6,<10,<20:", [round(float((d < q).double().mean()) * 100, 1) for q in (2, 3, 4, 6, 10, 20)], flush=True)
