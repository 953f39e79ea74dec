"""python screen.py JSON_SETS SEEDS JSON_CURES STEPS EVERY [CACHE_DIR]
Trains ring8 + overrides (cfg.set) for 3000 steps (cached as ring8-<sha8 of sets>-s<seed>.pt), prints
strict/HQ/rKL at 3000 and collapse flag (<=4 strict or rKL>0.5), then per cure (name -> live settings via
apply_setting) trains STEPS more, evaluating every EVERY steps; prints trajectory, final, first step with
>=7 strict and whether >=7 holds at every later evaluation. Summary per cure at the end."""
import copy, hashlib, json, os, sys, time
import torch
torch.set_num_threads(1)
from gan_studio.core.families.registry import make_trainer
from gan_studio.core.presets import load_preset

def seed_list(t):
    if "-" in t and "," not in t:
        a, b = (int(v) for v in t.split("-")); return list(range(a, b + 1))
    return [int(s) for s in t.split(",")]

sets = json.loads(sys.argv[1]); seeds = seed_list(sys.argv[2]); cures = json.loads(sys.argv[3])
steps = int(sys.argv[4]); every = int(sys.argv[5]); cache = sys.argv[6] if len(sys.argv) > 6 else "cure-cache"
BASE = 3000
tag = hashlib.sha1(json.dumps(sets, sort_keys=True).encode()).hexdigest()[:8]
print("sets", json.dumps(sets), "tag", tag, flush=True)
res = {n: [] for n in cures}; ncoll = 0
for seed in seeds:
    cfg = load_preset("ring8")
    for k, v in sets.items(): cfg.set(k, v)
    cfg.set("train.seed", seed)
    tr = make_trainer(cfg, device="cpu")
    path = os.path.join(cache, f"ring8-{tag}-s{seed}.pt")
    t = time.time()
    if os.path.exists(path):
        tr.load_state_dict(torch.load(path, weights_only=False))
    else:
        for i in range(BASE): tr.step()
        torch.save(tr.state_dict(), path + ".tmp"); os.replace(path + ".tmp", path)
    e = tr.evaluate(); coll = e["modes_strict"] <= 4 or e["rkl"] is None or e["rkl"] > 0.5
    if e["rkl"] is None: e["rkl"] = float("nan")
    e["hq"] = e["hq"] or 0.0; ncoll += coll
    print(f"seed {seed} at3000 strict={e['modes_strict']} hq={e['hq']:.1f} rkl={e['rkl']:.3f} collapsed={coll} ({time.time()-t:.0f}s)", flush=True)
    st = copy.deepcopy(tr.state_dict())
    for name, cure in cures.items():
        t = time.time()
        tr2 = make_trainer(cfg.copy(), device="cpu"); tr2.load_state_dict(copy.deepcopy(st))
        for k, v in cure.items(): tr2.apply_setting(k, v)
        traj = []
        for i in range(1, steps + 1):
            tr2.step()
            if i % every == 0 or i == steps:
                e2 = tr2.evaluate(); traj.append((BASE + i, e2["modes_strict"], e2["hq"] or 0, float("nan") if e2["rkl"] is None else e2["rkl"]))
        first = next((s for s, m, h, r in traj if m >= 7), None)
        holds = first is not None and all(m >= 7 for s, m, h, r in traj if s >= first)
        f = traj[-1]
        res[name].append((seed, coll, f[1], f[2], f[3], first, holds))
        print(f"  {name}: " + " ".join(f"{s}:{m}/{h:.0f}/{r:.2f}" for s, m, h, r in traj)
              + f" | final strict={f[1]} hq={f[2]:.1f} first7={first} holds={holds} ({time.time()-t:.0f}s)", flush=True)
print(f"collapse at 3000: {ncoll} of {len(seeds)}", flush=True)
for n, rows in res.items():
    ok = sum(r[2] >= 7 for r in rows); okc = sum(r[2] >= 7 and r[1] for r in rows)
    print(f"{n}: {ok}/{len(rows)} >=7 strict at {BASE+steps} ({okc} of them collapsed first); strict "
          f"{','.join(str(r[2]) for r in rows)}; HQ {min(r[3] for r in rows):.1f}-{max(r[3] for r in rows):.1f}; "
          f"first7 {[r[5] for r in rows]}; holds {[int(r[6]) for r in rows]}", flush=True)
