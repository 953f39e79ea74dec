"""Print one `gan-studio bench modes` command per screening job, one seed each (seed-major, longest first).

    python3 jobs.py OUT            # the first call: five variants on seeds 4, 6, 200-203
    python3 jobs.py OUT lat3       # the second call: lat3 on seeds 201-216
"""
import sys

out = sys.argv[1]
VARIANTS = {   # name: (G steps, --set overrides of best-grid as it was then)
    "long60": (60000, ["tricks.instance_noise.anneal_steps=30000", "train.lr_decay_start=30000", "train.lr_decay_steps=30000"]),
    "g256": (40000, ["model.g_width=256"]),
    "base": (40000, []),
    "noise16": (40000, ["tricks.instance_noise.anneal_steps=16000", "train.lr_decay_start=16000", "train.lr_decay_steps=24000"]),
    "lat3": (40000, ["model.latent_dim=3"]),
}
if sys.argv[2:] == ["lat3"]:
    jobs = [(s, "lat3") for s in range(201, 217)]
else:
    jobs = [(s, name) for s in (4, 6, 200, 201, 202, 203) for name in VARIANTS]
for s, name in jobs:
    steps, sets = VARIANTS[name]
    args = "".join(f" --set {x}" for x in sets)
    keep = " --keep-runs" if name == "base" else ""   # its checkpoints: evaluated again with g_ema off
    print(f"OMP_NUM_THREADS=1 python3 -m gan_studio bench modes --data grid25 --seeds {s}-{s} --steps {steps} "
          f"--compare best-grid{args} --jobs 1 --threads 1 --quiet{keep} --out {out}/{name}-s{s} > {out}/{name}-s{s}.log 2>&1")
