"""gan-studio translate RUN --in FILE.png|FOLDER --direction a2b|b2a --out FILE.png|DIR [--sheet FILE.png]

Translates pictures with a CycleGAN run's generators (G_AB for a2b, G_BA for b2a), at the run's last
checkpoint. The run folder is only read (no lock: it may be training meanwhile); nothing is written
until every input has been read and checked, and every output is written whole (atomically).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gan_studio.core.errors import ConfigError, DataError

#: most pictures one call translates
MAX_IMAGES = 10_000
#: images per row shown in --sheet (the first ones)
SHEET_IMAGES = 16


def add_parser(sub):
    p = sub.add_parser("translate", help="translate pictures with a CycleGAN run (domain A <-> B)",
                       description="Translate pictures with a CycleGAN run's generators: --direction a2b turns "
                                   "pictures of domain A (data.domain_a) into domain B, b2a the other way. Each "
                                   "picture must be data.image_size square (16x16 for cyclegan-shapes).")
    p.add_argument("run_dir", metavar="RUN", help="a run folder of model.family = cyclegan")
    p.add_argument("--in", dest="inputs", required=True, metavar="FILE.png|FOLDER",
                   help="a picture, or a folder whose pictures (not its sub-folders) are all translated")
    p.add_argument("--direction", required=True, choices=("a2b", "b2a"), help="a2b: A -> B; b2a: B -> A")
    p.add_argument("--out", required=True, metavar="FILE.png|DIR",
                   help="the translation: a .png for one picture; for a folder, a folder (made if needed) that gets "
                        "one NAME.png per input NAME.*")
    p.add_argument("--sheet", metavar="FILE.png",
                   help="also write a picture with the rows input / translation / reconstruction (translated back), "
                        f"enlarged, of the first {SHEET_IMAGES} inputs")
    p.add_argument("--device", default="cpu", help="device to translate on (default cpu)")
    return p


def list_inputs(spec: str) -> list[Path]:
    """The pictures ``--in`` names: the file, or the picture files directly in the folder, sorted."""
    from gan_studio.core.data.images import IMAGE_EXTENSIONS
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise ConfigError(f"--in {path}: no pictures in the folder (files ending in {', '.join(IMAGE_EXTENSIONS)})")
        if len(files) > MAX_IMAGES:
            raise ConfigError(f"--in {path}: {len(files)} pictures; at most {MAX_IMAGES:,} per call")
        return files
    if not path.exists():
        raise ConfigError(f"--in {path}: no such file or folder")
    return [path]


def read_picture(path: Path, size: int, channels: int) -> np.ndarray:
    """uint8 (channels, size, size); a DataError (one line) for a picture that cannot be read or is
    not size x size (checked from its header, before its pixels are decoded)."""
    from PIL import Image, UnidentifiedImageError

    from gan_studio.core.data.images import open_picture
    try:
        with open_picture(path) as im:   # a header claiming 89 million pixels or more: refused, not warned of
            if im.size != (size, size):
                raise DataError(f"{path}: {im.size[0]}x{im.size[1]} pixels; this run translates {size}x{size} "
                                f"pictures (data.image_size = {size}): resize it first")
            im.load()
            arr = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    except Image.DecompressionBombError:
        raise DataError(f"{path}: its header claims more than {Image.MAX_IMAGE_PIXELS:,} pixels; this run translates "
                        f"{size}x{size} pictures (data.image_size = {size})") from None
    except (OSError, UnidentifiedImageError, ValueError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: not a readable picture ({type(e).__name__})") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def png_of(image: np.ndarray) -> bytes:
    """uint8 (C, H, W) -> PNG bytes."""
    import io

    from PIL import Image
    hwc = image.transpose(1, 2, 0)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(hwc[:, :, 0] if hwc.shape[2] == 1 else hwc)).save(buf, format="PNG")
    return buf.getvalue()


def run(args) -> int:
    import torch

    from gan_studio.core.data.images import to_float
    from gan_studio.core.families.cyclegan import sheet_png
    from gan_studio.core.io import atomic_write_bytes, refuse_output_in_runs
    from gan_studio.core.render import readable_scale
    from gan_studio.core.runs import trainer_from_run
    files = list_inputs(args.inputs)
    many = Path(args.inputs).is_dir()
    out = Path(args.out)
    if many:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out}: a file; --in is a folder, so --out must be a folder")
        if out.resolve() == Path(args.inputs).resolve():
            raise ConfigError(f"--out {out}: the same folder as --in; the translations would overwrite the inputs")
        stems = [p.stem for p in files]
        twice = sorted({s for s in stems if stems.count(s) > 1})
        if twice:
            raise ConfigError(f"--in {args.inputs}: several pictures are named {twice[0]!r} (different extensions); "
                              "their translations would share one NAME.png")
    elif out.suffix.lower() != ".png":
        raise ConfigError(f"--out {out}: one picture goes to a file ending in .png")
    elif out.resolve() == Path(args.inputs).resolve():
        raise ConfigError(f"--out {out}: the same file as --in; the translation would overwrite the input")
    if args.sheet and Path(args.sheet).suffix.lower() != ".png":
        raise ConfigError(f"--sheet {args.sheet}: must end in .png")
    if args.sheet:   # one file written over another: the sheet would replace a translation or an input
        written = {(out / f"{p.stem}.png").resolve() for p in files} if many else {out.resolve()}
        if Path(args.sheet).resolve() in written | {p.resolve() for p in files}:
            raise ConfigError(f"--sheet {args.sheet}: also the file of a translation (--out) or an input "
                              f"(--in); name another file for the sheet")
    refuse_output_in_runs([args.run_dir], ("--out", out), ("--sheet", args.sheet))

    tr, _ = trainer_from_run(args.run_dir, device=args.device)   # read-only: no lock, nothing written there
    if not tr.FAMILY.has("translation"):
        raise ConfigError(f"{args.run_dir} is a model.family = {tr.cfg.model.family!r} run; translate needs one that "
                          f"translates between two domains (model.family = cyclegan)")
    c, size = tr.data.shape[0], tr.data.shape[1]
    pixels = torch.from_numpy(np.stack([read_picture(p, size, c) for p in files]))   # all read before any write
    x = to_float(pixels)
    y, rec = tr.translate(x, args.direction)
    out_pixels = (y.detach().cpu().clamp(-1, 1) * 127.5 + 127.5).round().to(torch.uint8).numpy()
    if many:
        out.mkdir(parents=True, exist_ok=True)
        targets = [out / f"{p.stem}.png" for p in files]
    else:
        targets = [out]
    for target, image in zip(targets, out_pixels):
        atomic_write_bytes(target, png_of(image))
    if args.sheet:
        a, b = tr.domain_names
        (s, t), name = (("A", "B"), a) if args.direction == "a2b" else (("B", "A"), b)
        k = SHEET_IMAGES
        rows = [(f"input {s} ({name})", x[:k]), (f"{s} -> {t}", y[:k]), (f"{s} -> {t} -> {s}", rec[:k])]
        atomic_write_bytes(args.sheet, sheet_png(rows, scale=readable_scale(size)))
    a, b = tr.domain_names
    what = f"A -> B ({a} -> {b})" if args.direction == "a2b" else f"B -> A ({b} -> {a})"
    print(f"translated {len(files)} picture{'s' if len(files) != 1 else ''} {what} with {args.run_dir} at step "
          f"{tr.step_count}: wrote {out}" + (f" and {args.sheet}" if args.sheet else ""))
    return 0
