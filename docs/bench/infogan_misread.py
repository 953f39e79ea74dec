"""Large pictures of an InfoGAN shapes run that the metric classifier puts in another shape than their code's
(one row per code value, up to 12 each; 300 pictures per value drawn as code_accuracy draws them).

    python docs/bench/infogan_misread.py RUN OUT.png
"""
import sys, torch, numpy as np
from PIL import Image
from gan_studio.core.runs import trainer_from_run
from gan_studio.core.metrics.images import get_metric_model
from gan_studio.core.metrics.codes import confusion_matrix, matched_accuracy
torch.set_num_threads(1)
tr, _ = trainer_from_run(sys.argv[1])
cat, fake = tr.code_images(300)
_, probs = get_metric_model(tr.data).predict(fake)
cat = cat.numpy(); shape = probs['shape'].argmax(1).numpy(); size = probs['size'].argmax(1).numpy()
acc, target = matched_accuracy(confusion_matrix(cat, shape, 3, 3))
rows = []
for c in range(3):
    idx = np.where((cat == c) & (size == 1) & (shape != target[c]))[0][:12]
    print(c, tr.match_names[target[c]], [tr.match_names[shape[i]] for i in idx])
    arr = ((fake[idx].clamp(-1, 1) + 1) * 127.5).byte().permute(0, 2, 3, 1).numpy()
    arr = np.concatenate([arr, np.zeros((12 - len(arr), 16, 16, 3), np.uint8)])
    rows.append(np.concatenate(list(arr), 1))
Image.fromarray(np.concatenate(rows, 0)).resize((192 * 5, 48 * 5), Image.NEAREST).save(sys.argv[2])
