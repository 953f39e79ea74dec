"""screen: python screen.py NAME JSON_BASE SEEDS JSON_CURE  -> per seed: at3000 strict rkl hq | cure strict hq rkl"""
import copy, json, sys, time, torch
torch.set_num_threads(1)
from gan_studio.core.families.registry import make_trainer
from gan_studio.core.presets import load_preset
name, sets, seeds, cure = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
seeds = list(range(int(seeds.split("-")[0]), int(seeds.split("-")[1]) + 1)) if "-" in seeds else [int(s) for s in seeds.split(",")]
coll = ok = 0
for seed in seeds:
    cfg = load_preset("ring8")
    for k, v in sets.items():
        cfg.set(k, v)
    cfg.set("train.seed", seed)
    tr = make_trainer(cfg, device="cpu")
    t = time.time()
    for _ in range(3000):
        tr.step()
    e = tr.evaluate()
    c = e["modes_strict"] <= 4 or (e["rkl"] or 0) > 0.5
    coll += c
    for k, v in cure.items():
        tr.apply_setting(k, v)
    for _ in range(3000):
        tr.step()
    e2 = tr.evaluate()
    ok += e2["modes_strict"] >= 7
    print(name, seed, "at3000", e["modes_strict"], round(e["rkl"], 3), round(e["hq"] or 0, 1), "C" if c else "-",
          "| cure", e2["modes_strict"], round(e2["hq"] or 0, 1), round(e2["rkl"], 3), round(time.time() - t), flush=True)
print(name, "SUMMARY collapsed", coll, "of", len(seeds), "cured(>=7)", ok, flush=True)
