"""DCGAN step throughput: the studio's Trainer against a plain loop written like pytorch/examples
``dcgan/main.py``, in one process, with the same networks, weights, data and batch (64, 32 px).

The plain loop: D.zero_grad; BCE(D(real), 1).backward(); fake = G(z); BCE(D(fake.detach()), 0)
.backward(); optD.step(); G.zero_grad(); BCE(D(fake), 1).backward(); optG.step(); .item() of the
losses for the log line, as the example prints every iteration. The two run in alternating rounds
so that load from other programs falls on both alike; the median round time counts.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_images_dcgan.py [--rounds 7 --steps 10]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from gan_studio.core.config import Config
from gan_studio.core.training.trainer import Trainer


def plain_loop(G, D, data, batch: int, nz: int, device, steps: int, optD, optG, gen) -> None:
    criterion = nn.BCEWithLogitsLoss()  # D gives logits; the example's Sigmoid + BCELoss, stably
    ones = torch.ones(batch, device=device)
    zeros = torch.zeros(batch, device=device)
    for _ in range(steps):
        # (1) update D: maximize log(D(x)) + log(1 - D(G(z)))
        D.zero_grad()
        real = data.sample(batch, gen)
        errD_real = criterion(D(real), ones)
        errD_real.backward()
        noise = torch.randn(batch, nz, device=device, generator=gen)
        fake = G(noise)
        errD_fake = criterion(D(fake.detach()), zeros)
        errD_fake.backward()
        optD.step()
        # (2) update G: maximize log(D(G(z)))
        G.zero_grad()
        errG = criterion(D(fake), ones)
        errG.backward()
        optG.step()
        _ = (errD_real + errD_fake).item(), errG.item()  # the example logs every iteration


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=10, help="steps per round")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    cfg = Config()
    cfg.set("name", "bench-dcgan")
    cfg.set("data.name", "shapes")
    cfg.set("data.image_size", 32)
    cfg.set("data.num_images", 2048)
    cfg.set("model.arch", "dcgan")
    cfg.set("model.latent_dim", 100)
    cfg.set("model.ngf", 64)
    cfg.set("model.ndf", 64)
    cfg.set("loss", "non-saturating")
    cfg.set("train.batch_size", 64)
    cfg.set("train.lr_g", 2e-4)
    cfg.set("train.lr_d", 2e-4)
    cfg.set("train.device", args.device)
    tr = Trainer(cfg)
    device = tr.device

    # the plain loop's own copies of the same networks and weights
    from gan_studio.core.nets.dcgan import build_dcgan
    G, D = build_dcgan(cfg, tr.data)
    G.load_state_dict(tr.G.state_dict())
    D.load_state_dict(tr.D.state_dict())
    G.to(device), D.to(device)
    optD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    gen = torch.Generator(device=device).manual_seed(0)

    # warm-up: allocator, kernels, Adam state
    plain_loop(G, D, tr.data, 64, 100, device, 2, optD, optG, gen)
    for _ in range(2):
        tr.step()
    sync(device)

    t_plain, t_trainer = [], []
    for _ in range(args.rounds):
        t = time.perf_counter()
        plain_loop(G, D, tr.data, 64, 100, device, args.steps, optD, optG, gen)
        sync(device)
        t_plain.append((time.perf_counter() - t) / args.steps)
        t = time.perf_counter()
        for _ in range(args.steps):
            m = tr.step()
        m.as_dict()  # the Trainer's metrics are read once, when logged
        sync(device)
        t_trainer.append((time.perf_counter() - t) / args.steps)

    plain, trainer = statistics.median(t_plain), statistics.median(t_trainer)
    print(f"device: {tr.device_name}; DCGAN 32 px, 3 channels, ngf = ndf = 64, nz 100, batch 64; "
          f"{args.rounds} rounds of {args.steps} steps, median")
    print(f"plain loop (pytorch/examples style): {1 / plain:8.2f} steps/s  ({1000 * plain:.1f} ms/step)")
    print(f"GAN Studio Trainer:                  {1 / trainer:8.2f} steps/s  ({1000 * trainer:.1f} ms/step)")
    print(f"Trainer / plain throughput ratio: {plain / trainer:.3f}  (>= 1 means the Trainer is at least as fast)")


if __name__ == "__main__":
    main()
