"""The cure on a collapsed run: python docs/bench/cure.py THREADS JSON_OVERRIDES SEEDS JSON_CURES STEPS.
Trains ring8 (with the overrides) for 3,000 steps, then for each cure (a dict of live settings)
continues a copy for STEPS more steps and prints strict modes, HQ %, reverse KL and seconds."""
import sys, json, torch, time, copy
torch.set_num_threads(int(sys.argv[1]))
from gan_studio.core.presets import load_preset
from gan_studio.core.families.registry import make_trainer
sets = json.loads(sys.argv[2]); seeds = [int(s) for s in sys.argv[3].split(",")]; cures = json.loads(sys.argv[4]); steps=int(sys.argv[5])
for seed in seeds:
    cfg = load_preset("ring8")
    for k,v in sets.items(): cfg.set(k, v)
    cfg.set("train.seed", seed)
    tr = make_trainer(cfg, device="cpu")
    for i in range(3000): tr.step()
    e = tr.evaluate(); st = copy.deepcopy(tr.state_dict())
    line=[seed, "at3000", e["modes_strict"], round(e["hq"] or 0,1)]
    for name, cure in cures.items():
        t=time.time()
        tr2 = make_trainer(cfg.copy(), device="cpu"); tr2.load_state_dict(copy.deepcopy(st))
        for k,v in cure.items(): tr2.apply_setting(k, v)
        for i in range(steps): tr2.step()
        e2 = tr2.evaluate()
        line += [name, e2["modes_strict"], round(e2["hq"] or 0,1), round(e2["rkl"] or -1,3), round(time.time()-t)]
    print(*line, flush=True)
