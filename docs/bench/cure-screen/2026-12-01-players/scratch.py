import sys, time, torch
torch.set_num_threads(1)
from gan_studio.core.families.registry import make_trainer
from gan_studio.core.presets import load_preset
for seed in [int(s) for s in sys.argv[1].split(",")]:
    cfg = load_preset("ring8"); cfg.set("train.seed", seed); cfg.set("tricks.packing.enabled", True)
    if len(sys.argv) > 2: cfg.set("tricks.packing.m", int(sys.argv[2]))
    tr = make_trainer(cfg, device="cpu"); t0=time.time(); tr_=[]
    for i in range(6000):
        tr.step()
        if (i+1) % 500 == 0:
            e = tr.evaluate(); tr_.append(f"{e['modes_strict']}/{e['hq'] or 0:.0f}")
    print(seed, "packing from scratch", " ".join(tr_), f"{time.time()-t0:.0f}s", flush=True)
