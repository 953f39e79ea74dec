"""How far the image metrics can be trusted: the metric classifiers' accuracy on real images.

Trains (or loads from the cache) the classifier of each set, then measures it on real images it
never saw: for shapes a fresh set drawn with another seed, for digits the held-out 10%.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_images_classifier.py [--size 32]
"""
from __future__ import annotations

import argparse
import time

import torch

from gan_studio.core.config import Config
from gan_studio.core.data.images import make_shapes
from gan_studio.core.data.registry import build_dataset
from gan_studio.core.metrics import images as im


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes-size", type=int, default=32)
    ap.add_argument("--digits-size", type=int, default=16)
    args = ap.parse_args()

    cfg = Config()
    cfg.set("data.name", "shapes")
    cfg.set("data.image_size", args.shapes_size)
    shapes = build_dataset(cfg.data)
    t = time.perf_counter()
    model = im.get_metric_model(shapes)
    print(f"shapes {args.shapes_size} px: classifier ready in {time.perf_counter() - t:.1f} s "
          f"(held-out accuracy {', '.join(f'{k} {v:.4f}' for k, v in model.accuracy.items())})")
    fresh = make_shapes(3000, args.shapes_size, seed=1)  # images the classifier never saw
    _, probs = model.predict(im._to_float(fresh.pixels))
    labels = {"class": fresh.labels, **fresh.attributes}
    for k, p in probs.items():
        acc = (p.argmax(1) == labels[k]).float().mean().item()
        print(f"  fresh shapes (seed 1, 3,000 images): {k:<8} accuracy {100 * acc:.2f}%")
    real = im.image_report(model, im._to_float(fresh.pixels[:1000]))
    print(f"  metrics of 1,000 fresh real shapes: fd_classifier {real['fd_classifier']:.2f}, "
          f"classes_covered {real['classes_covered']}/12")

    cfg = Config()
    cfg.set("data.name", "digits")
    cfg.set("data.image_size", args.digits_size)
    digits = build_dataset(cfg.data)
    t = time.perf_counter()
    model = im.get_metric_model(digits)
    print(f"digits {args.digits_size} px: classifier ready in {time.perf_counter() - t:.1f} s "
          f"(held-out accuracy {model.accuracy['class']:.4f})")
    real = im.image_report(model, digits.images[torch.randperm(len(digits), generator=torch.Generator().manual_seed(1))[:1000]])
    print(f"  metrics of 1,000 real digits: fd_classifier {real['fd_classifier']:.2f}, "
          f"classes_covered {real['classes_covered']}/10, class_kl {real['class_kl']:.4f}")


if __name__ == "__main__":
    main()
