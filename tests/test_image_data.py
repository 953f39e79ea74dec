"""Image data sets: the built-in ones, and the loaders of MNIST/CIFAR/folders on files written here
in the real formats."""
import gzip
import pickle

import numpy as np
import pytest
import torch

from gan_studio.core.config import Config
from gan_studio.core.data.images import make_shapes, read_idx
from gan_studio.core.data.registry import build_dataset, dataset_kind, dataset_names
from gan_studio.core.errors import ConfigError, DataError


def _cfg(**kv):
    cfg = Config()
    for k, v in kv.items():
        cfg.set(k.replace("__", "."), v)
    return cfg.data


def test_image_sets_are_registered():
    names = dataset_names("image")
    for n in ("digits", "shapes", "mnist", "fashion-mnist", "cifar10", "folder"):
        assert n in names and dataset_kind(n) == "image"
    assert "ring8" not in names


@pytest.mark.parametrize("size", [8, 16, 32])
def test_digits_are_the_sklearn_digits_scaled(size):
    d = build_dataset(_cfg(data__name="digits", data__image_size=size))
    assert d.kind == "image" and d.shape == (1, size, size) and len(d) == 1797
    from sklearn.datasets import load_digits
    ref = load_digits()
    assert d.labels.tolist() == ref.target.tolist()
    if size == 8:  # no resize: the pixels are sklearn's 0..16 ink counts, scaled to 0..255
        assert torch.allclose(d.pixels[:, 0].float(), torch.from_numpy(ref.images).float() * 255 / 16, atol=0.5)
    x = d.sample(64, torch.Generator().manual_seed(0))
    assert x.dtype == torch.float32 and x.shape == (64, 1, size, size)
    assert x.min() >= -1 and x.max() <= 1
    # the background is black (-1) and strokes reach full ink: images use the whole range
    assert (x == -1).float().mean() > 0.2 and x.max() > 0.9
    # a 0 and a 1 of the set differ: the ink of class 1 is concentrated in the middle columns
    ones, zeros = d.images[d.labels == 1].mean(0)[0], d.images[d.labels == 0].mean(0)[0]
    mid = slice(size * 3 // 8, size * 5 // 8)
    assert ones[:, mid].mean() - ones.mean() > zeros[:, mid].mean() - zeros.mean()


def test_digits_in_colour_repeat_grey():
    d = build_dataset(_cfg(data__name="digits", data__image_size=16, data__channels=3))
    assert d.shape == (3, 16, 16)
    assert torch.equal(d.pixels[:, 0], d.pixels[:, 2])


def test_shapes_are_deterministic_labelled_and_captioned():
    a, b = make_shapes(300, 16, seed=3), make_shapes(300, 16, seed=3)
    assert torch.equal(a.pixels, b.pixels) and a.captions == b.captions
    assert not torch.equal(a.pixels, make_shapes(300, 16, seed=4).pixels)
    assert a.shape == (3, 16, 16)
    assert set(a.attributes) == {"shape", "colour", "size", "position"}
    assert a.attribute_values["colour"][:4] == ["red", "green", "blue", "yellow"]
    for name, values in a.attribute_values.items():  # every value occurs
        assert a.attributes[name].bincount(minlength=len(values)).min() > 0
    i = 0
    words = {k: a.attribute_values[k][int(a.attributes[k][i])] for k in a.attributes}
    assert a.captions[i] == f"a {words['size']} {words['colour']} {words['shape']} at the {words['position']}"
    assert a.class_names[int(a.labels[i])] == f"{words['colour']} {words['shape']}"


def test_shapes_pixels_match_their_attributes():
    d = make_shapes(400, 32, seed=0)
    img = d.pixels.float() / 255
    ink = img.sum(1)                                              # (N, 32, 32)
    # colour: the brightest channel pattern fits the named colour
    red = d.attributes["colour"] == 0
    assert (img[red, 0].sum((1, 2)) > 3 * img[red, 2].sum((1, 2))).all()
    yellow = d.attributes["colour"] == 3
    assert (img[yellow, 1].sum((1, 2)) > 3 * img[yellow, 2].sum((1, 2))).all()
    # size: large shapes cover more pixels than small ones of the same kind
    area = (ink > 0.5).float().sum((1, 2))
    big = d.attributes["size"] == 1
    assert area[big].min() > area[~big].max()
    # position: the ink's centre lies in the named quadrant (top left = 0)
    ys, xs = torch.meshgrid(torch.arange(32.), torch.arange(32.), indexing="ij")
    cx = (ink * xs).sum((1, 2)) / ink.sum((1, 2))
    cy = (ink * ys).sum((1, 2)) / ink.sum((1, 2))
    quadrant = (cy > 16).long() * 2 + (cx > 16).long()
    assert torch.equal(quadrant, d.attributes["position"])
    # shape: a circle fills pi/4 of its bounding box, a square all of it, a triangle about half
    rows = (ink > 0.5).any(2).float().sum(1)
    cols = (ink > 0.5).any(1).float().sum(1)
    fill = area / (rows * cols)
    big_fill = {k: fill[big & (d.attributes["shape"] == k)].mean().item() for k in range(3)}
    assert big_fill[1] > big_fill[0] > big_fill[2]


def test_shapes_config_size_and_colour_rule():
    d = build_dataset(_cfg(data__name="shapes", data__image_size=16, data__num_images=500))
    assert len(d) == 500 and len(d.captions) == 500
    with pytest.raises(ConfigError, match="channels"):
        build_dataset(_cfg(data__name="shapes", data__channels=1))


def _write_idx(path, arr, gz=False):
    arr = np.asarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    raw = header + arr.tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


@pytest.mark.parametrize("name,sub", [("mnist", "MNIST/raw"), ("fashion-mnist", "FashionMNIST/raw")])
def test_mnist_files_in_the_idx_format(tmp_path, name, sub):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    labels = np.arange(20) % 10
    raw = tmp_path / sub
    raw.mkdir(parents=True)
    _write_idx(raw / "train-images-idx3-ubyte.gz", imgs, gz=True)
    _write_idx(raw / "train-labels-idx1-ubyte", labels)
    d = build_dataset(_cfg(data__name=name, data__path=str(tmp_path), data__image_size=32))
    assert d.shape == (1, 32, 32) and len(d) == 20
    assert d.labels.tolist() == labels.tolist()
    assert len(d.class_names) == 10
    # the image content survives the resize: correlation with the original, upsampled
    up = torch.nn.functional.interpolate(torch.from_numpy(imgs).float()[:, None], size=32, mode="bilinear")
    corr = np.corrcoef(up.flatten().numpy(), d.pixels.float().flatten().numpy())[0, 1]
    assert corr > 0.95


def test_mnist_missing_or_broken_files_say_what_is_expected(tmp_path):
    with pytest.raises(DataError) as e:
        build_dataset(_cfg(data__name="mnist", data__path=str(tmp_path)))
    msg = str(e.value)
    assert str(tmp_path) in msg and "train-images-idx3-ubyte" in msg and "download" in msg
    with pytest.raises(ConfigError, match="data.path"):
        build_dataset(_cfg(data__name="mnist"))
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + (5).to_bytes(4, "big") * 3 + b"xx")
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(5))
    with pytest.raises(DataError, match="expected 125 bytes"):
        build_dataset(_cfg(data__name="mnist", data__path=str(tmp_path)))
    with pytest.raises(DataError, match="magic"):
        (tmp_path / "x").write_bytes(b"PK\x03\x04rest")
        read_idx(tmp_path / "x")


def test_cifar_python_batches_load_without_running_code(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(1, 6):
        batch = {b"batch_label": b"training batch", b"labels": [(i + j) % 10 for j in range(4)],
                 b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"filenames": [b"a.png"] * 4}
        with open(folder / f"data_batch_{i}", "wb") as fh:
            pickle.dump(batch, fh, protocol=2)
    d = build_dataset(_cfg(data__name="cifar10", data__path=str(tmp_path), data__image_size=32))
    assert d.shape == (3, 32, 32) and len(d) == 20
    with open(folder / "data_batch_1", "rb") as fh:
        first = pickle.load(fh)
    assert torch.equal(d.pixels[0].flatten(), torch.from_numpy(first[b"data"][0]))  # R plane, then G, B
    assert d.class_names[int(d.labels[0])] == "automobile"

    class Evil:
        def __reduce__(self):
            return (print, ("ran code",))
    with open(folder / "data_batch_3", "wb") as fh:
        pickle.dump({b"data": Evil(), b"labels": []}, fh)
    with pytest.raises(DataError, match="refused"):
        build_dataset(_cfg(data__name="cifar10", data__path=str(tmp_path)))


def test_cifar_binary_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for i in range(1, 6):
        rec = np.zeros((3, 3073), np.uint8)
        rec[:, 0] = [i % 10, 2, 9]
        rec[:, 1:1025] = 200  # a red plane
        (folder / f"data_batch_{i}.bin").write_bytes(rec.tobytes())
    d = build_dataset(_cfg(data__name="cifar10", data__path=str(tmp_path), data__image_size=16))
    assert d.shape == (3, 16, 16) and len(d) == 15
    assert d.labels[:3].tolist() == [1, 2, 9]
    assert (d.pixels[:, 0] == 200).all() and (d.pixels[:, 1] == 0).all()
    grey = build_dataset(_cfg(data__name="cifar10", data__path=str(tmp_path), data__image_size=16,
                              data__channels=1))
    assert grey.shape == (1, 16, 16) and abs(int(grey.pixels[0, 0, 0, 0]) - round(0.299 * 200)) <= 1


def test_image_folder_layouts(tmp_path):
    from PIL import Image
    for cls, colour in (("cats", (255, 0, 0)), ("dogs", (0, 0, 255))):
        (tmp_path / "tree" / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (40, 30), colour).save(tmp_path / "tree" / cls / f"{i}.png")
    d = build_dataset(_cfg(data__name="folder", data__path=str(tmp_path / "tree"), data__image_size=16))
    assert d.shape == (3, 16, 16) and len(d) == 6 and d.class_names == ["cats", "dogs"]
    assert d.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert (d.pixels[d.labels == 0][:, 0] == 255).all() and (d.pixels[d.labels == 1][:, 2] == 255).all()

    (tmp_path / "flat").mkdir()
    for i in range(4):
        Image.new("L", (20, 20), 40 * i).save(tmp_path / "flat" / f"{i}.jpg")
    (tmp_path / "flat" / "notes.txt").write_text("not a picture")
    flat = build_dataset(_cfg(data__name="folder", data__path=str(tmp_path / "flat"), data__image_size=8))
    assert flat.shape == (1, 8, 8) and len(flat) == 4 and flat.labels is None  # grey pictures stay grey

    (tmp_path / "flat" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png"):
        build_dataset(_cfg(data__name="folder", data__path=str(tmp_path / "flat")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no pictures"):
        build_dataset(_cfg(data__name="folder", data__path=str(tmp_path / "empty")))
    with pytest.raises(DataError, match="no such folder"):
        build_dataset(_cfg(data__name="folder", data__path=str(tmp_path / "nope")))


def test_data_errors_are_one_line_cli_errors():
    from gan_studio.cli import user_errors
    assert DataError in user_errors()


def test_a_failed_download_says_why_and_a_folder_is_not_offered_a_download(tmp_path, monkeypatch):
    """torchvision's message puts the reason on the lines after 'Error downloading X:'; the user must
    see it. And data.name = folder cannot be downloaded, so its message must not offer it."""
    import torchvision.datasets as tvd

    def offline(*_a, **_k):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://example/mnist/, got:\n"
                           "<urlopen error [Errno -2] Name or service not known>\n")
    monkeypatch.setattr(tvd, "MNIST", offline)
    with pytest.raises(DataError) as e:
        build_dataset(_cfg(data__name="mnist", data__path=str(tmp_path), data__download=True))
    assert "Name or service not known" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ConfigError) as e:
        build_dataset(_cfg(data__name="folder"))
    assert "data.path" in str(e.value) and "download" not in str(e.value)
    with pytest.raises(ConfigError, match="data.download = true"):
        build_dataset(_cfg(data__name="mnist"))
