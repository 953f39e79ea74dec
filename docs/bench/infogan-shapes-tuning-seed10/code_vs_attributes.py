import sys, torch, numpy as np
from gan_studio.core.runs import trainer_from_run
from gan_studio.core.metrics.images import get_metric_model
from gan_studio.core.metrics.codes import confusion_matrix, matched_accuracy
torch.set_num_threads(1)
tr, _ = trainer_from_run(sys.argv[1])
model = get_metric_model(tr.data)
g = torch.Generator().manual_seed(123)
n = 1200
z = torch.randn(n, tr.cfg.model.latent_dim, generator=g)
k, c = tr.code_sizes
cat = torch.randint(k, (n,), generator=g)
cont = torch.rand(n, c, generator=g) * 2 - 1
ex = tr.sample_extra(n, g) if getattr(tr, "extra_sizes", ()) else None
x = tr._draw(tr.g_input(z, cat, cont, ex)) if ex is not None else tr._draw(tr.g_input(z, cat, cont))
_, probs = model.predict(x)
codes = {"main": (cat, k)}
if ex is not None:
    for j, kk in enumerate(tr.extra_sizes):
        codes[f"extra{j}"] = (ex[:, j], kk)
for name, (cv, kk) in codes.items():
    row = []
    for attr, p in probs.items():
        if attr == "class": continue
        pred = p.argmax(1)
        acc = matched_accuracy(confusion_matrix(cv.numpy(), pred.numpy(), kk, p.shape[1]))[0]
        row.append(f"{attr} {100*acc:.0f}%")
    print(name, kk, " ".join(row))
