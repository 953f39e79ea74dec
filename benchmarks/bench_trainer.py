"""Throughput of the studio's Trainer against a plain PyTorch GAN loop, in one process.

The plain loop is written the way a tutorial writes it (pytorch/examples dcgan style): the same MLP
networks, batch, data and non-saturating BCE losses; default Adam; D on the real batch and then on
the fake batch; G's loss backpropagated through D (D's gradients computed and thrown away);
`.item()` each step for the loss history. Rounds alternate between the two so that load from other
processes hits both alike; the printed figure is the median of the per-round ratios.

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
from gan_studio.core.trainer import Trainer


def plain_loop(cfg: Config, steps: int, seed: int = 0) -> float:
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
                         nn.Linear(m.d_width, 1))
    criterion = nn.BCEWithLogitsLoss()
    optD = torch.optim.Adam(netD.parameters(), lr=t.lr_d, betas=(t.beta1_d, t.beta2_d))
    optG = torch.optim.Adam(netG.parameters(), lr=t.lr_g, betas=(t.beta1_g, t.beta2_g))
    angles = torch.arange(8) * (2 * math.pi / 8)
    means = torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    real_label, fake_label = 1.0, 0.0
    G_losses, D_losses = [], []

    def run(n):
        for _ in range(n):
            real = means[torch.randint(8, (B,))] + 0.01 * torch.randn(B, 2)
            # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
            netD.zero_grad()
            label = torch.full((B,), real_label)
            errD_real = criterion(netD(real).view(-1), label)
            errD_real.backward()
            noise = torch.randn(B, nz)
            fake = netG(noise)
            label.fill_(fake_label)
            errD_fake = criterion(netD(fake.detach()).view(-1), label)
            errD_fake.backward()
            errD = errD_real + errD_fake
            optD.step()
            # (2) Update G: maximize log(D(G(z)))
            netG.zero_grad()
            label.fill_(real_label)
            errG = criterion(netD(fake).view(-1), label)
            errG.backward()
            optG.step()
            G_losses.append(errG.item())
            D_losses.append(errD.item())

    run(20)  # warm-up
    t0 = time.perf_counter()
    run(steps)
    return steps / (time.perf_counter() - t0)


def trainer_loop(cfg: Config, steps: int) -> float:
    tr = Trainer(cfg.copy())
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
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config()
    cfg.set("data.name", "ring8")
    cfg.set("train.batch_size", args.batch)
    cfg.set("train.device", "cpu")
    ratios = []
    for r in range(args.rounds):
        plain = plain_loop(cfg, args.steps, seed=r)
        ours = trainer_loop(cfg, args.steps)
        ratios.append(ours / plain)
        print(f"round {r + 1}: trainer {ours:7.1f} steps/s   plain loop {plain:7.1f} steps/s   "
              f"ratio {ours / plain:.2f}", flush=True)
    print(f"ring8, batch {args.batch}, MLP G {cfg.model.g_depth}x{cfg.model.g_width} / "
          f"D {cfg.model.d_depth}x{cfg.model.d_width}, {torch.get_num_threads()} threads: "
          f"Trainer / plain loop throughput = {statistics.median(ratios):.2f}x (median of {args.rounds})")


if __name__ == "__main__":
    main()
