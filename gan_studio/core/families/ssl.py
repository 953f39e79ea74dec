"""Semi-supervised K+1 GAN (Salimans et al. 2016): D is a classifier over K classes plus "fake".

D outputs K logits l_1..l_K; the fake class's logit is fixed at 0, so with Z(x) = sum_k exp l_k(x)

    p(y = k | x) = exp l_k / (Z + 1),   p(K+1 | x) = 1 / (Z + 1),   D(x) = Z / (Z + 1)
    L_sup   = -E_{(x,y) labelled} log p(y | x, y <= K)            (cross-entropy over the K logits)
    L_unsup = -E_{x data} log(1 - p(K+1 | x)) - E_{z} log p(K+1 | G(z))
            =  E_data[softplus(lse(l)) - lse(l)] + E_G[softplus(lse(l))]
    D minimises L_sup + ssl.unsup_weight * L_unsup
    G minimises || E_data f(x) - E_z f(G(z)) ||^2      (feature matching on D's last hidden layer)

Data: a fixed ``ssl.test_fraction`` of the set (the same split for every seed) is held out for
``test_accuracy``; from the rest, ``ssl.labels_per_class`` examples per class are labelled, chosen
by ``train.seed``; every image of the rest feeds L_unsup (labelled ones too, as Salimans et al.).

The labelled-only baseline is a second classifier with the same architecture and the same initial
weights, trained alongside with L_sup alone on the very same labelled batches (as many updates as
D), so the two curves can be plotted against the same steps.

API for the window: ``evaluate()`` returns ``test_accuracy`` (K+1 D's classifier) and
``baseline_accuracy`` (labelled only), both on the held-out split; ``label_names`` (the K classes;
not ``class_names``, which the window reads as "one grid row per class": G here is unconditional),
``labelled_idx`` / ``train_idx`` / ``test_idx`` (indices into the data set), ``classify(x)``
and ``classify_baseline(x)`` (class indices). ``generate(z)`` is the plain G(z).

Networks: MLPs (model.arch = mlp), the choice Salimans et al. made for MNIST: Gaussian noise on
the classifier's input and after each hidden layer while training (ssl.input_noise,
ssl.hidden_noise); G has batch norm. The loss is the K+1 loss (loss must stay non-saturating or
minimax); tricks other than two_time_scale are refused (feature matching is built in).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gan_studio.core.config import Config, opt
from gan_studio.core.data.images import to_float
from gan_studio.core.errors import ConfigError
from gan_studio.core.families.registry import labelled_classes, register_family
from gan_studio.core.family_spec import FamilySpec, Plot
from gan_studio.core.nets.mlp import MLPGenerator
from gan_studio.core.training.trainer import StepMetrics, Trainer

#: the held-out split does not move with train.seed, so accuracies of different seeds compare
SPLIT_SEED = 20160610


@dataclass
class SslConfig:
    """Semi-supervised K+1 GAN (Salimans et al. 2016): D is a K+1-way classifier."""
    labels_per_class: int = opt(10, "labelled training examples per class", lo=1, hi=100_000)
    unsup_weight: float = opt(1.0, "weight of the unsupervised (real vs fake) part of D's loss", lo=0.0, hi=100.0)
    test_fraction: float = opt(0.2, "share of the set held out for test_accuracy (the same split for every "
                               "seed; never labelled, never shown to D or G)", lo=0.0, lo_open=True, hi=0.9)
    input_noise: float = opt(0.3, "std of the Gaussian noise added to the classifier's input while training "
                             "(Salimans et al.: 0.3); the labelled-only baseline gets the same", lo=0.0, hi=10.0)
    hidden_noise: float = opt(0.5, "std of the Gaussian noise added after each hidden layer while training "
                              "(Salimans et al.: 0.5)", lo=0.0, hi=10.0)


FAMILY = FamilySpec(
    name="ssl", summary="semi-supervised K+1", section=SslConfig, live=("unsup_weight",),
    image_metrics=False,   # evaluate() reports its own numbers only (see its plot)
    tricks=("two_time_scale",), losses=("non-saturating", "minimax"), archs=("mlp",),
    plot=Plot("Test accuracy", (("test_accuracy", "K+1 D (semi-supervised)"),
                                ("baseline_accuracy", "labelled examples only"))),
    capabilities={"classifier"})


class GaussianNoise(nn.Module):
    """x + N(0, std^2) while training; identity in eval mode. The noise comes from ``generator``
    (the trainer's RNG, saved in checkpoints) when one is set."""

    def __init__(self, std: float):
        super().__init__()
        self.std = std
        self.generator: torch.Generator | None = None

    def forward(self, x):
        if self.training and self.std > 0:
            return x + self.std * torch.randn(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)
        return x


class NoisyMLPClassifier(nn.Module):
    """x (N, *shape) -> K logits; ``features`` is the last hidden layer (feature matching's f)."""

    def __init__(self, in_dim: int, depth: int, width: int, num_classes: int, input_noise: float,
                 hidden_noise: float):
        super().__init__()
        layers: list[nn.Module] = [GaussianNoise(input_noise)]
        d = in_dim
        for _ in range(depth):
            # state: d -> width, noise after the activation (Salimans et al.'s MNIST D)
            layers += [nn.Linear(d, width), nn.LeakyReLU(0.2), GaussianNoise(hidden_noise)]
            d = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def k_plus_one_losses(logits_lab: torch.Tensor, y: torch.Tensor, logits_unl: torch.Tensor,
                      logits_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_sup, L_unsup) of METHODS.md for K logits with the (K+1)-th fixed at 0."""
    loss_sup = F.cross_entropy(logits_lab, y)
    lse_unl, lse_fake = torch.logsumexp(logits_unl, 1), torch.logsumexp(logits_fake, 1)
    # -log(1 - p(K+1|x)) = -log(Z/(Z+1)) = softplus(lse) - lse;  -log p(K+1|G(z)) = softplus(lse)
    loss_unsup = (F.softplus(lse_unl) - lse_unl).mean() + F.softplus(lse_fake).mean()
    return loss_sup, loss_unsup


def split_indices(labels: torch.Tensor, num_classes: int, test_fraction: float, labels_per_class: int,
                  seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_idx, test_idx, labelled_idx): a fixed test split, then labels_per_class per class of the rest."""
    labels = labels.cpu()
    n = len(labels)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_test = max(1, int(round(test_fraction * n)))
    test_idx, train_idx = perm[:n_test].sort().values, perm[n_test:].sort().values
    g = torch.Generator().manual_seed(seed)
    picked = []
    for k in range(num_classes):
        of_k = train_idx[labels[train_idx] == k]
        if len(of_k) < labels_per_class:
            raise ConfigError(f"ssl.labels_per_class = {labels_per_class}: class {k} has only {len(of_k)} "
                              f"training examples; allowed 1..{len(of_k)}")
        picked.append(of_k[torch.randperm(len(of_k), generator=g)[:labels_per_class]])
    return train_idx, test_idx, torch.cat(picked)


class SemiSupervisedTrainer(Trainer):
    """K+1 D and feature-matching G, with a labelled-only baseline classifier trained alongside."""

    FAMILY = FAMILY

    def build_networks(self, cfg: Config, data) -> tuple[nn.Module, nn.Module]:
        """G (an MLP with batch norm), the K+1 D, and the labelled-only baseline (D's twin); the
        fixed split into held-out, unlabelled and labelled examples."""
        labels, self.label_names = labelled_classes(data, "ssl")
        self.labels = labels
        self.num_classes = K = len(self.label_names)
        s, m, t = cfg.ssl, cfg.model, cfg.train
        train_idx, test_idx, lab_idx = split_indices(labels, K, s.test_fraction, s.labels_per_class, t.seed)
        self.train_idx, self.test_idx, self.labelled_idx = (i.to(self.device) for i in (train_idx, test_idx, lab_idx))
        torch.manual_seed(t.seed)
        in_dim = int(torch.tensor(data.shape).prod())
        G = MLPGenerator(m.latent_dim, data.shape, m.g_depth, m.g_width, m.g_activation, tanh_out=True,
                         fused=t.fast_paths)
        G.set_norm("batch")
        D = NoisyMLPClassifier(in_dim, m.d_depth, m.d_width, K, s.input_noise, s.hidden_noise)
        self.baseline = copy.deepcopy(D).to(self.device)   # the same start: only the training differs
        for layer in list(D.modules()) + list(self.baseline.modules()):
            if isinstance(layer, GaussianNoise):
                layer.generator = self.rng
        return G, D

    def build_optimizers(self) -> None:
        super().build_optimizers()
        t = self.cfg.train
        self.opt_b = self.make_optimizer(self.baseline.parameters(), self.opt_d.param_groups[0]["lr"],
                                         t.beta1_d, t.beta2_d)

    # -- settings ---------------------------------------------------------------------------
    def _sync_hyper(self) -> None:
        super()._sync_hyper()
        for g_b, g_d in zip(self.opt_b.param_groups, self.opt_d.param_groups):
            g_b["lr"], g_b["betas"] = g_d["lr"], g_d["betas"]

    # -- data -------------------------------------------------------------------------------
    def _batch(self, pool: torch.Tensor, n: int) -> torch.Tensor:
        return pool[torch.randint(len(pool), (n,), generator=self.rng, device=self.device)]

    # -- training ---------------------------------------------------------------------------
    def step(self) -> StepMetrics:
        """D (and the baseline) on a labelled and an unlabelled batch and G(z); then G by feature matching."""
        self.begin_step()
        t = self.cfg.train
        B, w = t.batch_size, self.cfg.ssl.unsup_weight
        _, _, d_steps = self.tricks.two_time_scale.hyper(self)
        px = self.data.pixels
        for i in range(d_steps):
            lab = self._batch(self.labelled_idx, B)
            x_lab, y_lab = to_float(px[lab]), self.labels[lab]
            x_unl = to_float(px[self._batch(self.train_idx, B)])
            z = self.sample_z(B)
            if i == d_steps - 1:
                fake = self.G(z)   # G's graph is kept for the G step below
                fake_d = fake.detach()
            else:
                with torch.no_grad():
                    fake_d = self.G(z)
            # --- D: L_sup + w * L_unsup ---
            logits_unl, logits_fake = self.D(x_unl), self.D(fake_d)
            loss_sup, loss_unsup = k_plus_one_losses(self.D(x_lab), y_lab, logits_unl, logits_fake)
            loss_d = loss_sup + w * loss_unsup
            grad_norm_d = self.d_backward(loss_d)
            self.opt_d.step()
            # --- the baseline: L_sup alone, on the same labelled batch ---
            loss_b = F.cross_entropy(self.baseline(x_lab), y_lab)
            self.opt_b.zero_grad(set_to_none=True)
            loss_b.backward()
            self.opt_b.step()

        # --- G: || E f(x) - E f(G(z)) ||^2 on the updated D; only G's weights get gradients ---
        with torch.no_grad():
            f_real = self.D.features(x_unl).mean(0)
        loss_g = ((f_real - self.D.features(fake).mean(0)) ** 2).sum()
        grad_norm_g = self.g_backward(loss_g)
        self.opt_g.step()
        self.step_count += 1
        with torch.no_grad():  # D(x) = Z / (Z + 1) = sigmoid(lse(l))
            dr = torch.sigmoid(torch.logsumexp(logits_unl, 1)).mean()
            df = torch.sigmoid(torch.logsumexp(logits_fake, 1)).mean()
        return self.record_metrics(loss_d, loss_g, dr, df, grad_norm_d, grad_norm_g)

    # -- evaluation -------------------------------------------------------------------------
    @torch.no_grad()
    def _predict(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        was = net.training
        net.eval()   # no noise at test time
        try:
            return torch.cat([net(part).argmax(1) for part in x.to(self.device, torch.float32).split(2048)])
        finally:
            net.train(was)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """The K+1 D's class (0..K-1) of images in [-1, 1]."""
        return self._predict(self.D, x)

    def classify_baseline(self, x: torch.Tensor) -> torch.Tensor:
        return self._predict(self.baseline, x)

    def evaluate(self, n: int = 2500) -> dict[str, Any]:
        """Accuracy on the held-out split of the K+1 D and of the labelled-only baseline."""
        x, y = to_float(self.data.pixels[self.test_idx]), self.labels[self.test_idx]
        return {"test_accuracy": round(float((self.classify(x) == y).float().mean()), 4),
                "baseline_accuracy": round(float((self.classify_baseline(x) == y).float().mean()), 4)}

    # -- state ------------------------------------------------------------------------------
    def extra_state_dict(self) -> dict:
        return {**super().extra_state_dict(), "baseline": self.baseline.state_dict(),
                "opt_b": self.opt_b.state_dict(), "labelled_idx": self.labelled_idx.cpu()}

    def load_extra_state_dict(self, state: dict) -> None:
        super().load_extra_state_dict(state)
        saved = state.get("labelled_idx")
        if saved is not None and not torch.equal(saved.cpu(), self.labelled_idx.cpu()):
            raise ConfigError("ssl: the checkpoint's labelled examples differ from this config's "
                              "(data set, ssl.labels_per_class or train.seed changed)")
        self.baseline.load_state_dict(state["baseline"])
        self.load_optimizer("opt_b", state["opt_b"], "baseline")


register_family(SemiSupervisedTrainer)
