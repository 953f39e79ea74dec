"""Image metrics computed in the studio, with nothing downloaded.

A small CNN is trained once on the real images of a labelled set and cached in the user's cache
folder (``$XDG_CACHE_HOME/gan-studio/classifiers``), keyed by the set, its size and a hash of its
pixels and labels. It has one head per label set: ``class`` (the digit, the garment; for shapes the
colour+shape pair) and, for shapes, ``shape``, ``colour``, ``size`` and ``position``.

From the classifier's view of ``N_IMAGE_EVAL`` (1,000) generated images:

- ``classes_covered``: classes predicted for at least one image; ``classes_covered_strict``: classes
  with at least 1/4 of their expected share (0.25 * N * real frequency), as METHODS.md does for modes.
- ``class_kl``: KL(p_gen || p_real) of the predicted-class histogram to the real class frequencies,
  summed over classes with p_gen > 0 (METHODS.md's reverse KL, with the real histogram as reference).
- ``confident_pct``: % of images the classifier puts in one class with probability >= 0.9.
- ``fd_classifier``: the Fréchet distance between Gaussians fitted to the classifier's penultimate
  features (128-d) of real images and of generated ones. This is NOT the Inception FID: the features
  come from this small classifier, so values compare runs on the same data set only.
- shapes only: ``{attribute}_covered`` and ``{attribute}_kl`` per attribute.
- ``classifier_acc``: the classifier's lowest head accuracy on held-out real images (trust the
  other numbers only when it is high).
"""
from __future__ import annotations

import io
import logging
import os
import threading
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_studio.core.io import atomic_write_bytes

log = logging.getLogger(__name__)

N_IMAGE_EVAL = 1000
N_REAL_STATS = 5000
#: 2: seeded initial weights, one torch thread (version 1 took its initial weights from the global random
#: state and ran at the caller's thread count, so the same images could give different classifiers)
CLASSIFIER_VERSION = 2
#: the torch threads a metric classifier is trained on, whatever the caller runs at: a CPU's float
#: sums depend on how the work is split between threads, and fd_classifier on the classifier's weights
CLASSIFIER_THREADS = 1
CONFIDENT = 0.9
#: the most Adam steps (batch 128) to train a metric classifier; it stops early at 99% held-out accuracy
#: (16 px shapes, seeded as it is, reach 99 % a little after 2,000 steps: 2,000 left their shape head at 91 %)
CLASSIFIER_STEPS = 4000


class ImageClassifier(nn.Module):
    """images (N, C, S, S) in [-1, 1] -> 128-d features -> one logit vector per head."""

    def __init__(self, channels: int, heads: dict[str, int]):
        super().__init__()
        self.body = nn.Sequential(
            # input: C x S x S
            nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(True), nn.MaxPool2d(2),
            # state: 16 x S/2 x S/2
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(True), nn.MaxPool2d(2),
            # state: 32 x S/4 x S/4
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(True),
            # a 2x2 pool keeps where things are (the position attribute) at any image size
            nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            # state: 256
            nn.Linear(256, 128), nn.ReLU(True),
            # state: 128 (the features of fd_classifier)
        )
        self.heads = nn.ModuleDict({k: nn.Linear(128, n) for k, n in heads.items()})

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.body(x)
        return {k: head(h) for k, head in self.heads.items()}


class MetricModel:
    """A trained classifier with its held-out accuracy and the real images' feature statistics."""

    def __init__(self, net: ImageClassifier, accuracy: dict[str, float], real_mu: np.ndarray,
                 real_cov: np.ndarray, real_freq: dict[str, np.ndarray]):
        self.net, self.accuracy = net.eval(), accuracy
        self.real_mu, self.real_cov, self.real_freq = real_mu, real_cov, real_freq

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(features (N, 128), {head: probabilities (N, K)}) for images in [-1, 1], on the CPU."""
        dev = next(self.net.parameters()).device
        feats, probs = [], {k: [] for k in self.net.heads}
        for part in images.split(batch):
            h = self.net.features(part.to(dev, torch.float32))
            feats.append(h.cpu())
            for k, head in self.net.heads.items():
                probs[k].append(F.softmax(head(h), 1).cpu())
        return torch.cat(feats), {k: torch.cat(v) for k, v in probs.items()}


def label_heads(data) -> dict[str, tuple[torch.Tensor, list[str]]]:
    """The label sets of an image data set: name -> (labels (N,), value names). Empty: no labels."""
    heads = {}
    if getattr(data, "labels", None) is not None:
        heads["class"] = (data.labels, list(data.class_names))
    for k, v in (getattr(data, "attributes", None) or {}).items():
        heads[k] = (v, list(data.attribute_values[k]))
    return heads


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gan-studio" / "classifiers"


def cache_path(data, seed: int = 0) -> Path:
    c, s = data.shape[0], data.shape[1]
    tag = f"-seed{seed}" if seed else ""   # seed 0 is the studio's own classifier (the metrics')
    return cache_dir() / f"{data.name}-{s}px-{c}ch-v{CLASSIFIER_VERSION}{tag}-{data.fingerprint[:16]}.pt"


_models: dict[str, MetricModel] = {}
_lock = threading.Lock()


def get_metric_model(data, train_steps: int | None = None, seed: int = 0) -> MetricModel | None:
    """The cached classifier of ``data`` (memory, then disk, then trained now); None without labels.
    ``seed`` 0 is the one every image metric uses; other seeds train other classifiers of the same
    images, so that a benchmark can show how much a feature-based figure (fd_classifier) depends on
    the one classifier it was measured with."""
    heads = label_heads(data)
    if not heads:
        return None
    path = cache_path(data, seed)
    key = path.name
    with _lock:
        if key in _models:
            return _models[key]
        model = _load(path, data, heads)
        if model is None:
            # warning level: the one message a CLI user sees while training pauses for it
            log.warning("training the image-metric classifier for %s once (a minute or more on a CPU; "
                        "cached in %s)", data.name, cache_dir())
            model = _train(data, heads, train_steps or CLASSIFIER_STEPS, seed)
            _save(model, path)
        _models[key] = model
        return model


def _train(data, heads: dict, max_steps: int, seed: int = 0) -> MetricModel:
    """Adam on 90% of the real images; stop when every head is >= 99% right on the other 10%.
    Seeded (its data order and its initial weights) and on ``CLASSIFIER_THREADS`` torch threads, so
    that the same images give the same classifier at any thread count (on one kind of CPU: another
    instruction set may round differently)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(CLASSIFIER_THREADS)
    try:
        # the initial weights too come from the seed, not from whatever the global generator's state is
        # when the first image metric is asked for; the caller's generator is left as it was
        # a caller measuring under no_grad or inference_mode (a benchmark's level table, an evaluation)
        # asks for a classifier that is not cached yet: training it needs gradients all the same
        with torch.random.fork_rng(devices=[]), torch.inference_mode(False), torch.enable_grad():
            torch.manual_seed(seed)
            return _train_seeded(data, heads, max_steps, seed)
    finally:
        torch.set_num_threads(threads)


def _train_seeded(data, heads: dict, max_steps: int, seed: int = 0) -> MetricModel:
    g = torch.Generator().manual_seed(seed)
    images = data.pixels.cpu()
    labels = {k: v.cpu() for k, (v, _) in heads.items()}
    n = len(images)
    perm = torch.randperm(n, generator=g)
    n_val = max(1, n // 10)
    val, tr = perm[:n_val], perm[n_val:]
    net = ImageClassifier(images.shape[1], {k: len(names) for k, (_, names) in heads.items()})
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    batch = 128
    acc: dict[str, float] = {}
    check_every = 100
    for step in range(1, max_steps + 1):
        idx = tr[torch.randint(len(tr), (batch,), generator=g)]
        x = _to_float(images[idx])
        # one pixel of shift and a little noise: generated images are never quite like the real ones
        x = torch.roll(x, shifts=tuple(torch.randint(-1, 2, (2,), generator=g).tolist()), dims=(2, 3))
        x = x + 0.05 * torch.randn(x.shape, generator=g)
        out = net(x)
        loss = sum(F.cross_entropy(out[k], labels[k][idx]) for k in out)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % check_every == 0 or step == max_steps:
            acc = _accuracy(net, images[val], {k: v[val] for k, v in labels.items()})
            net.train()
            if min(acc.values()) >= 0.99:
                break
    net.eval()
    with torch.no_grad():
        sub = torch.randperm(n, generator=g)[:N_REAL_STATS]
        feats = torch.cat([net.features(_to_float(images[p])) for p in sub.split(500)]).double().numpy()
    freq = {k: np.bincount(v.numpy(), minlength=len(heads[k][1])) / n for k, v in labels.items()}
    return MetricModel(net, acc, feats.mean(0), np.cov(feats, rowvar=False), freq)


@torch.no_grad()
def _accuracy(net, images, labels) -> dict[str, float]:
    net.eval()
    hits = {k: 0 for k in labels}
    for p in torch.arange(len(images)).split(500):
        out = net(_to_float(images[p]))
        for k in hits:
            hits[k] += int((out[k].argmax(1) == labels[k][p]).sum())
    return {k: h / len(images) for k, h in hits.items()}


def _to_float(pixels: torch.Tensor) -> torch.Tensor:
    return pixels.float() * (2.0 / 255.0) - 1.0


def _save(model: MetricModel, path: Path) -> None:
    state = {
        "version": CLASSIFIER_VERSION,
        "net": model.net.state_dict(),
        "heads": {k: h.out_features for k, h in model.net.heads.items()},
        "channels": model.net.body[0].in_channels,
        "accuracy": model.accuracy,
        "real_mu": torch.from_numpy(model.real_mu),
        "real_cov": torch.from_numpy(model.real_cov),
        "real_freq": {k: torch.from_numpy(v) for k, v in model.real_freq.items()},
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as e:  # a read-only cache only costs the retraining next time
        log.warning("could not cache the metric classifier in %s: %s", path, e)


def _load(path: Path, data, heads: dict) -> MetricModel | None:
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("version") != CLASSIFIER_VERSION or \
                state["heads"] != {k: len(names) for k, (_, names) in heads.items()}:
            return None
        net = ImageClassifier(int(state["channels"]), dict(state["heads"]))
        net.load_state_dict(state["net"])
        return MetricModel(net, dict(state["accuracy"]), state["real_mu"].numpy(), state["real_cov"].numpy(),
                           {k: v.numpy() for k, v in state["real_freq"].items()})
    except Exception as e:  # noqa: BLE001 - a broken cache file is retrained, never trusted
        log.warning("ignoring the unreadable classifier cache %s: %s", path, e)
        return None


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)).

    tr((C1 C2)^(1/2)) = sum of sqrt(eigenvalues of S C2 S) with S = C1^(1/2): symmetric matrices
    only, so eigh is stable where a general matrix square root of C1 C2 is not."""
    w, v = np.linalg.eigh(cov1)
    s = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = s @ cov2 @ s
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * tr_sqrt)


def histogram_metrics(pred: np.ndarray, real_freq: np.ndarray) -> tuple[int, int, float]:
    """(covered, strictly covered, KL(p_gen || p_real)) of predicted labels against real frequencies."""
    k = len(real_freq)
    counts = np.bincount(pred, minlength=k)
    n = counts.sum()
    covered = int((counts > 0).sum())
    strict = int(((counts > 0) & (counts >= 0.25 * n * real_freq)).sum())
    p = counts / max(n, 1)
    nz = (p > 0) & (real_freq > 0)
    kl = float(np.sum(p[nz] * np.log(p[nz] / real_freq[nz])))
    return covered, strict, kl


def image_report(model: MetricModel, fake: torch.Tensor) -> dict[str, float]:
    """The metrics of generated images ``fake`` (N, C, S, S) in [-1, 1]."""
    feats, probs = model.predict(fake)
    out: dict[str, float] = {}
    for k, p in probs.items():
        pred = p.argmax(1).numpy()
        covered, strict, kl = histogram_metrics(pred, model.real_freq[k])
        if k == "class":
            out.update(classes_covered=covered, classes_covered_strict=strict, class_kl=round(kl, 5),
                       confident_pct=round(100.0 * float((p.max(1).values >= CONFIDENT).float().mean()), 2))
        else:
            out[f"{k}_covered"], out[f"{k}_kl"] = covered, round(kl, 5)
    f = feats.double().numpy()
    finite = np.isfinite(f).all(1)
    if finite.sum() >= 2:
        fd = frechet_distance(model.real_mu, model.real_cov, f[finite].mean(0), np.cov(f[finite], rowvar=False))
        out["fd_classifier"] = round(fd, 4)
    out["classifier_acc"] = round(min(model.accuracy.values()), 4)
    return out


def evaluate_images(trainer, n: int = N_IMAGE_EVAL, classifier_seed: int = 0) -> dict[str, float]:
    """Classifier metrics of ``min(n, N_IMAGE_EVAL)`` images from the trainer's G ({} without labels).
    ``classifier_seed``: the classifier that reads them (0, the one a run logs; see get_metric_model)."""
    data = trainer.data
    if not label_heads(data):
        return {}
    model = get_metric_model(data, seed=classifier_seed)
    k = min(n, N_IMAGE_EVAL)
    z = torch.randn(k, trainer.cfg.model.latent_dim, generator=trainer.eval_generator(), device=trainer.device)
    fake = trainer.generate(z)
    return image_report(model, fake)
