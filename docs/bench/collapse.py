"""Collapse check of the ring8 preset: python docs/bench/collapse.py THREADS JSON_OVERRIDES SEEDS STEPS
(e.g. 1 {} 0,1,2 3000). Trains each seed, evaluates the final G on 2,500 samples and prints
seed, modes, strict modes, HQ %, reverse KL, seconds; the last line counts the collapsed seeds
(at most 4 strict modes or reverse KL above 0.5)."""
import sys, json, torch, time
threads = int(sys.argv[1]); torch.set_num_threads(threads)
from gan_studio.core.presets import load_preset
from gan_studio.core.families.registry import make_trainer
from gan_studio.core.config import parse_override
sets = json.loads(sys.argv[2]); seeds = [int(s) for s in sys.argv[3].split(",")]; steps = int(sys.argv[4])
out=[]
for seed in seeds:
    cfg = load_preset("ring8")
    for k,v in sets.items(): cfg.set(k, v)
    cfg.set("train.seed", seed)
    tr = make_trainer(cfg, device="cpu")
    t=time.time()
    for i in range(steps): tr.step()
    e = tr.evaluate()
    out.append((seed, e["modes"], e["modes_strict"], round(e["hq"] or 0,1), round(e["rkl"] if e["rkl"] is not None else 9,3)))
    print(seed, e["modes"], e["modes_strict"], round(e["hq"] or 0,1), round(e["rkl"] if e["rkl"] is not None else 9,3), round(time.time()-t,1), flush=True)
ok = sum(1 for o in out if o[2] <= 4 or o[4] > 0.5)
print("COLLAPSED", ok, "of", len(out), sets)
