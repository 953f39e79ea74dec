"""The cure on a collapsed run:
python docs/bench/cure.py THREADS JSON_OVERRIDES SEEDS JSON_CURES STEPS [CACHE_DIR]

Trains ring8 (with the overrides) for 3,000 steps, then for each cure (a name -> dict of live
settings, applied with Trainer.apply_setting as the window does) continues a copy for STEPS more
steps. Prints one line per seed (strict modes and HQ % at 3,000, then per cure: strict modes, HQ %,
reverse KL, seconds) and, at the end, per cure: the seeds with at least 7 strict modes, the strict
modes per seed and the HQ range. SEEDS: a list (0,1,2) or a range (0-9). CACHE_DIR (optional) keeps
the 3,000-step states (ring8-<overrides>-s<seed>.pt), so several cures can be measured one after
the other on the same collapsed runs; a state found there is used as it is.

With CURE_EVAL_EVERY=N in the environment, each cure is also evaluated every N steps after the switch
(the same 2,500-sample metrics; evaluation draws from its own generator, so training is unchanged),
and each line gains: the first step at which at least 7 modes were strictly held, and at how many of
the evaluations; the summary gains how many seeds reached 7 at some evaluation.

Example (the README's rows):
OMP_NUM_THREADS=1 python docs/bench/cure.py 1 '{}' 0-9 '{"packing": {"tricks.packing.enabled": true}}' 3000
"""
import copy
import hashlib
import json
import os
import sys
import time

import torch

torch.set_num_threads(int(sys.argv[1]))
from gan_studio.core.families.registry import make_trainer  # noqa: E402
from gan_studio.core.presets import load_preset  # noqa: E402


def seed_list(text):
    if "-" in text and "," not in text:
        a, b = (int(v) for v in text.split("-"))
        return list(range(a, b + 1))
    return [int(s) for s in text.split(",")]


sets = json.loads(sys.argv[2])
seeds = seed_list(sys.argv[3])
cures = json.loads(sys.argv[4])
steps = int(sys.argv[5])
cache = sys.argv[6] if len(sys.argv) > 6 else None
every = int(os.environ.get("CURE_EVAL_EVERY", "0"))
reached = {name: [] for name in cures}
BASE = 3000
tag = hashlib.sha1(json.dumps(sets, sort_keys=True).encode()).hexdigest()[:8]
results = {name: [] for name in cures}
for seed in seeds:
    cfg = load_preset("ring8")
    for k, v in sets.items():
        cfg.set(k, v)
    cfg.set("train.seed", seed)
    tr = make_trainer(cfg, device="cpu")
    path = os.path.join(cache, f"ring8-{tag}-s{seed}.pt") if cache else None
    if path and os.path.exists(path):
        tr.load_state_dict(torch.load(path, weights_only=False))
    else:
        for i in range(BASE):
            tr.step()
        if path:
            os.makedirs(cache, exist_ok=True)
            torch.save(tr.state_dict(), path + ".tmp")
            os.replace(path + ".tmp", path)
    e = tr.evaluate()
    st = copy.deepcopy(tr.state_dict())
    line = [seed, f"at{BASE}", e["modes_strict"], round(e["hq"] or 0, 1)]
    for name, cure in cures.items():
        t = time.time()
        tr2 = make_trainer(cfg.copy(), device="cpu")
        tr2.load_state_dict(copy.deepcopy(st))
        for k, v in cure.items():
            tr2.apply_setting(k, v)
        trace = []
        for i in range(steps):
            tr2.step()
            if every and (i + 1) % every == 0 and i + 1 < steps:
                trace.append((tr2.step_count, tr2.evaluate()["modes_strict"]))
        e2 = tr2.evaluate()
        trace.append((tr2.step_count, e2["modes_strict"]))
        results[name].append((seed, e2["modes_strict"], e2["hq"] or 0.0, e2["rkl"]))
        line += [name, e2["modes_strict"], round(e2["hq"] or 0, 1), round(e2["rkl"] if e2["rkl"] is not None else -1, 3),
                 round(time.time() - t)]
        if every:
            hits = [st for st, m in trace if m >= 7]
            reached[name].append(bool(hits))
            line += [f"first>=7:{hits[0] if hits else '-'}", f"evals>=7:{len(hits)}/{len(trace)}",
                     "trace:" + ",".join(str(m) for _, m in trace)]
    print(*line, flush=True)
for name, rows in results.items():
    ok = sum(r[1] >= 7 for r in rows)
    hq = [r[2] for r in rows]
    print(f"{name}: {ok} of {len(rows)} seeds with >= 7 strict modes at {BASE + steps}; strict modes per seed "
          f"{', '.join(str(r[1]) for r in rows)}; HQ {min(hq):.1f}-{max(hq):.1f} %"
          + (f"; {sum(reached[name])} of {len(rows)} held at least 7 strictly at some evaluation every {every} steps"
             if every else ""), flush=True)
