"""What unrolling costs, and how the Trainer's unrolled step compares with the `higher` library's.

    python benchmarks/bench_unrolled.py [--steps 30] [--threads 1] [--preset vanilla] [--data ring8]
    python benchmarks/bench_unrolled.py --reference higher [--rounds 5] [--steps 10] [--k 10]

Without ``--reference``: Trainer step time for k = 0 (plain), 1, 5, 10, second-order and copy-D, in
ms per G step and as a ratio to the plain step (k = 0).

``--reference higher`` (needs the ``bench`` extra: ``pip install -e .[bench]``): the setting of the
public unrolled-GAN port that uses the `higher` library, Metz et al.'s Fig. 1 (preset
``unrolled-metz``): G 256-128-128-2 and D 2-128-128-1 with ReLU, a ring of 8 Gaussians of radius 2
and sigma 0.02, batch 512, k = 10, Adam lr 1e-4 (D) and 1e-3 (G), betas (0.5, 0.999). Four loops:

- ``higher`` reference: written as that port writes it. One D step (BCE on D's sigmoid, real and
  fake batches, G under no_grad); then ``higher.innerloop_ctx(D, d_optimizer)``: k differentiable
  Adam steps, each on fresh real and fake batches with G's fakes in the graph; G's loss through the
  unrolled D, backward, G's Adam step; D's weights restored from a deep copy. The port draws 2,500
  fakes per look-ahead step; here every batch is 512, as the Trainer's are.
- ``copy`` reference: the same port's other branch, what most PyTorch ports do (the copy-D
  approximation): a deep copy of D, k ordinary Adam steps with detached fakes, G's loss through the
  copy. The port steps D's own optimiser there (its moments leak into training); here a copy of
  the optimiser takes them, which costs the same.
- the Trainer on preset ``unrolled-metz`` (second order), and the same with
  ``tricks.unrolled.method = copy-d``.

All run in this one process, one torch thread unless ``--threads``, in alternating rounds so that
load from other processes hits them alike; each prints steps per second (the median round) and the
ratios are medians of the per-round ratios.
"""
from __future__ import annotations

import argparse
import copy
import math
import statistics
import time

import torch
from torch import nn

from gan_studio.core.bench import build_bench_config
from gan_studio.core.presets import load_preset
from gan_studio.core.training.trainer import Trainer


# -- the reference loops: the public port's networks and steps --------------------------------------
class PortSetting:
    """G, D, their optimisers and the ring, as the `higher` port builds them (seeded)."""

    def __init__(self, k: int, seed: int = 0, device: str = "cpu"):
        torch.manual_seed(seed)
        self.k, self.B, self.nz, self.device = k, 512, 256, torch.device(device)
        self.G = nn.Sequential(nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                               nn.Linear(128, 2))
        self.D = nn.Sequential(nn.Linear(2, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                               nn.Linear(128, 1), nn.Sigmoid())
        self.G.to(self.device)
        self.D.to(self.device)
        self.d_optimizer = torch.optim.Adam(self.D.parameters(), lr=1e-4, betas=(0.5, 0.999))
        self.g_optimizer = torch.optim.Adam(self.G.parameters(), lr=1e-3, betas=(0.5, 0.999))
        angles = torch.arange(8) * (2 * math.pi / 8)
        self.means = (2.0 * torch.stack([torch.cos(angles), torch.sin(angles)], 1)).to(self.device)
        self.criterion = nn.BCELoss()

    def real(self) -> torch.Tensor:
        return (self.means[torch.randint(8, (self.B,), device=self.device)]
                + 0.02 * torch.randn(self.B, 2, device=self.device))

    def noise(self) -> torch.Tensor:
        return torch.randn(self.B, self.nz, device=self.device)

    def d_error(self, D, real, fake) -> torch.Tensor:
        d_real, d_fake = D(real), D(fake)
        return (self.criterion(d_real, torch.ones_like(d_real))          # ones = true
                + self.criterion(d_fake, torch.zeros_like(d_fake)))      # zeros = fake

    def d_loop(self) -> float:
        """1. Train D on real + fake."""
        self.d_optimizer.zero_grad()
        with torch.no_grad():
            fake = self.G(self.noise())
        d_loss = self.d_error(self.D, self.real(), fake)
        d_loss.backward()
        self.d_optimizer.step()
        return d_loss.item()

    def g_error(self, D) -> torch.Tensor:
        decision = D(self.G(self.noise()))
        return self.criterion(decision, torch.ones_like(decision))      # pretend it is all genuine

    def step_higher(self) -> tuple[float, float]:
        """One G update as the port does it with `higher`: G's gradient through the k D updates."""
        import higher
        d_loss = self.d_loop()
        self.g_optimizer.zero_grad()
        self.d_optimizer.zero_grad()
        backup = copy.deepcopy(self.D)
        with higher.innerloop_ctx(self.D, self.d_optimizer) as (functional_D, diff_D_optimizer):
            for _ in range(self.k):
                loss = self.d_error(functional_D, self.real(), self.G(self.noise()))  # fakes in the graph
                diff_D_optimizer.step(loss)
                loss.item()                                  # the port reads each look-ahead loss
            g_error = self.g_error(functional_D)
            g_error.backward()
            self.g_optimizer.step()                          # only optimises G's parameters
        self.D.load_state_dict(backup.state_dict())          # D's weights restored
        return d_loss, g_error.item()

    def step_copy(self) -> tuple[float, float]:
        """One G update with the copy-D approximation: k plain Adam steps on a copy of D."""
        d_loss = self.d_loop()
        self.g_optimizer.zero_grad()
        D_copy = copy.deepcopy(self.D)
        opt_copy = torch.optim.Adam(D_copy.parameters(), lr=1e-4, betas=(0.5, 0.999))
        opt_copy.load_state_dict(self.d_optimizer.state_dict())
        for _ in range(self.k):
            opt_copy.zero_grad()
            with torch.no_grad():
                fake = self.G(self.noise())
            loss = self.d_error(D_copy, self.real(), fake)
            loss.backward()
            opt_copy.step()
            loss.item()
        g_error = self.g_error(D_copy)
        g_error.backward()
        self.g_optimizer.step()
        return d_loss, g_error.item()


def _timed(fn, steps: int) -> float:
    """Steps per second of ``steps`` calls of ``fn``."""
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return steps / (time.perf_counter() - t0)


def _trainer_step(tr: Trainer):
    def step():
        tr.step()
    return step


def compare_with_reference(args) -> None:
    try:
        import higher  # noqa: F401
    except ImportError:
        raise SystemExit("the `higher` library is not installed: pip install -e .[bench]") from None
    sets = [f"tricks.unrolled.k={args.k}", "tricks.unrolled.enabled=true"]
    cfg = load_preset("unrolled-metz")

    def trainer(method: str, fast: bool = True) -> Trainer:
        c = build_bench_config("unrolled-metz", cfg.data.name, 0,
                               sets + [f"tricks.unrolled.method={method}", f"train.fast_paths={str(fast).lower()}"])
        return Trainer(c, device="cpu")

    port_h, port_c = PortSetting(args.k), PortSetting(args.k)
    loops = {"higher reference (second order)": port_h.step_higher,
             "Trainer second-order": _trainer_step(trainer("second-order")),
             "copy reference (copy-D)": port_c.step_copy,
             "Trainer copy-D": _trainer_step(trainer("copy-d"))}
    if args.plain:
        loops["Trainer second-order, fast_paths off"] = _trainer_step(trainer("second-order", fast=False))
        loops["Trainer copy-D, fast_paths off"] = _trainer_step(trainer("copy-d", fast=False))
    for fn in loops.values():   # warm-up: allocations, Adam state
        for _ in range(2):
            fn()
    rates: dict[str, list[float]] = {name: [] for name in loops}
    for r in range(args.rounds):
        for name, fn in loops.items():
            rates[name].append(_timed(fn, args.steps))
        print(f"round {r + 1}: " + "   ".join(f"{n.split(' (')[0]} {v[-1]:.2f}" for n, v in rates.items()),
              flush=True)

    def ratio(a: str, b: str) -> str:
        per_round = [x / y for x, y in zip(rates[a], rates[b])]
        return f"{statistics.median(per_round):.2f}x (rounds {min(per_round):.2f} - {max(per_round):.2f})"

    print(f"\nunrolled-metz: ring8-wide, batch 512, G 256-128-128-2, D 2-128-128-1 ReLU, k = {args.k}, "
          f"{torch.get_num_threads()} thread(s), torch {torch.__version__}, median of {args.rounds} rounds "
          f"of {args.steps} steps")
    print(f"{'loop':<42} {'steps/s':>8}")
    for name, v in rates.items():
        print(f"{name:<42} {statistics.median(v):>8.2f}")
    print(f"Trainer second-order / higher reference   = {ratio('Trainer second-order', 'higher reference (second order)')}")
    print(f"Trainer copy-D / copy reference           = {ratio('Trainer copy-D', 'copy reference (copy-D)')}")
    print(f"Trainer copy-D / higher reference         = {ratio('Trainer copy-D', 'higher reference (second order)')}")
    if args.plain:
        print(f"fast_paths off: second-order / higher     = "
              f"{ratio('Trainer second-order, fast_paths off', 'higher reference (second order)')}")
        print(f"fast_paths off: copy-D / copy reference   = "
              f"{ratio('Trainer copy-D, fast_paths off', 'copy reference (copy-D)')}")


def cost_table(args) -> None:
    rows = [("plain (k = 0)", [])]
    for k in (1, 5, 10):
        for method in ("second-order", "copy-d"):
            rows.append((f"k = {k:2d} {method}", ["tricks.unrolled.enabled=true", f"tricks.unrolled.k={k}",
                                                 f"tricks.unrolled.method={method}"]))
    trainers = []
    for label, sets in rows:
        tr = Trainer(build_bench_config(args.preset, args.data, 0, sets), device="cpu")
        for _ in range(3):  # warm-up: allocations, Adam state
            tr.step()
        trainers.append(tr)
    times: list[list[float]] = [[] for _ in rows]
    for _ in range(args.rounds):
        for i, tr in enumerate(trainers):
            times[i].append(1.0 / _timed(tr.step, args.steps))
    cfg = trainers[0].cfg
    print(f"{args.data}, batch {cfg.train.batch_size}, G {cfg.model.g_depth}x{cfg.model.g_width}, "
          f"D {cfg.model.d_depth}x{cfg.model.d_width}, {args.threads} thread(s), median of {args.rounds} rounds "
          f"of {args.steps} steps")
    base = statistics.median(times[0])
    print(f"{'configuration':<24} {'ms / step':>10} {'x plain':>8}")
    for (label, _), ts in zip(rows, times):
        med = statistics.median(ts)
        print(f"{label:<24} {med * 1000:>10.1f} {med / base:>8.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", choices=["higher"], default=None,
                    help="compare the Trainer with the `higher` port's unrolled loop (preset unrolled-metz)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per loop and round (30; 10 with --reference)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds; the median is reported (3; 5 with --reference)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--k", type=int, default=10, help="look-ahead D steps (with --reference)")
    ap.add_argument("--plain", action="store_true", help="also time the Trainer with train.fast_paths = false")
    ap.add_argument("--preset", default="vanilla")
    ap.add_argument("--data", default="ring8")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.reference:
        args.steps, args.rounds = args.steps or 10, args.rounds or 5
        compare_with_reference(args)
    else:
        args.steps, args.rounds = args.steps or 30, args.rounds or 3
        cost_table(args)


if __name__ == "__main__":
    main()
