"""cand.py JSON_SETS SEEDS : collapse at 3000 (no packing), cure p2/p4 for 3000 with trace, packing from scratch trace"""
import copy, json, sys, time, torch
torch.set_num_threads(1)
from gan_studio.core.families.registry import make_trainer
from gan_studio.core.presets import load_preset
sets = json.loads(sys.argv[1])
def mk(seed, extra=()):
    cfg = load_preset("ring8"); cfg.set("train.seed", seed)
    for k, v in list(sets.items()) + list(extra): cfg.set(k, v)
    return make_trainer(cfg, device="cpu")
def run(tr, n, every=500):
    out = []
    for i in range(n):
        tr.step()
        if (i + 1) % every == 0:
            e = tr.evaluate(); out.append(f"{e['modes_strict']}/{e['hq'] or 0:.0f}")
    return out
for seed in [int(s) for s in sys.argv[2].split(",")]:
    t0 = time.time()
    tr = mk(seed); base = run(tr, 3000)
    st = copy.deepcopy(tr.state_dict())
    res = [f"{seed} collapse {' '.join(base)}"]
    for name, cure in [("p2", {"tricks.packing.enabled": True}), ("p4", {"tricks.packing.enabled": True, "tricks.packing.m": 4})]:
        t2 = mk(seed); t2.load_state_dict(copy.deepcopy(st))
        for k, v in cure.items(): t2.apply_setting(k, v)
        res.append(f"  {name} {' '.join(run(t2, 3000))}")
    res.append(f"  scratch-p2 {' '.join(run(mk(seed, [('tricks.packing.enabled', True)]), 3000))}")
    print("\n".join(res), f"{time.time()-t0:.0f}s", flush=True)
