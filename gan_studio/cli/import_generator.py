"""gan-studio import-generator FILE --arch dcgan|torchscript --nz 100 --nc 1|3 --ngf 64 --out DIR"""
from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser(
        "import-generator", help="make a run folder from a generator trained by another program",
        description="Import a generator trained elsewhere as a run folder that `gan-studio sample DIR --z Z.npy` "
                    "and the window's latent lab open. --arch dcgan reads a state_dict of the pytorch/examples "
                    "DCGAN Generator (dcgan/main.py, keys main.0.weight ...) without running code from it; "
                    "--arch torchscript reads a TorchScript module mapping (N, nz) or (N, nz, 1, 1) to images "
                    "(a TorchScript file is a program: it is run only with --trust-code, here and in every "
                    "command that opens the run; trust is remembered for the file's sha256).")
    p.add_argument("file", metavar="FILE", help="the generator: a state_dict (.pth) or a TorchScript module (.pt)")
    p.add_argument("--arch", choices=("dcgan", "torchscript"), default="dcgan",
                   help="what FILE holds (default dcgan)")
    p.add_argument("--nz", type=int, default=100, help="latent size (pytorch/examples: 100)")
    p.add_argument("--nc", type=int, default=3, help="dcgan: image channels, 1 or 3 (default 3)")
    p.add_argument("--ngf", type=int, default=64, help="dcgan: generator feature maps (default 64)")
    p.add_argument("--image-size", type=int, default=64, choices=(16, 32, 64),
                   help="dcgan: image side in pixels (pytorch/examples: 64)")
    p.add_argument("--bn-stats", choices=("running", "batch"), default="running",
                   help="dcgan: sample with batch norm's running averages (netG.eval(), the default) or with "
                        "each batch's statistics (the original program's train mode)")
    p.add_argument("--out", required=True, metavar="DIR", help="the run folder to create")
    p.add_argument("--trust-code", action="store_true",
                   help="torchscript: run FILE (importing probes it) and remember its sha256 as trusted; "
                        "a TorchScript file is a program, pass this only for files you trust")
    return p


def run(args) -> int:
    from gan_studio.core.importer import import_generator
    run = import_generator(args.file, args.out, arch=args.arch, nz=args.nz, nc=args.nc, ngf=args.ngf,
                           image_size=args.image_size, bn_stats=args.bn_stats, trust_code=args.trust_code)
    cfg = run.config()
    c, s = cfg.data.channels, cfg.data.image_size
    print(f"imported {args.file} ({args.arch}: z of {cfg.model.latent_dim} -> {c}x{s}x{s} images) into {run.path}")
    print(f"sample it with: gan-studio sample {run.path} --z Z.npy --out samples.png")
    return 0
