"""Could the unrolled step draw its latents faster than torch's CPU normal_? (issue 14, stop 42)

One 512 x 256 batch of float32 standard normals, as the look-ahead draws ten of each G step, one
thread, median of 5 timings of 50 draws each:

    OMP_NUM_THREADS=1 python docs/bench/unrolled-rng/rng.py
"""
import math
import statistics
import time

import numpy as np
import torch

torch.set_num_threads(1)
N = 512 * 256


def timed(fn, n=50):
    for _ in range(3):
        fn()
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(runs)


g = torch.Generator().manual_seed(0)
buf = torch.empty(512, 256)
rows = [("torch.randn (mt19937 + Box-Muller), what the Trainer and the reference use",
         timed(lambda: torch.randn(512, 256, generator=g, out=buf))),
        ("torch uniform_ alone (mt19937)", timed(lambda: buf.uniform_(generator=g)))]
arr = buf.numpy()
for name, bitgen in [("PCG64", np.random.PCG64), ("SFC64", np.random.SFC64), ("Philox", np.random.Philox)]:
    rng = np.random.Generator(bitgen(1))
    rows.append((f"numpy {name} standard_normal(float32) into the same buffer",
                 timed(lambda: rng.standard_normal(out=arr, dtype=np.float32))))
raw = np.random.SFC64(1)
rows.append(("numpy SFC64 raw 64-bit words alone (N/2)", timed(lambda: raw.random_raw(N // 2))))
ctr = torch.arange(N // 2, dtype=torch.int64)


def box_muller_into(x):   # 64-bit words -> two 24-bit uniforms each -> N normals in buf
    u1 = (x & 0xFFFFFF).float().mul_(2.0 ** -24)
    u2 = ((x >> 32) & 0xFFFFFF).float().mul_(2.0 ** -24)
    r = torch.log1p(-u1).mul_(-2.0).sqrt_()
    th = u2.mul_(2 * math.pi)
    flat = buf.view(-1)
    torch.mul(r, torch.cos(th), out=flat[:N // 2])
    torch.mul(r, torch.sin(th), out=flat[N // 2:])


def splitmix_box_muller():   # a counter hash in torch ops, then Box-Muller in torch ops
    x = ctr + 12345
    x = x ^ (x >> 30)
    x.mul_(0x3F58476D1CE4E5B9)
    x ^= x >> 27
    x.mul_(0x14D049BB133111EB)
    x ^= x >> 31
    box_muller_into(x)


rows.append(("splitmix64 counter hash + Box-Muller in torch ops", timed(splitmix_box_muller)))


def sfc64_box_muller():   # numpy's fastest raw words, then uniforms and Box-Muller in torch ops
    box_muller_into(torch.from_numpy(raw.random_raw(N // 2).view(np.int64)))


rows.append(("numpy SFC64 raw words + Box-Muller in torch ops", timed(sfc64_box_muller)))
print(f"torch {torch.__version__}, numpy {np.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
      f"{torch.get_num_threads()} thread")
for name, us in rows:
    print(f"{us:8.0f} us  {name}")
