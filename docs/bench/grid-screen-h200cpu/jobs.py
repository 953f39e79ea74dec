"""Print one shell command per screening job (seed-major, longest first)."""
import sys
steps_scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
out = sys.argv[2] if len(sys.argv) > 2 else "/tmp/scr"
seeds = [4, 6, 200, 201, 202, 203]
configs = {
    "long60": (60000, ["tricks.instance_noise.anneal_steps=30000", "train.lr_decay_start=30000", "train.lr_decay_steps=30000"]),
    "g256": (40000, ["model.g_width=256"]),
    "base": (40000, []),
    "noise16": (40000, ["tricks.instance_noise.anneal_steps=16000", "train.lr_decay_start=16000", "train.lr_decay_steps=24000"]),
    "lat3": (40000, ["model.latent_dim=3"]),
}
for s in seeds:
    for name, (steps, sets) in configs.items():
        n = max(int(steps * steps_scale), 10)
        sets = [x for x in sets]
        if steps_scale != 1.0:   # scale the schedule too
            sets = [x.split("=")[0] + "=" + str(max(int(int(x.split("=")[1]) * steps_scale), 1)) if "steps" in x or "start" in x else x for x in sets]
            sets += [f"tricks.instance_noise.anneal_steps={int(20000*steps_scale)}"] if not any("anneal" in x for x in sets) else []
        keep = " --keep-runs" if name == "base" else ""
        args = " ".join(f"--set {x}" for x in sets)
        print(f"OMP_NUM_THREADS=1 python3 -m gan_studio bench modes --data grid25 --seeds {s}-{s} --steps {n} --compare best-grid {args} --jobs 1 --threads 1 --quiet{keep} --out {out}/{name}-s{s} > {out}/{name}-s{s}.log 2>&1")
