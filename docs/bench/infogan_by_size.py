"""Where an InfoGAN shapes run's code misses: code accuracy (matched to the shape as code_accuracy is)
split by the size the classifier reads, on 300 pictures per code value (random z and continuous codes).

    python docs/bench/infogan_by_size.py RUN [RUN ...]
"""
import sys

import numpy as np
import torch

from gan_studio.core.metrics.codes import confusion_matrix, matched_accuracy
from gan_studio.core.metrics.images import get_metric_model
from gan_studio.core.runs import trainer_from_run

torch.set_num_threads(1)
for run in sys.argv[1:]:
    tr, _ = trainer_from_run(run)
    cat, fake = tr.code_images(300)
    _, probs = get_metric_model(tr.data).predict(fake)
    cat = cat.cpu().numpy()
    shape, size = probs["shape"].argmax(1).numpy(), probs["size"].argmax(1).numpy()
    k = tr.code_sizes[0]
    cm = confusion_matrix(cat, shape, k, 3)
    acc, target = matched_accuracy(cm)
    right = np.array([target.get(int(c)) == int(s) for c, s in zip(cat, shape)])
    names = tr.match_names
    parts = [f"step {tr.step_count}: all {100 * acc:.1f} %"]
    for s, label in ((1, "large"), (0, "small")):
        m = size == s
        parts.append(f"{label} {100 * right[m].mean():.1f} % of {m.sum()}")
    per_code = [f"code {c} -> {names[target[c]]} {100 * right[cat == c].mean():.0f} %" for c in range(k)]
    print(run, "|", "; ".join(parts), "|", ", ".join(per_code))
