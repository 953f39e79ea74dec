"""The GPU path, measured: the studio's Trainer against plain PyTorch loops on a CUDA GPU.

    python benchmarks/bench_gpu.py [--rounds 5] [--only ring8,dcgan,unrolled,window]

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
- window: the window's benchmark (``gan_studio.app.benchmark``) with the run on this device, for the
  ring8 and the shapes presets: steps/s with the window open against headless, and the UI latency.

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
EXPLORE = False   # --explore: each of auto's choices on its own, with cudnn.benchmark off and on
PROFILE = False   # --profile: torch.profiler's view of the DCGAN loops


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
        print(f"  {name:<50} {statistics.median(v):10.1f} {unit}")
    return rates


def graph_note(tr: Trainer) -> str:
    """Whether the Trainer's steps were replayed from a CUDA graph (train.cuda_graphs)."""
    g = tr.graphs
    if g is None:
        return "no CUDA graphs on this device"
    if g.failed:
        return f"CUDA graph capture failed: {g.failed}"
    return f"CUDA graphs: {g.captures} capture(s), {g.replays} replayed steps"


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
    cfg_off = cfg.copy()
    cfg_off.set("train.cuda_graphs", "off")
    no_graphs = Trainer(cfg_off)
    names = {"plain loop (tutorial)": plain, "Trainer": trainer_loop(tr), "Trainer (CUDA graphs off)": trainer_loop(no_graphs)}
    rates = compare(names, rounds, dict.fromkeys(names, 200))
    print(f"  Trainer / plain loop = {ratio(rates, 'Trainer', 'plain loop (tutorial)')}   ({graph_note(tr)})")
    print(f"  Trainer (CUDA graphs off) / plain loop = {ratio(rates, 'Trainer (CUDA graphs off)', 'plain loop (tutorial)')}")


# -- DCGAN 64 px --------------------------------------------------------------------------------------
def dcgan(rounds: int) -> None:
    B, nz = 128, 100

    def config(amp: str, channels_last: str, graphs: str = "auto") -> Config:
        cfg = Config()
        for k, v in {"data.name": "shapes", "data.image_size": 64, "data.num_images": 4096, "model.arch": "dcgan",
                     "model.latent_dim": nz, "model.ngf": 64, "model.ndf": 64, "loss": "non-saturating",
                     "train.batch_size": B, "train.lr_g": 2e-4, "train.lr_d": 2e-4, "train.device": DEVICE,
                     "train.amp": amp, "train.channels_last": channels_last, "train.cuda_graphs": graphs}.items():
            cfg.set(k, v)
        return cfg

    fast, plain_tr = Trainer(config("auto", "auto")), Trainer(config("off", "off", "off"))
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
    auto = "Trainer (auto: amp, channels-last, CUDA graphs)"
    variants = {auto: trainer_loop(fast),
                "Trainer (auto, CUDA graphs off)": trainer_loop(Trainer(config("auto", "auto", "off"))),
                "Trainer (amp, channels-last, CUDA graphs: off)": trainer_loop(plain_tr)}
    if EXPLORE:   # each choice of auto on its own
        variants[f"Trainer (amp {fast.precision.mode} only)"] = trainer_loop(Trainer(config(fast.precision.mode, "off", "off")))
        variants["Trainer (channels-last only)"] = trainer_loop(Trainer(config("off", "on", "off")))
        variants["Trainer (CUDA graphs only)"] = trainer_loop(Trainer(config("off", "off", "auto")))
    names = {"pytorch/examples loop": examples, **variants}
    for bench_mode in ((False, True) if EXPLORE else (torch.backends.cudnn.benchmark,)):
        torch.backends.cudnn.benchmark = bench_mode
        if EXPLORE:
            print(f" cudnn.benchmark = {bench_mode}:")
        rates = compare(names, rounds, dict.fromkeys(names, 30), per_step=B, unit="images/s")
        for name in variants:
            print(f"  {name} / examples loop = {ratio(rates, name, 'pytorch/examples loop')}"
                  + ("   (target >= 1.5x)" if name == auto else ""))
    print(f"  ({graph_note(fast)})")
    if PROFILE:
        profile(names, steps=10)


def profile(loops: dict, steps: int) -> None:
    """torch.profiler over ``steps`` steps of each loop: the GPU's busy time and kernel count per step
    against the host's wall time per step, and the kernels that take the most GPU time."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile
    for name, fn in loops.items():
        fn(2)
        sync()
        with torch_profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            t0 = time.perf_counter()
            fn(steps)
            sync()
            wall = (time.perf_counter() - t0) / steps
        kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        busy = sum(e.device_time for e in kernels) / steps   # microseconds per step
        print(f" profile {name}: wall {wall * 1e3:.2f} ms/step, GPU busy {busy / 1e3:.2f} ms/step, "
              f"{len(kernels) / steps:.0f} kernels/step")
        for key in ("self_cuda_time_total", "self_cpu_time_total"):
            table = prof.key_averages().table(sort_by=key, row_limit=10, max_name_column_width=60)
            print("\n".join("   " + ln for ln in table.splitlines()))


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


# -- the window with a GPU run -----------------------------------------------------------------------------
def window(rounds: int) -> None:
    """The window's own benchmark (gan_studio.app.benchmark, offscreen where there is no display) with
    training on this device: steps/s with the window open against a headless RunLoop, and the UI's
    event latency, for the ring and for the DCGAN shapes preset. In a child process, as a user starts it."""
    import os
    import subprocess
    import sys
    env = dict(os.environ)
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        env["QT_QPA_PLATFORM"] = "offscreen"
    for preset in ("ring8", "shapes"):
        cmd = [sys.executable, "-m", "gan_studio.app.benchmark", "--preset", preset, "--device", DEVICE,
               # 4,000 steps a side on a GPU: at 1,000+ steps/s 400 steps are 0.2-0.5 s, and what a new run
               # costs once (its first Frames) would weigh more than the window's cost per step
               "--steps", str(STEPS or (4000 if DEVICE.startswith("cuda") else 400)), "--rounds", str(rounds)]
        print(f"window, {' '.join(cmd[1:])}:", flush=True)
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        lines = [ln for ln in (r.stdout + r.stderr).splitlines() if "propagateSizeHints" not in ln]
        for ln in lines[-(rounds + 3):] if r.returncode == 0 else lines[-15:]:
            print("  " + ln)
        if r.returncode:
            print(f"  (the window benchmark exited with {r.returncode}: not measured)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default="ring8,dcgan,unrolled,window",
                    help="comma-separated: ring8, dcgan, unrolled, window")
    ap.add_argument("--device", default="cuda", help="cuda (cpu: a check of this script, not a GPU figure)")
    ap.add_argument("--steps", type=int, default=0, help="steps per loop and round (0: 200 ring8, 30 dcgan, 10 unrolled, window 4000 on CUDA, else 400)")
    ap.add_argument("--explore", action="store_true",
                    help="DCGAN: also amp and channels-last each on its own, with cudnn.benchmark off and on")
    ap.add_argument("--profile", action="store_true", help="DCGAN: torch.profiler's kernels of each loop")
    args = ap.parse_args()
    global DEVICE, STEPS, EXPLORE, PROFILE
    DEVICE, STEPS, EXPLORE, PROFILE = args.device, args.steps, args.explore, args.profile
    if DEVICE.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA GPU on this machine: the GPU figures are not measured (run this where there is one)")
        return 0
    name = torch.cuda.get_device_name() if DEVICE.startswith("cuda") else "CPU (a check of the script, not a GPU figure)"
    print(f"{name}, torch {torch.__version__}, median of {args.rounds} rounds")
    for name in args.only.split(","):
        {"ring8": ring8, "dcgan": dcgan, "unrolled": unrolled, "window": window}[name.strip()](args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
