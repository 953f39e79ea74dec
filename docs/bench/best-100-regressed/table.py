import sys, json
from concurrent.futures import ProcessPoolExecutor
from gan_studio.core.bench import run_one
preset, data, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]); seeds = range(int(sys.argv[4]), int(sys.argv[5])+1)
with ProcessPoolExecutor(2) as ex:
    for r in ex.map(run_one, [preset]*len(seeds), [data]*len(seeds), list(seeds), [steps]*len(seeds)):
        print(json.dumps(r.__dict__), flush=True)
