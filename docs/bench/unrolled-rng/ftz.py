import sys, statistics, torch
sys.path.insert(0, "benchmarks")
torch.set_num_threads(1)
import bench_unrolled as B
from gan_studio.core.bench import build_bench_config
from gan_studio.core.training.trainer import Trainer
if __name__ == "__main__":
    sets = ["tricks.unrolled.k=10", "tricks.unrolled.enabled=true", "tricks.unrolled.method=second-order"]
    from gan_studio.core.presets import load_preset
    cfg = load_preset("unrolled-metz")
    tr = Trainer(build_bench_config("unrolled-metz", cfg.data.name, 0, sets), device="cpu")
    port = B.PortSetting(10)
    loops = {"higher": port.step_higher, "trainer": tr.step}
    for f in loops.values():
        for _ in range(2): f()
    res = {(n, z): [] for n in loops for z in (False, True)}
    for r in range(int(sys.argv[1])):
        for n, f in loops.items():
            for z in (False, True):
                torch.set_flush_denormal(z)
                res[(n, z)].append(B._timed(f, 8))
        torch.set_flush_denormal(False)
        print(r, {f"{n}{'-ftz' if z else ''}": round(v[-1], 2) for (n, z), v in res.items()}, flush=True)
    for n in loops:
        print(n, "ftz/off", statistics.median([b / a for a, b in zip(res[(n, False)], res[(n, True)])]))
