import torch, sys, glob
sys.path.insert(0, '.')
from gan_studio.core.families.registry import make_trainer
from gan_studio.core.presets import load_preset
for path in sorted(glob.glob('CACHE/ring8-bf21a9e8-s*.pt')):
    cfg = load_preset('ring8'); cfg.set('train.seed', int(path.split('-s')[-1][:-3]))
    tr = make_trainer(cfg, device='cpu'); tr.load_state_dict(torch.load(path, weights_only=False))
    z = torch.randn(5000, cfg.model.latent_dim)
    h = z; stats = []
    lins = [m for m in tr.G.modules() if isinstance(m, torch.nn.Linear)]
    for lin in lins[:-1]:
        h = torch.relu(lin(h)); stats.append(((h > 0).float().mean(0) == 0).sum().item())
    e = tr.evaluate()
    print(path, 'dead units per hidden layer', stats, 'of', [l.out_features for l in lins[:-1]], 'strict', e['modes_strict'])
cfg = load_preset('ring8'); tr = make_trainer(cfg, device='cpu')
lins = [m for m in tr.G.modules() if isinstance(m, torch.nn.Linear)]
h = torch.randn(5000, cfg.model.latent_dim); st=[]
for lin in lins[:-1]:
    h = torch.relu(lin(h)); st.append(((h > 0).float().mean(0) == 0).sum().item())
print('fresh G dead', st)
