"""Image data sets behind the same interface as the 2-D toys: ``sample(n, generator)`` on the device.

Every set holds its images in memory as uint8 ``pixels`` (N, C, H, W) and hands out float32 batches
in [-1, 1]. What the metrics and the later labs need is public: ``labels`` and ``class_names`` where
the set has classes, and for ``shapes`` also ``attributes`` / ``attribute_values`` (shape, colour,
size, position per image) and ``captions``.

Sets: ``digits`` (scikit-learn's 1,797 handwritten 8x8 digits, no download), ``shapes`` (drawn here,
deterministic), ``mnist``, ``fashion-mnist``, ``cifar10`` (files in ``data.path``; parsed here without
unpickling arbitrary objects), and ``folder`` (an ImageFolder tree or a flat folder of pictures).
"""
from __future__ import annotations

import gzip
import hashlib
import math
import pickle
import warnings
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gan_studio.core.config import DataConfig
from gan_studio.core.data.registry import Dataset, register_dataset
from gan_studio.core.errors import ConfigError, DataError


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class ImageDataset(Dataset):
    """Images held as uint8 (N, C, H, W); batches are float32 in [-1, 1] on the device."""
    kind = "image"

    def __init__(self, name: str, pixels: torch.Tensor, labels: torch.Tensor | None = None,
                 class_names: list[str] | None = None, attributes: dict[str, torch.Tensor] | None = None,
                 attribute_values: dict[str, list[str]] | None = None, captions: list[str] | None = None):
        if pixels.dtype != torch.uint8 or pixels.ndim != 4 or len(pixels) == 0:
            raise DataError(f"{name}: no images, or not a uint8 (N, C, H, W) array")
        self.name = name
        self.pixels = pixels.contiguous()
        self.shape = tuple(pixels.shape[1:])
        self.labels = labels.long() if labels is not None else None
        self.class_names = list(class_names) if class_names is not None else None
        self.attributes = {k: v.long() for k, v in (attributes or {}).items()}
        self.attribute_values = dict(attribute_values or {})
        self.captions = captions
        self.device = torch.device("cpu")

    def __len__(self) -> int:
        return len(self.pixels)

    def to(self, device):
        device = torch.device(device)
        self.pixels = self.pixels.to(device)
        if self.labels is not None:
            self.labels = self.labels.to(device)
        self.attributes = {k: v.to(device) for k, v in self.attributes.items()}
        self.device = device
        self.__dict__.pop("images", None)
        return self

    def sample(self, n, generator):
        idx = torch.randint(len(self.pixels), (n,), generator=generator, device=self.device)
        return to_float(self.pixels[idx])

    @cached_property
    def images(self) -> torch.Tensor:
        """All images as float32 in [-1, 1] (made on first use: 4 bytes a pixel)."""
        return to_float(self.pixels)

    def bounds(self):
        raise TypeError("bounds() is for 2-D data")

    @cached_property
    def fingerprint(self) -> str:
        """A hash of the pixels and labels: the key of the metric classifier's cache."""
        h = hashlib.sha1()
        h.update(repr((self.name, self.shape)).encode())
        h.update(self.pixels.cpu().numpy().tobytes())
        if self.labels is not None:
            h.update(self.labels.cpu().numpy().astype(np.int64).tobytes())
        for k in sorted(self.attributes):
            h.update(k.encode())
            h.update(self.attributes[k].cpu().numpy().astype(np.int64).tobytes())
        return h.hexdigest()


def to_float(pixels: torch.Tensor) -> torch.Tensor:
    return pixels.float().mul_(2.0 / 255.0).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] to uint8."""
    return (images.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)


def resize_pixels(pixels: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """uint8 (N, C, h, w) to uint8 (N, C, size, size), bilinear (antialiased when shrinking)."""
    if pixels.shape[-2:] == (size, size):
        return pixels
    out = []
    for part in pixels.split(chunk):
        x = F.interpolate(part.float() / 255.0, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=part.shape[-1] > size)
        out.append(to_uint8(x))
    return torch.cat(out)


def convert_channels(pixels: torch.Tensor, channels: int, name: str) -> torch.Tensor:
    """0 keeps the set's own channels; 1 makes grey (ITU-R 601 luma); 3 repeats grey into RGB."""
    c = pixels.shape[1]
    if channels in (0, c):
        return pixels
    if channels == 3 and c == 1:
        return pixels.expand(-1, 3, -1, -1).contiguous()
    if channels == 1 and c == 3:
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return to_uint8((pixels.float() * w).sum(1, keepdim=True) / 255.0)
    raise ConfigError(f"data.channels = {channels} does not fit {name}, which has {c} channel(s)")


# -- digits ---------------------------------------------------------------------------------------
def make_digits(cfg: DataConfig) -> ImageDataset:
    from sklearn.datasets import load_digits
    d = load_digits()
    # values are 0..16 ink counts; scaling before the resize keeps the upsampled strokes smooth
    small = torch.from_numpy(d.images.astype(np.float32) / 16.0).unsqueeze(1)  # (1797, 1, 8, 8)
    size = cfg.image_size
    x = small if size == 8 else F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    pixels = convert_channels(to_uint8(x), cfg.channels, "digits")
    return ImageDataset("digits", pixels, torch.from_numpy(d.target), [str(i) for i in range(10)])


# -- shapes ---------------------------------------------------------------------------------------
SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (0.95, 0.15, 0.12), "green": (0.15, 0.80, 0.20), "blue": (0.15, 0.30, 0.95),
           "yellow": (0.95, 0.85, 0.10)}
SIZES = {"small": 0.11, "large": 0.19}  # radius as a fraction of the image side
POSITIONS = {"top left": (0.27, 0.27), "top right": (0.73, 0.27), "bottom left": (0.27, 0.73),
             "bottom right": (0.73, 0.73)}  # (x, y) of the centre, y down
SHAPES_DEFAULT_COUNT = 12_000
SHAPES_SEED = 0


def make_shapes(n: int, size: int, seed: int = SHAPES_SEED) -> ImageDataset:
    """``n`` images of one coloured shape on black, with attributes and a caption each.

    Every attribute is drawn independently and uniformly; centre (+-0.05 of the side), radius
    (+-10%) and brightness (+-10%) are jittered so that no two images are alike; edges are
    anti-aliased. The same (n, size, seed) gives the same images, bit for bit.
    """
    g = torch.Generator().manual_seed(seed)
    shape = torch.randint(len(SHAPES), (n,), generator=g)
    colour = torch.randint(len(COLOURS), (n,), generator=g)
    big = torch.randint(len(SIZES), (n,), generator=g)
    pos = torch.randint(len(POSITIONS), (n,), generator=g)
    jitter = (torch.rand(n, 2, generator=g) - 0.5) * 0.1
    r_scale = 1 + (torch.rand(n, generator=g) - 0.5) * 0.2
    bright = 1 + (torch.rand(n, generator=g) - 0.5) * 0.2

    centres = torch.tensor(list(POSITIONS.values()))[pos] + jitter                    # (n, 2)
    radius = torch.tensor(list(SIZES.values()))[big] * r_scale                          # (n,)
    rgb = (torch.tensor(list(COLOURS.values()))[colour] * bright[:, None]).clamp(0, 1)  # (n, 3)

    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    out = []
    for i in range(0, n, 1024):
        sl = slice(i, min(n, i + 1024))
        dx, dy = xx - centres[sl, 0, None, None], yy - centres[sl, 1, None, None]     # (b, size, size)
        r = radius[sl, None, None]
        kind = shape[sl]
        # signed distance to the outline (negative inside), in units of the image side; max() of
        # half-plane distances is exact inside a convex shape and close enough just outside it
        dist = torch.empty_like(dx)
        for k, fn in enumerate((_circle_sd, _square_sd, _triangle_sd)):
            m = kind == k
            if m.any():
                dist[m] = fn(dx[m], dy[m], r[m])
        # coverage of a pixel by a straight edge at distance d (in pixels): anti-aliased edges
        # without drawing at a higher resolution
        cover = (0.5 - dist * size).clamp(0, 1)[:, None]                                # (b, 1, size, size)
        out.append(to_uint8(cover * rgb[sl, :, None, None]))
    pixels = torch.cat(out)

    shape_names, colour_names = list(SHAPES), list(COLOURS)
    size_names, pos_names = list(SIZES), list(POSITIONS)
    captions = [f"a {size_names[b]} {colour_names[c]} {shape_names[s]} at the {pos_names[p]}"
                for s, c, b, p in zip(shape.tolist(), colour.tolist(), big.tolist(), pos.tolist())]
    return ImageDataset(
        "shapes", pixels,
        labels=shape * len(COLOURS) + colour,
        class_names=[f"{c} {s}" for s in shape_names for c in colour_names],
        attributes={"shape": shape, "colour": colour, "size": big, "position": pos},
        attribute_values={"shape": shape_names, "colour": colour_names, "size": size_names,
                          "position": pos_names},
        captions=captions)


def _circle_sd(dx, dy, r):
    return torch.sqrt(dx * dx + dy * dy) - r


def _square_sd(dx, dy, r):
    return torch.maximum(dx.abs(), dy.abs()) - 0.85 * r  # about the area of the circle of radius r


_TRI_ANGLES = torch.tensor([-math.pi / 2, math.pi / 6, 5 * math.pi / 6])  # apex up (y points down)


def _triangle_sd(dx, dy, r):
    """An equilateral triangle with circumradius 1.15 r, apex up: each edge's outward normal points
    away from the opposite vertex, at distance inradius = circumradius / 2 from the centre."""
    inradius = 0.5 * 1.15 * r
    normals = -torch.stack([torch.cos(_TRI_ANGLES), torch.sin(_TRI_ANGLES)], 1)  # opposite each vertex
    return torch.stack([dx * nx + dy * ny for nx, ny in normals.tolist()]).amax(0) - inradius


def _shapes(cfg: DataConfig) -> ImageDataset:
    if cfg.channels == 1:
        raise ConfigError("data.channels = 1 does not fit shapes: colour is one of its attributes; use 0 or 3")
    n = getattr(cfg, "num_images", 0) or SHAPES_DEFAULT_COUNT
    return make_shapes(n, cfg.image_size)


# -- MNIST and Fashion-MNIST (IDX files) -------------------------------------------------------------
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                   "Bag", "Ankle boot"]


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format: big-endian header, uint8 data), plain or gzipped."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot be read ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    count = int(np.prod(dims)) if dims else 0
    if len(raw) - header != count:
        raise DataError(f"{path}: expected {count} bytes of data for shape {tuple(dims)}, "
                        f"found {len(raw) - header} (truncated or not this format)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find_files(root: Path, subdirs: list[str], names: tuple[str, ...]) -> list[Path] | None:
    for d in [root] + [root / s for s in subdirs]:
        found = []
        for name in names:
            hits = [d / name, d / (name + ".gz")]
            hit = next((h for h in hits if h.is_file()), None)
            if hit is None:
                break
            found.append(hit)
        else:
            return found
    return None


def download_reason(error: Exception) -> str:
    """One line for a failed download: torchvision puts the reason on the lines after 'Error downloading
    X:' (each mirror tried, with what it got), so the first line alone said nothing."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = " ".join(lines) or type(error).__name__
    return text if len(text) <= 240 else text[:240].rsplit(" ", 1)[0] + " ..."


def _data_root(cfg: DataConfig, what: str) -> Path:
    if not cfg.path:
        hint = "" if cfg.name == "folder" else " (or will, with data.download = true)"
        raise ConfigError(f"data.name = {cfg.name!r} needs data.path: the folder that holds {what}{hint}")
    return Path(cfg.path).expanduser()


def _idx_set(cfg: DataConfig, title: str, tv_name: str, class_names: list[str]) -> ImageDataset:
    root = _data_root(cfg, f"the {title} files")
    subdirs = [f"{tv_name}/raw", "raw"]
    files = _find_files(root, subdirs, MNIST_FILES)
    if files is None and cfg.download:
        try:
            import torchvision.datasets as tvd
            getattr(tvd, tv_name)(str(root), train=True, download=True)
        except Exception as e:  # noqa: BLE001 - any network or disk failure becomes one clear line
            raise DataError(f"could not download {title} into {root}: {download_reason(e)}") \
                from None
        files = _find_files(root, subdirs, MNIST_FILES)
    if files is None:
        raise DataError(f"{title} not found in {root}: expected {' and '.join(MNIST_FILES)} (optionally "
                        f".gz) in {root} or {root / tv_name / 'raw'}; set data.download = true to fetch them")
    images, labels = read_idx(files[0]), read_idx(files[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{files[0]} and {files[1]} do not match: images {images.shape}, labels {labels.shape}")
    if labels.size and labels.max() >= len(class_names):
        raise DataError(f"{files[1]}: label {int(labels.max())} is out of range 0..{len(class_names) - 1}")
    pixels = resize_pixels(torch.from_numpy(images.copy()).unsqueeze(1), cfg.image_size)
    pixels = convert_channels(pixels, cfg.channels, title)
    return ImageDataset(cfg.name, pixels, torch.from_numpy(labels.astype(np.int64)), class_names)


# -- CIFAR-10 (python batches through a restricted unpickler, or the binary version) -----------------
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes and numpy arrays only: any other global is refused, so a
    hostile file cannot run code."""
    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name}")


def _read_cifar_py(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as fh:
            d = _ArrayUnpickler(fh, encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise DataError(f"{path}: refused ({e}); a CIFAR batch holds only arrays and lists") from None
    except (OSError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise DataError(f"{path}: cannot be read as a CIFAR-10 batch ({type(e).__name__})") from None
    if not isinstance(d, dict):
        raise DataError(f"{path}: not a CIFAR-10 batch (expected a dict with data and labels)")
    d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
    data, labels = d.get("data"), d.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 \
            or labels is None or len(labels) != len(data):
        raise DataError(f"{path}: not a CIFAR-10 batch (data must be uint8 (N, 3072) with N labels)")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def _read_cifar_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % 3073:
        raise DataError(f"{path}: not a CIFAR-10 binary batch (its size must be a multiple of 3073 bytes)")
    rec = raw.reshape(-1, 3073)
    return rec[:, 1:].reshape(-1, 3, 32, 32), rec[:, 0].astype(np.int64)


def _cifar10(cfg: DataConfig) -> ImageDataset:
    root = _data_root(cfg, "the CIFAR-10 batches")
    py = _find_files(root, ["cifar-10-batches-py"], CIFAR_BATCHES)
    binary = _find_files(root, ["cifar-10-batches-bin"], tuple(b + ".bin" for b in CIFAR_BATCHES))
    if py is None and binary is None and cfg.download:
        try:
            from torchvision.datasets import CIFAR10
            from torchvision.datasets.utils import download_and_extract_archive
            # download only: torchvision's own loader would unpickle the batches unrestricted
            download_and_extract_archive(CIFAR10.url, str(root), filename=CIFAR10.filename, md5=CIFAR10.tgz_md5)
        except Exception as e:  # noqa: BLE001 - any network or disk failure becomes one clear line
            raise DataError(f"could not download CIFAR-10 into {root}: {download_reason(e)}") \
                from None
        py = _find_files(root, ["cifar-10-batches-py"], CIFAR_BATCHES)
    if py is None and binary is None:
        raise DataError(f"CIFAR-10 not found in {root}: expected data_batch_1 ... data_batch_5 in {root} or "
                        f"{root / 'cifar-10-batches-py'} (or the .bin batches in {root / 'cifar-10-batches-bin'}); "
                        "set data.download = true to fetch them")
    parts = [_read_cifar_py(p) for p in py] if py is not None else [_read_cifar_bin(p) for p in binary]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"CIFAR-10 in {root}: labels must be 0..9")
    pixels = resize_pixels(torch.from_numpy(images.copy()), cfg.image_size)
    pixels = convert_channels(pixels, cfg.channels, "cifar10")
    return ImageDataset("cifar10", pixels, torch.from_numpy(labels), CIFAR_CLASSES)


# -- any folder of pictures ------------------------------------------------------------------------
def _folder(cfg: DataConfig) -> ImageDataset:
    root = _data_root(cfg, "your pictures (sub-folders per class, or a flat folder)")
    if not root.is_dir():
        raise DataError(f"data.path = {str(root)!r}: no such folder")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files: list[tuple[Path, int]] = []
    for i, c in enumerate(classes):
        files += [(p, i) for p in sorted((root / c).rglob("*")) if p.suffix.lower() in IMAGE_EXTENSIONS]
    labelled = bool(files)
    if not labelled:
        files = [(p, -1) for p in sorted(root.iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS]
    if not files:
        raise DataError(f"no pictures in {root}: expected files ending in {', '.join(IMAGE_EXTENSIONS)}, "
                        "directly in the folder or in one sub-folder per class")
    pics, labels = [], []
    from PIL import Image, UnidentifiedImageError
    grey = True
    for path, label in files:
        try:
            with open_picture(path) as im:
                im.load()
                grey &= im.mode in ("1", "L", "LA", "I", "I;16", "F")
                pics.append(_square(im.convert("RGB"), cfg.image_size))
        except Image.DecompressionBombError:   # a header that claims 89 million pixels or more: not decoded
            raise DataError(f"{path}: too many pixels to be a picture of a training set (more than "
                            f"{Image.MAX_IMAGE_PIXELS:,}); remove it or make it smaller") from None
        except (OSError, UnidentifiedImageError, ValueError) as e:
            raise DataError(f"{path}: not a readable picture ({type(e).__name__}); remove it or fix it") \
                from None
        labels.append(label)
    pixels = torch.from_numpy(np.stack(pics)).permute(0, 3, 1, 2).contiguous()
    if cfg.channels == 0 and grey:
        pixels = convert_channels(pixels, 1, "folder")
    else:
        pixels = convert_channels(pixels, cfg.channels, "folder")
    if labelled:
        return ImageDataset("folder", pixels, torch.tensor(labels), classes)
    return ImageDataset("folder", pixels)


def open_picture(path):
    """``PIL.Image.open(path)``, with a picture whose header claims more than ``Image.MAX_IMAGE_PIXELS``
    pixels (89 million) refused as ``Image.DecompressionBombError`` before any pixel is decoded. Pillow
    refuses only above twice that; between the two it prints a DecompressionBombWarning on stderr and
    goes on to decode hundreds of megabytes, which no picture the studio reads needs."""
    from PIL import Image
    with warnings.catch_warnings():   # the process's filters, for this call only (a Pillow warning is ours to turn)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(path)   # Pillow closes the file when the check raises
        except Image.DecompressionBombWarning as e:
            raise Image.DecompressionBombError(str(e)) from None


def _square(im, size: int) -> np.ndarray:
    """Centre crop to a square, then resize: the aspect ratio is kept."""
    from PIL import Image
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    return np.asarray(im.resize((size, size), Image.BILINEAR), dtype=np.uint8)


# -- a set without data: generators imported from other programs ---------------------------------------
class NoImages(Dataset):
    """The data of an imported generator, or the stand-in for a run's pictures that cannot be read:
    their shape is known (and ``class_names``, the classes the run saved for G to draw), the images
    are not. ``missing``: why there are none, said when something asks for a batch."""
    kind = "image"
    labels = captions = None
    attributes: dict = {}

    def __init__(self, shape: tuple, class_names: list[str] | None = None, missing: str = ""):
        self.name, self.shape, self.device = "imported", tuple(shape), torch.device("cpu")
        self.class_names = list(class_names) if class_names is not None else None
        self.missing = missing or ("this run holds a generator imported from another program and no real "
                                   "images: it can be sampled (gan-studio sample, the latent lab), not trained")

    def to(self, device):
        self.device = torch.device(device)
        return self

    def sample(self, n, generator):
        raise DataError(self.missing)


def no_images(cfg: DataConfig, class_names: list[str] | None = None, missing: str = "") -> NoImages:
    """The ``imported`` set of ``cfg``'s shape (data.channels = 0: colour); see :class:`NoImages`."""
    return NoImages((cfg.channels or 3, cfg.image_size, cfg.image_size), class_names, missing)


register_dataset("digits", make_digits, "image",
                 "scikit-learn's 1,797 handwritten digits (8x8, 10 classes) scaled to data.image_size; "
                 "no download")
register_dataset("shapes", _shapes, "image",
                 "coloured circles, squares and triangles drawn by the studio, with shape, colour, size, "
                 "position and a caption per image")
register_dataset("mnist", lambda c: _idx_set(c, "MNIST", "MNIST", [str(i) for i in range(10)]), "image",
                 "MNIST training digits (60,000) from the folder data.path", folder="the MNIST files")
register_dataset("fashion-mnist", lambda c: _idx_set(c, "Fashion-MNIST", "FashionMNIST", FASHION_CLASSES),
                 "image", "Fashion-MNIST training images (60,000) from the folder data.path",
                 folder="the Fashion-MNIST files")
register_dataset("cifar10", _cifar10, "image", "CIFAR-10 training images (50,000) from the folder data.path",
                 folder="the CIFAR-10 batches")
register_dataset("folder", _folder, "image",
                 "your pictures in data.path: one sub-folder per class (ImageFolder) or a flat folder",
                 folder="your pictures")
register_dataset("imported", no_images, "image",
                 "no data: the shape of a generator imported from another program (sampling only)",
                 trainable=False)
