import sys, torch
torch.set_num_threads(1)
from gan_studio.core.bench import run_one
for s in sys.argv[1].split(","):
    r = run_one("best-grid", "grid25", int(s), 40000)
    print(s, r, flush=True)
