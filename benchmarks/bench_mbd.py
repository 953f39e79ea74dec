"""What minibatch discrimination costs, and what the closeness sums by blocks save.

    python benchmarks/bench_mbd.py [--rounds 5] [--steps 10] [--threads 1] [--kernels 100] [--kernel-dim 5]

Two comparisons, each in this one process with alternating rounds (load from other processes hits
both alike), one torch thread unless ``--threads``; each prints the median round and the median of
the per-round ratios:

- the closeness sums alone, forward and backward, on a batch of 256 rows (what D sees per batch on
  ring8): :func:`gan_studio.core.fast.closeness.l1_closeness` against ``torch.cdist`` + autograd
  (:func:`closeness_reference`, what the layer ran before);
- a Trainer step of the ``ring8`` preset with the trick on (Salimans et al.'s 100 kernels of 5),
  the layer's ``fast`` flag on against off, and the same preset without the trick, for scale.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from gan_studio.core.fast.closeness import closeness_reference, l1_closeness
from gan_studio.core.presets import load_preset
from gan_studio.core.training.trainer import Trainer


def _timed(fn, steps: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def _op(fn, rows: int, kernels: int, kernel_dim: int):
    torch.manual_seed(0)
    m = (torch.randn(rows, kernels, kernel_dim) * 0.5).requires_grad_()
    g = torch.randn(rows, kernels)

    def run():
        m.grad = None
        (fn(m) * g).sum().backward()
    return run


def _trainer(kernels: int, kernel_dim: int, fast: bool | None):
    cfg = load_preset("ring8")
    if fast is not None:
        cfg.set("tricks.minibatch_discrimination.enabled", True)
        cfg.set("tricks.minibatch_discrimination.kernels", kernels)
        cfg.set("tricks.minibatch_discrimination.kernel_dim", kernel_dim)
    tr = Trainer(cfg, device="cpu")
    if fast is not None:
        for layer in tr.D.mbd.values():
            layer.fast = fast
    return tr.step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--kernels", type=int, default=100)
    ap.add_argument("--kernel-dim", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    loops = {"closeness by blocks (fwd + bwd, 256 rows)": _op(l1_closeness, 256, args.kernels, args.kernel_dim),
             "closeness by cdist (fwd + bwd, 256 rows)": _op(closeness_reference, 256, args.kernels, args.kernel_dim),
             "ring8 step, trick on, by blocks": _trainer(args.kernels, args.kernel_dim, True),
             "ring8 step, trick on, by cdist": _trainer(args.kernels, args.kernel_dim, False),
             "ring8 step, trick off": _trainer(args.kernels, args.kernel_dim, None)}
    times: dict[str, list[float]] = {name: [] for name in loops}
    for r in range(args.rounds):
        for name, fn in loops.items():
            times[name].append(_timed(fn, args.steps))
        print(f"round {r + 1}: " + "   ".join(f"{n.split(' (')[0]} {t[-1] * 1e3:.1f} ms" for n, t in times.items()),
              flush=True)
    print(f"\nminibatch discrimination, {args.kernels} kernels of {args.kernel_dim}, {args.threads} thread(s), "
          f"torch {torch.__version__}, median of {args.rounds} rounds of {args.steps}")
    for name, t in times.items():
        print(f"{name:46s} {statistics.median(t) * 1e3:8.1f} ms")

    def ratio(a: str, b: str) -> str:
        rs = [tb / ta for ta, tb in zip(times[a], times[b])]
        return f"{statistics.median(rs):.2f}x (rounds {min(rs):.2f} - {max(rs):.2f})"
    print(f"closeness, blocks / cdist                      = {ratio('closeness by blocks (fwd + bwd, 256 rows)', 'closeness by cdist (fwd + bwd, 256 rows)')}")
    print(f"ring8 step with the trick, blocks / cdist      = {ratio('ring8 step, trick on, by blocks', 'ring8 step, trick on, by cdist')}")
    print(f"ring8 step with the trick (blocks) / without   = "
          f"{statistics.median(a / b for a, b in zip(times['ring8 step, trick on, by blocks'], times['ring8 step, trick off'])):.1f}x the time")


if __name__ == "__main__":
    main()
