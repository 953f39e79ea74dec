"""screen cures on cached collapsed ring8 states: scr.py SEEDS JSON_CURES STEPS EVERY"""
import copy, json, os, sys, time, torch
torch.set_num_threads(1)
from gan_studio.core.families.registry import make_trainer
from gan_studio.core.presets import load_preset
def seed_list(t):
    if "-" in t and "," not in t:
        a, b = (int(v) for v in t.split("-")); return list(range(a, b + 1))
    return [int(s) for s in t.split(",")]
seeds = seed_list(sys.argv[1]); cures = json.loads(sys.argv[2]); steps = int(sys.argv[3]); every = int(sys.argv[4])
cache = os.environ.get("CACHE", "/tmp/cs")
res = {n: [] for n in cures}
for seed in seeds:
    cfg = load_preset("ring8"); cfg.set("train.seed", seed)
    st = torch.load(f"{cache}/ring8-bf21a9e8-s{seed}.pt", weights_only=False)
    for name, cure in cures.items():
        t0 = time.time()
        c2 = cfg.copy()
        for k, v in cure.items():
            if k.startswith("base:"): c2.set(k[5:], v)
        tr = make_trainer(c2, device="cpu"); tr.load_state_dict(copy.deepcopy(st))
        e0 = tr.evaluate()
        for k, v in cure.items():
            if not k.startswith("!") and not k.startswith("base:"): tr.apply_setting(k, v)
        D = tr.D
        init = cure.get("!init")
        if init:
            m = D.pack; new = D.pack_in[str(m)]; old = D.body[0]
            with torch.no_grad():
                if init == "first":
                    new.weight.zero_(); new.weight[:, :old.weight.shape[1]].copy_(old.weight); new.bias.copy_(old.bias)
                elif init == "random":
                    new.reset_parameters()
        if cure.get("!fresh_d"):
            with torch.no_grad():
                for mod in D.modules():
                    if isinstance(mod, torch.nn.Linear): mod.reset_parameters()
            tr.opt_d.state.clear()
        if cure.get("!reset_d"): tr.opt_d.state.clear()
        if cure.get("!fresh_g"):
            with torch.no_grad():
                for mod in tr.G.modules():
                    if isinstance(mod, torch.nn.Linear): mod.reset_parameters()
            tr.opt_g.state.clear()
        if cure.get("!reset_g"): tr.opt_g.state.clear()
        tr_ = []
        for i in range(steps):
            tr.step()
            if (i + 1) % every == 0:
                e = tr.evaluate(); tr_.append(f"{e['modes_strict']}/{e['hq'] or 0:.0f}")
        e = tr.evaluate()
        res[name].append((seed, e["modes_strict"], e["hq"] or 0, e["rkl"]))
        print(seed, name, f"at3000 {e0['modes_strict']}/{e0['hq']:.0f}", "trace", " ".join(tr_), f"{time.time()-t0:.0f}s", flush=True)
for n, rows in res.items():
    print(f"{n}: {sum(r[1]>=7 for r in rows)}/{len(rows)} strict {[r[1] for r in rows]} HQ {[round(r[2]) for r in rows]}", flush=True)
