"""Throughput of the studio's Trainer against a plain PyTorch GAN loop, in one process.

The plain loop is written the way a tutorial writes it, line for line the training loop of
pytorch/examples' dcgan/main.py (and the PyTorch DCGAN tutorial) on the same MLP networks, batch, data
and non-saturating loss: D ends in a sigmoid and is trained with BCELoss; default Adam; D on the real
batch and then on the fake batch; G's loss backpropagated through D (D's gradients computed and
thrown away); the losses and the mean D(x), D(G(z)) read with `.item()` each step, as the example
prints them. The Trainer computes the same quantities (its metrics: both losses, mean D(x) and
D(G(z)), and the two gradient norms on top). The Trainer runs twice, with ``train.fast_paths`` on
(core/fast: the fused MLP chain and the lean Adam step) and off (plain nn.Linear under autograd,
torch.optim.Adam(fused=True)). Rounds alternate between the three so that load from other
processes hits them alike; the printed figures are the medians of the per-round ratios.

`--logits` runs the earlier, leaner reference instead (no sigmoid: BCEWithLogitsLoss, and no mean
D(x)/D(G(z)) read-out), for comparison with figures measured before.

    python benchmarks/bench_trainer.py [--batch 512] [--steps 300] [--rounds 5] [--threads N]
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from torch import nn

from gan_studio.core.config import Config
from gan_studio.core.training.trainer import Trainer


def plain_loop(cfg: Config, steps: int, seed: int = 0, logits: bool = False) -> float:
    """A tutorial GAN loop on ring8; returns steps per second."""
    torch.manual_seed(seed)
    m, t = cfg.model, cfg.train
    nz, B = m.latent_dim, t.batch_size

    def block(sizes, act):
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), act()]
        return layers

    netG = nn.Sequential(*block([nz] + [m.g_width] * m.g_depth, nn.ReLU), nn.Linear(m.g_width, 2))
    netD = nn.Sequential(*block([2] + [m.d_width] * m.d_depth, lambda: nn.LeakyReLU(0.2)),
                         nn.Linear(m.d_width, 1), *([] if logits else [nn.Sigmoid()]))
    criterion = nn.BCEWithLogitsLoss() if logits else nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=t.lr_d, betas=(t.beta1_d, t.beta2_d))
    optG = torch.optim.Adam(netG.parameters(), lr=t.lr_g, betas=(t.beta1_g, t.beta2_g))
    angles = torch.arange(8) * (2 * math.pi / 8)
    means = torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    real_label, fake_label = 1.0, 0.0
    G_losses, D_losses, D_xs, D_G_zs = [], [], [], []

    def run(n):
        for _ in range(n):
            real = means[torch.randint(8, (B,))] + 0.01 * torch.randn(B, 2)
            # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
            netD.zero_grad()
            label = torch.full((B,), real_label)
            output = netD(real).view(-1)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = None if logits else output.mean().item()
            noise = torch.randn(B, nz)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach()).view(-1)
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = None if logits else output.mean().item()
            errD = errD_real + errD_fake
            optD.step()
            # (2) Update G: maximize log(D(G(z)))
            netG.zero_grad()
            label.fill_(real_label)
            output = netD(fake).view(-1)
            errG = criterion(output, label)
            errG.backward()
            D_G_z2 = None if logits else output.mean().item()
            optG.step()
            G_losses.append(errG.item())
            D_losses.append(errD.item())
            D_xs.append(D_x)
            D_G_zs.append((D_G_z1, D_G_z2))

    run(20)  # warm-up
    t0 = time.perf_counter()
    run(steps)
    return steps / (time.perf_counter() - t0)


def trainer_loop(cfg: Config, steps: int, fast: bool = True) -> float:
    cfg = cfg.copy()
    cfg.set("train.fast_paths", fast)
    tr = Trainer(cfg)
    for _ in range(20):
        tr.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        m = tr.step()
    m.as_dict()  # the one sync a real run would do when it logs
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--logits", action="store_true",
                    help="the earlier reference loop: BCEWithLogitsLoss, no D(x)/D(G(z)) read-out")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config()
    cfg.set("data.name", "ring8")
    cfg.set("train.batch_size", args.batch)
    cfg.set("train.device", "cpu")
    ratios_fast, ratios_plain = [], []
    for r in range(args.rounds):
        plain = plain_loop(cfg, args.steps, seed=r, logits=args.logits)
        fast = trainer_loop(cfg, args.steps, fast=True)
        slow = trainer_loop(cfg, args.steps, fast=False)
        ratios_fast.append(fast / plain)
        ratios_plain.append(slow / plain)
        print(f"round {r + 1}: trainer fast {fast:7.1f} steps/s   trainer plain {slow:7.1f} steps/s   "
              f"plain loop {plain:7.1f} steps/s   ratios {fast / plain:.2f} / {slow / plain:.2f}", flush=True)
    print(f"ring8, batch {args.batch}, MLP G {cfg.model.g_depth}x{cfg.model.g_width} / "
          f"D {cfg.model.d_depth}x{cfg.model.d_width}, {torch.get_num_threads()} threads, "
          f"{'logits' if args.logits else 'tutorial'} reference, medians of {args.rounds} rounds:")
    print(f"  Trainer fast / plain loop throughput = {statistics.median(ratios_fast):.2f}x "
          f"(rounds {min(ratios_fast):.2f} - {max(ratios_fast):.2f})")
    print(f"  Trainer plain / plain loop throughput = {statistics.median(ratios_plain):.2f}x "
          f"(rounds {min(ratios_plain):.2f} - {max(ratios_plain):.2f})")


if __name__ == "__main__":
    main()
