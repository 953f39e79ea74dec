"""Per code value of an InfoGAN shapes run: what the metric classifier reads in 300 pictures each, for every
attribute (rows: code values; columns: the classes of that attribute).

    python docs/bench/infogan_confusion.py RUN
"""
import sys, torch, numpy as np
from gan_studio.core.metrics.codes import confusion_matrix
from gan_studio.core.metrics.images import get_metric_model
from gan_studio.core.runs import trainer_from_run
torch.set_num_threads(1)
tr,_ = trainer_from_run(sys.argv[1])
cat, fake = tr.code_images(300)
_, probs = get_metric_model(tr.data).predict(fake)
cat=cat.cpu().numpy()
for head in ("shape","size","colour","position"):
    if head in probs:
        print(head)
        print(confusion_matrix(cat, probs[head].argmax(1).numpy(), 3, probs[head].shape[1]))
