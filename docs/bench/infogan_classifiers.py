"""code_accuracy of InfoGAN runs as read by metric classifiers of several seeds (the same pictures: 300 per code
value, random z and continuous codes), to see how much of the figure is the measuring classifier's.

    python docs/bench/infogan_classifiers.py 0,1,2 RUN [RUN ...]
"""
import sys

import torch

from gan_studio.core.metrics.codes import confusion_matrix, matched_accuracy
from gan_studio.core.metrics.images import get_metric_model
from gan_studio.core.runs import trainer_from_run

torch.set_num_threads(1)
seeds = [int(s) for s in sys.argv[1].split(",")]
for run in sys.argv[2:]:
    tr, _ = trainer_from_run(run)
    cat, fake = tr.code_images(300)
    cells = []
    for s in seeds:
        _, probs = get_metric_model(tr.data, seed=s).predict(fake)
        pred = probs[tr.cfg.infogan.match].argmax(1).numpy()
        acc, _ = matched_accuracy(confusion_matrix(cat.cpu().numpy(), pred, tr.code_sizes[0], len(tr.match_names)))
        cells.append(f"classifier {s}: {100 * acc:.1f} %")
    print(run, "|", ", ".join(cells), flush=True)
