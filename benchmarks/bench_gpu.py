"""The GPU path, measured: the studio's Trainer against plain PyTorch loops on a CUDA GPU.

    python benchmarks/bench_gpu.py [--rounds 5] [--only ring8,dcgan,unrolled]

Three comparisons, each in this one process with alternating rounds (the GPU synchronised at the
end of every timed round; the median of the per-round ratios is printed):

- ring8: the Trainer's steps/s against the tutorial GAN loop of ``bench_trainer.py`` (batch 512,
  the studio's MLPs), the loop reading its losses with ``.item()`` every step as the tutorial does.
- dcgan: DCGAN at 64 px, batch 128, nz 100, ngf = ndf = 64, Adam 2e-4 / 0.5: images/s of the
  Trainer (train.amp and train.channels_last on auto, i.e. bf16 or fp16 autocast and channels-last
  on CUDA; and both off) against a loop written like pytorch/examples ``dcgan/main.py`` (float32,
  BCE, D on real then fake, G step, ``.item()`` of the losses every iteration), on the same networks,
  weights and images (the studio's procedural shapes at 64 px). Target: at least 1.5x.
- unrolled: k = 10 on the ``unrolled-metz`` setting, the Trainer (second order, and copy-D) against
  the `higher` reference of ``bench_unrolled.py`` (needs the ``bench`` extra).

On a machine without CUDA it prints one line saying the GPU figures are not measured, and exits 0.
``--device cpu --steps 2`` runs the script itself on the CPU (a check of the code, not a GPU figure).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from gan_studio.core.config import Config
from gan_studio.core.training.trainer import Trainer


DEVICE = "cuda"
STEPS = 0   # --steps: every loop's steps per round (0: each comparison's own)


def sync() -> None:
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


def compare(loops: dict, rounds: int, steps: dict, per_step: float = 1.0, unit: str = "steps/s") -> dict:
    """Alternating rounds of each loop; prints and returns the median rate of each."""
    for fn in loops.values():    # warm-up: kernels, allocator, optimiser state
        fn(2)
    sync()
    steps = {name: STEPS or n for name, n in steps.items()}
    rates: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(rounds):
        for name, fn in loops.items():
            t0 = time.perf_counter()
            fn(steps[name])
            sync()
            rates[name].append(steps[name] * per_step / (time.perf_counter() - t0))
    for name, v in rates.items():
        print(f"  {name:<44} {statistics.median(v):10.1f} {unit}")
    return rates


def ratio(rates: dict, a: str, b: str) -> str:
    r = [x / y for x, y in zip(rates[a], rates[b])]
    return f"{statistics.median(r):.2f}x (rounds {min(r):.2f} - {max(r):.2f})"


def trainer_loop(tr: Trainer):
    def run(n: int) -> None:
        for _ in range(n):
            m = tr.step()
        m.as_dict()   # the one read-back a run does when it logs
    return run


# -- ring8 ------------------------------------------------------------------------------------------
def ring8(rounds: int) -> None:
    cfg = Config()
    for k, v in {"data.name": "ring8", "train.batch_size": 512, "train.device": DEVICE}.items():
        cfg.set(k, v)
    tr = Trainer(cfg)
    m, t = cfg.model, cfg.train
    dev = tr.device
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(m.latent_dim, m.g_width), nn.ReLU(),
                      *[l for _ in range(m.g_depth - 1) for l in (nn.Linear(m.g_width, m.g_width), nn.ReLU())],
                      nn.Linear(m.g_width, 2)).to(dev)
    D = nn.Sequential(nn.Linear(2, m.d_width), nn.LeakyReLU(0.2),
                      *[l for _ in range(m.d_depth - 1) for l in (nn.Linear(m.d_width, m.d_width), nn.LeakyReLU(0.2))],
                      nn.Linear(m.d_width, 1), nn.Sigmoid()).to(dev)
    optD = torch.optim.Adam(D.parameters(), lr=t.lr_d, betas=(t.beta1_d, t.beta2_d))
    optG = torch.optim.Adam(G.parameters(), lr=t.lr_g, betas=(t.beta1_g, t.beta2_g))
    criterion, B = nn.BCELoss(), t.batch_size
    means = tr.data.modes.to(dev)

    def plain(n: int) -> None:
        for _ in range(n):
            real = means[torch.randint(len(means), (B,), device=dev)] + 0.01 * torch.randn(B, 2, device=dev)
            D.zero_grad()
            out = D(real).view(-1)
            err_real = criterion(out, torch.ones(B, device=dev))
            err_real.backward()
            fake = G(torch.randn(B, m.latent_dim, device=dev))
            err_fake = criterion(D(fake.detach()).view(-1), torch.zeros(B, device=dev))
            err_fake.backward()
            optD.step()
            G.zero_grad()
            err_g = criterion(D(fake).view(-1), torch.ones(B, device=dev))
            err_g.backward()
            optG.step()
            _ = (err_real + err_fake).item(), err_g.item(), out.mean().item()   # the tutorial's log line

    print(f"ring8, batch 512, MLP G {m.g_depth}x{m.g_width} / D {m.d_depth}x{m.d_width}:")
    rates = compare({"plain loop (tutorial)": plain, "Trainer": trainer_loop(tr)}, rounds,
                    {"plain loop (tutorial)": 200, "Trainer": 200})
    print(f"  Trainer / plain loop = {ratio(rates, 'Trainer', 'plain loop (tutorial)')}")


# -- DCGAN 64 px --------------------------------------------------------------------------------------
def dcgan(rounds: int) -> None:
    B, nz = 128, 100

    def config(amp: str, channels_last: str) -> Config:
        cfg = Config()
        for k, v in {"data.name": "shapes", "data.image_size": 64, "data.num_images": 4096, "model.arch": "dcgan",
                     "model.latent_dim": nz, "model.ngf": 64, "model.ndf": 64, "loss": "non-saturating",
                     "train.batch_size": B, "train.lr_g": 2e-4, "train.lr_d": 2e-4, "train.device": DEVICE,
                     "train.amp": amp, "train.channels_last": channels_last}.items():
            cfg.set(k, v)
        return cfg

    fast, plain_tr = Trainer(config("auto", "auto")), Trainer(config("off", "off"))
    dev = fast.device
    from gan_studio.core.nets.dcgan import build_dcgan
    G, D = build_dcgan(plain_tr.cfg, plain_tr.data)   # the example's own copies of the same networks
    G.load_state_dict(plain_tr.G.state_dict())
    D.load_state_dict(plain_tr.D.state_dict())
    G.to(dev), D.to(dev)
    optD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    criterion = nn.BCEWithLogitsLoss()   # the example's Sigmoid + BCELoss, on logits
    gen = torch.Generator(device=dev).manual_seed(0)
    data = plain_tr.data

    def examples(n: int) -> None:
        for _ in range(n):
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            D.zero_grad()
            real = data.sample(B, gen)
            label = torch.full((B,), 1.0, device=dev)
            errD_real = criterion(D(real), label)
            errD_real.backward()
            fake = G(torch.randn(B, nz, 1, 1, device=dev))
            label.fill_(0.0)
            errD_fake = criterion(D(fake.detach()), label)
            errD_fake.backward()
            optD.step()
            # (2) Update G network: maximize log(D(G(z)))
            G.zero_grad()
            label.fill_(1.0)
            errG = criterion(D(fake), label)
            errG.backward()
            optG.step()
            _ = (errD_real + errD_fake).item(), errG.item()   # the example prints every iteration

    print(f"DCGAN 64 px, batch {B}, nz {nz}, ngf = ndf = 64 (Trainer: amp {fast.precision.mode}, "
          f"channels-last {'on' if fast.channels_last else 'off'}):")
    names = {"pytorch/examples loop": examples, "Trainer (amp, channels-last: auto)": trainer_loop(fast),
             "Trainer (amp, channels-last: off)": trainer_loop(plain_tr)}
    rates = compare(names, rounds, dict.fromkeys(names, 30), per_step=B, unit="images/s")
    print(f"  Trainer (auto) / examples loop = {ratio(rates, 'Trainer (amp, channels-last: auto)', 'pytorch/examples loop')}"
          f"   (target >= 1.5x)")
    print(f"  Trainer (off) / examples loop  = {ratio(rates, 'Trainer (amp, channels-last: off)', 'pytorch/examples loop')}")


# -- unrolled k = 10 --------------------------------------------------------------------------------------
def unrolled(rounds: int) -> None:
    try:
        import higher  # noqa: F401
    except ImportError:
        print("unrolled: the `higher` library is not installed (pip install -e .[bench]); not measured")
        return
    from bench_unrolled import PortSetting
    from gan_studio.core.bench import build_bench_config

    def trainer(method: str) -> Trainer:
        cfg = build_bench_config("unrolled-metz", "ring8-wide", 0, [f"tricks.unrolled.method={method}"])
        cfg.set("train.device", DEVICE)
        return Trainer(cfg)

    port = PortSetting(10, device=DEVICE)

    def reference(n: int) -> None:
        for _ in range(n):
            port.step_higher()

    print("unrolled-metz, k = 10, batch 512:")
    names = {"higher reference (second order)": reference, "Trainer second-order": trainer_loop(trainer("second-order")),
             "Trainer copy-D": trainer_loop(trainer("copy-d"))}
    rates = compare(names, rounds, dict.fromkeys(names, 10))
    print(f"  Trainer second-order / higher = {ratio(rates, 'Trainer second-order', 'higher reference (second order)')}")
    print(f"  Trainer copy-D / higher       = {ratio(rates, 'Trainer copy-D', 'higher reference (second order)')}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default="ring8,dcgan,unrolled", help="comma-separated: ring8, dcgan, unrolled")
    ap.add_argument("--device", default="cuda", help="cuda (cpu: a check of this script, not a GPU figure)")
    ap.add_argument("--steps", type=int, default=0, help="steps per loop and round (0: 200 ring8, 30 dcgan, 10 unrolled)")
    args = ap.parse_args()
    global DEVICE, STEPS
    DEVICE, STEPS = args.device, args.steps
    if DEVICE.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA GPU on this machine: the GPU figures are not measured (run this where there is one)")
        return 0
    name = torch.cuda.get_device_name() if DEVICE.startswith("cuda") else "CPU (a check of the script, not a GPU figure)"
    print(f"{name}, torch {torch.__version__}, median of {args.rounds} rounds")
    for name in args.only.split(","):
        {"ring8": ring8, "dcgan": dcgan, "unrolled": unrolled}[name.strip()](args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
