"""StackGAN (Zhang et al. 2017): text to image in two stages, on the captions of the ``shapes`` set.

    e = phi(caption)                          the studio's own frozen text encoder (core/nets/text.py)
    mu, log sigma^2 = F_ca(e)                 conditioning augmentation, one per stage
    c = mu + sigma * eps, eps ~ N(0, I)       KL(N(mu, Sigma) || N(0, I)) = 1/2 sum(mu^2 + sigma^2 - 1 - log sigma^2)
    stage I:   x1 = G1(z, c1)                  at stackgan.stage1_size
    stage II:  x2 = G2(x1, c2)                 at data.image_size; sees the stage-I image and the text
    D_i(x, e): matching-aware (GAN-CLS, as StackGAN): real images with their caption are real;
               generated images and real images with a wrong caption are fake:
               L_D = loss(D(x, e), [D(G, e) ; D(x, e_wrong)])  (the two fake terms weigh 1/2 each)
               stackgan.hard_negatives: that share of e_wrong are near misses, captions that differ from
               the real one in a single attribute (a random other caption almost always differs in
               position or colour too, so D never has to look at the shape to reject it)
               stackgan.d_projection: D's logit gets + <sum_ij h_ij(x), W e> (projection discriminator,
               Miyato & Koyama 2018) on top of the concatenation, so image and text meet in a product
    G minimises  sum_i g_loss(D_i(x_i, e)) + stackgan.kl_weight * sum_i KL_i / ca_dim
                 (the KL per CA dimension, as StackGAN's code weighs it: its weight 2.0 is for the mean)
                 + stackgan.match_weight * CE(match(x2, all captions), own caption)
                 (AttnGAN's DAMSM idea in its simplest, sentence-level form: the image encoder pre-trained
                 with the text encoder, frozen, must pick each stage-II image's own caption)

Both stages train in every step; stage II takes the stage-I image detached, so its gradient never
reaches G1 (StackGAN trains stage I first and then keeps it fixed under stage II; training both at
once lets the window show both from the first step). Real images for stage I are the real ones
averaged down to stage1_size.

API for the window (everything the plain Trainer has, plus):

- ``vocabulary`` (list of words) and ``captions`` (every caption of the set): what the text box accepts.
- ``encode_caption(text)``: the sentence embedding (text_dim,); an unknown word raises a one-line
  ConfigError that lists the vocabulary. Any words of the vocabulary in any order are accepted;
  the networks were trained on the set's full captions ("a small red circle at the top left").
- ``render_caption(text, n=8)``: (stage I (n, C, s1, s1), stage II (n, C, S, S)) in [-1, 1], n samples for
  the caption; the same text gives the same samples (a private generator seeded by train.seed).
- ``generate(z, captions=None)``: stage-II images; captions: None (``display_captions``, one per grid
  row: ``fixed_z`` repeats GRID_PER_CAPTION latents in every row, ``grid_nrow`` = 8), a caption, a
  list of captions (one per z), or caption indices. The CA code is its mean here, so a grid cell
  depends on z and the caption only.
- ``evaluate()``: attribute-match rates by the shapes classifiers at data.image_size: ``s2_match``
  (stage II), ``s1_match`` (stage I upsampled bilinearly to the same size), ``chance_match``
  (a text-blind generator with stage II's output histogram), each the mean over shape, colour,
  size and position, with ``*_{attribute}`` per attribute and ``*_all`` (all four right); ``ca_kl``
  (mean KL of stage I's CA over the captions) and the plain image metrics of stage II.

Networks: small convolutional nets (model.ngf, model.ndf; model.arch is not used); G1 and G2 up-sample
with nearest neighbour + 3x3 convolution, G2 has two residual blocks as StackGAN's; the Ds have no batch
norm and see the text embedding compressed to 16 numbers and replicated over D's last 4x4 map.
Losses: all but wgan-gp; tricks: label_smoothing and two_time_scale.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gan_studio.core.config import Config, opt
from gan_studio.core.data.images import to_float
from gan_studio.core.errors import ConfigError
from gan_studio.core.families.registry import register_family
from gan_studio.core.family_spec import FamilySpec, Grid, Plot
from gan_studio.core.nets.dcgan import init_weights
from gan_studio.core.nets.text import BagOfWordsEncoder, Vocabulary, pretrain_text_encoder
from gan_studio.core.training import losses
from gan_studio.core.training.trainer import StepMetrics, Trainer

ATTRIBUTES = ("shape", "colour", "size", "position")
GRID_CAPTIONS = 8
GRID_PER_CAPTION = 8
N_EVAL_CAPTIONS = 1000
TEXT_CODE = 16  # D's compressed text embedding (StackGAN: 128 for 1,024-d embeddings)


@dataclass
class StackganConfig:
    """StackGAN (Zhang et al. 2017): text-conditioned, stage I at low resolution, stage II refines."""
    stage1_size: int = opt(16, "side of the stage-I images (stage II draws data.image_size)", choices=(8, 16, 32))
    text_dim: int = opt(32, "size of the sentence embedding from the studio's own text encoder", lo=1, hi=1024)
    ca_dim: int = opt(16, "size of the conditioning-augmentation code c ~ N(mu(e), Sigma(e))", lo=1, hi=1024)
    kl_weight: float = opt(2.0, "weight of KL(N(mu, Sigma) || N(0, I)) per CA dimension in G's loss "
                           "(StackGAN's code: 2.0 on the KL averaged over dimensions)", lo=0.0, hi=100.0)
    text_steps: int = opt(300, "Adam steps (batch 128) that pre-train the studio's text encoder on image-caption "
                          "matching before the GAN starts; the encoder is then frozen", lo=0, hi=100_000)
    hard_negatives: float = opt(0.0, "share of the matching-aware Ds' mismatched captions that differ from the "
                                "real one in a single attribute (shape, colour, size or position, each equally "
                                "often); the rest are any other caption. Near-miss captions make D check every "
                                "attribute, not only the ones a random caption gets wrong", lo=0.0, hi=1.0)
    d_projection: bool = opt(False, "add a projection term to each D's logit (Miyato & Koyama 2018): the inner "
                             "product of D's pooled image features with a learnt map of the text embedding, "
                             "so D compares image and text directly rather than only through one layer over "
                             "their concatenation")
    match_weight: float = opt(0.0, "weight of a text-image matching loss on stage II in G's loss (AttnGAN's "
                              "DAMSM loss, in its simplest form): the cross-entropy of picking each stage-II "
                              "image's own caption among all captions, by the frozen image encoder that was "
                              "pre-trained with the text encoder; 0 = off", lo=0.0, hi=100.0)


FAMILY = FamilySpec(
    name="stackgan", summary="StackGAN", section=StackganConfig, live=("kl_weight", "hard_negatives", "match_weight"),
    tricks=("label_smoothing", "two_time_scale"), losses=tuple(l for l in losses.D_LOSS if l != "wgan-gp"),
    plot=Plot("Caption attributes matched", (("s2_match", "stage II"), ("s1_match", "stage I"),
                                             ("chance_match", "text-blind chance"))),
    grid=Grid(rows="captions", per_row=GRID_PER_CAPTION), capabilities={"conditioned", "text"})


# -- conditioning augmentation ---------------------------------------------------------------------------
class CondAugment(nn.Module):
    """e (N, text_dim) -> (c, mu, logvar), c = mu + exp(logvar / 2) * eps."""

    def __init__(self, text_dim: int, ca_dim: int):
        super().__init__()
        self.fc = nn.Linear(text_dim, 2 * ca_dim)
        self.ca_dim = ca_dim

    def forward(self, e: torch.Tensor, eps: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.fc(e).chunk(2, 1)
        c = mu if eps is None else mu + torch.exp(0.5 * logvar) * eps
        return c, mu, logvar


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp logvar)) || N(0, I)), summed over dimensions, averaged over the batch."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1).mean()


# -- networks ------------------------------------------------------------------------------------------
def _up_block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out), nn.ReLU(True)]


class Stage1Generator(nn.Module):
    """(z (N, nz), c (N, ca)) -> x1 (N, C, s1, s1) in [-1, 1]."""

    def __init__(self, nz: int, ca_dim: int, ngf: int, nc: int, size: int):
        super().__init__()
        self.ch = ngf * 4
        self.fc = nn.Sequential(nn.Linear(nz + ca_dim, self.ch * 16, bias=False), nn.BatchNorm1d(self.ch * 16),
                                nn.ReLU(True))
        layers: list[nn.Module] = []
        ch, side = self.ch, 4
        # state: (ngf*4) x 4 x 4
        while side < size:
            layers += _up_block(ch, max(ngf, ch // 2))
            ch, side = max(ngf, ch // 2), side * 2
            # state: ch x side x side
        layers += [nn.Conv2d(ch, nc, 3, 1, 1), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.main(self.fc(torch.cat([z, c], 1)).view(len(z), self.ch, 4, 4))


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True),
                                  nn.Conv2d(ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch))

    def forward(self, x):
        return F.relu(x + self.main(x))


class Stage2Generator(nn.Module):
    """(x1 (N, C, s1, s1), c (N, ca)) -> x2 (N, C, S, S) in [-1, 1]."""

    def __init__(self, ca_dim: int, ngf: int, nc: int, size1: int, size: int):
        super().__init__()
        ch = ngf * 2
        self.encode = nn.Sequential(nn.Conv2d(nc, ch, 3, 1, 1), nn.ReLU(True))
        # state: (ngf*2) x s1 x s1, then the text code is joined as ca_dim more planes
        self.joint = nn.Sequential(nn.Conv2d(ch + ca_dim, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch),
                                   nn.ReLU(True), ResBlock(ch), ResBlock(ch))
        layers: list[nn.Module] = []
        side = size1
        while side < size:
            layers += _up_block(ch, max(ngf, ch // 2))
            ch, side = max(ngf, ch // 2), side * 2
            # state: ch x side x side
        layers += [nn.Conv2d(ch, nc, 3, 1, 1), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x1: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.encode(x1)
        h = torch.cat([h, c[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])], 1)
        return self.main(self.joint(h))


class TextDiscriminator(nn.Module):
    """(x (N, C, s, s), e (N, text_dim)) -> logit (N,): image features at 4 x 4 joined with the
    compressed text embedding replicated over them."""

    def __init__(self, ndf: int, nc: int, size: int, text_dim: int, projection: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        ch, side, mult = nc, size, 1
        while side > 4:
            layers += [nn.Conv2d(ch, ndf * mult, 4, 2, 1), nn.LeakyReLU(0.2, True)]
            ch, side, mult = ndf * mult, side // 2, min(mult * 2, 4)
            # state: ch x side x side, down to 4 x 4
        self.image = nn.Sequential(*layers)
        self.text = nn.Sequential(nn.Linear(text_dim, TEXT_CODE), nn.LeakyReLU(0.2, True))
        self.joint = nn.Sequential(nn.Conv2d(ch + TEXT_CODE, ch, 3, 1, 1), nn.LeakyReLU(0.2, True), nn.Flatten())
        self.head = nn.Linear(ch * 16, 1)
        # projection: logit += <sum over the 4 x 4 map of the image features, W e>
        self.project = nn.Linear(text_dim, ch, bias=False) if projection else None

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = self.image(x)
        t = self.text(e)[:, :, None, None].expand(-1, -1, 4, 4)
        out = self.head(self.joint(torch.cat([h, t], 1))).squeeze(1)
        if self.project is not None:
            out = out + (h.sum((2, 3)) * self.project(e)).sum(1)
        return out


class StackGenerator(nn.Module):
    """Both stages and their conditioning augmentation."""

    def __init__(self, nz: int, text_dim: int, ca_dim: int, ngf: int, nc: int, size1: int, size: int):
        super().__init__()
        self.ca1, self.ca2 = CondAugment(text_dim, ca_dim), CondAugment(text_dim, ca_dim)
        self.g1 = Stage1Generator(nz, ca_dim, ngf, nc, size1)
        self.g2 = Stage2Generator(ca_dim, ngf, nc, size1, size)
        # DCGAN's N(0, 0.02) for the image layers; the CA keeps PyTorch's default so that mu(e) starts
        # as large as the noise and the text is heard from the first step
        self.g1.apply(init_weights)
        self.g2.apply(init_weights)

    def forward(self, z, e, eps1=None, eps2=None):
        """(x1, x2, [(mu1, logvar1), (mu2, logvar2)]); eps None: the CA mean."""
        c1, mu1, lv1 = self.ca1(e, eps1)
        x1 = self.g1(z, c1)
        c2, mu2, lv2 = self.ca2(e, eps2)
        x2 = self.g2(x1.detach(), c2)   # stage II's gradient stops at the stage-I image
        return x1, x2, [(mu1, lv1), (mu2, lv2)]


# -- the trainer ---------------------------------------------------------------------------------------
class StackganTrainer(Trainer):
    """The plain Trainer's interface for a two-stage text-to-image GAN."""

    FAMILY = FAMILY

    def build_networks(self, cfg: Config, data) -> tuple[nn.Module, nn.Module]:
        """The captions and their vocabulary, the pre-trained text encoder, both stages and both Ds."""
        s = cfg.stackgan
        if not getattr(data, "captions", None) or not getattr(data, "attributes", None):
            raise ConfigError(f"model.family = 'stackgan' needs a captioned image set (data.name = shapes); "
                              f"{cfg.data.name!r} has no captions")
        self.size1, self.size = s.stage1_size, data.shape[1]
        if self.size1 >= self.size or self.size % self.size1:
            raise ConfigError(f"stackgan.stage1_size = {self.size1} must be smaller than data.image_size = "
                              f"{self.size} (and divide it); allowed: "
                              f"{', '.join(str(v) for v in (8, 16, 32) if v < self.size)}")
        # the captions: distinct sentences, each image's index into them, each caption's attributes
        self.captions = sorted(set(data.captions))
        index = {c: i for i, c in enumerate(self.captions)}
        self.caption_ids = torch.tensor([index[c] for c in data.captions], device=self.device)
        first = torch.full((len(self.captions),), -1, dtype=torch.long)
        for i, k in enumerate(self.caption_ids.tolist()):
            if first[k] < 0:
                first[k] = i
        first = first.to(self.device)
        self.caption_attributes = {a: data.attributes[a][first] for a in ATTRIBUTES if a in data.attributes}
        self.vocab = Vocabulary(self.captions)
        self.caption_tokens = [self.vocab.encode(c) for c in self.captions]

        torch.manual_seed(cfg.train.seed)      # the text encoder's and the stages' initialisation
        self.text_encoder = BagOfWordsEncoder(len(self.vocab), s.text_dim).to(self.device)
        self.text_match_accuracy, self.image_encoder = pretrain_text_encoder(
            self.text_encoder, data.images, self.caption_ids, self.caption_tokens, s.text_steps, cfg.train.seed,
            return_image_encoder=True)
        m, c = cfg.model, data.shape[0]
        torch.manual_seed(cfg.train.seed)
        G = StackGenerator(m.latent_dim, s.text_dim, s.ca_dim, m.ngf, c, self.size1, self.size)
        D = nn.ModuleDict({"d1": TextDiscriminator(m.ndf, c, self.size1, s.text_dim, s.d_projection),
                           "d2": TextDiscriminator(m.ndf, c, self.size, s.text_dim, s.d_projection)}).to(self.device)
        D.apply(init_weights)   # on the device, as runs made before drew it
        for d in D.values():
            d.text[0].reset_parameters()  # the text path, like the CA, starts at PyTorch's default scale
            if d.project is not None:
                d.project.reset_parameters()
        return G, D

    def grid_latents(self) -> torch.Tensor:
        """GRID_CAPTIONS captions (``display_captions``), one per row, the same GRID_PER_CAPTION
        latents in each row."""
        g = torch.Generator().manual_seed(self.cfg.train.seed + 1)
        self.display_captions = [self.captions[i] for i in
                                 torch.randperm(len(self.captions), generator=g)[:GRID_CAPTIONS].tolist()]
        z = torch.randn(GRID_PER_CAPTION, self.cfg.model.latent_dim, generator=g)
        return z.repeat(len(self.display_captions), 1)

    @property
    def grid_row_names(self) -> list[str]:
        return list(self.display_captions)

    # -- text -------------------------------------------------------------------------------
    @property
    def vocabulary(self) -> list[str]:
        return list(self.vocab.words)

    @torch.no_grad()
    def encode_caption(self, text: str) -> torch.Tensor:
        """The sentence embedding of ``text`` (text_dim,); ConfigError for a word outside the vocabulary."""
        return self.text_encoder.encode_lists([self.vocab.encode(text)])[0]

    @torch.no_grad()
    def _embeddings(self, captions, n: int) -> torch.Tensor:
        if captions is None:
            captions = [self.display_captions[i * len(self.display_captions) // max(n, 1)] for i in range(n)]
        elif isinstance(captions, str):
            captions = [captions] * n
        elif torch.is_tensor(captions) or (len(captions) and isinstance(captions[0], int)):
            ids = torch.as_tensor(captions, device=self.device).long().reshape(-1)
            if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= len(self.captions)):
                raise ConfigError(f"captions: index out of range; allowed 0..{len(self.captions) - 1}")
            captions = [self.captions[i] for i in ids.tolist()]
        if len(captions) != n:
            raise ConfigError(f"captions: got {len(captions)} captions for {n} latents; give one, or one per latent")
        tokens = [self.vocab.encode(c) for c in captions]
        return self.text_encoder.encode_lists(tokens) if tokens else torch.empty(0, self.cfg.stackgan.text_dim)

    def _caption_embeddings(self) -> torch.Tensor:
        cached = getattr(self, "_all_caption_emb", None)
        if cached is None:
            with torch.no_grad():
                cached = self._all_caption_emb = self.text_encoder.encode_lists(self.caption_tokens)
        return cached

    # -- training ---------------------------------------------------------------------------
    def _near_miss_table(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(attribute values per caption (K, A), number of values per attribute (A,), caption index per
        mixed-radix code of the attribute values, -1 where the set has no such caption)."""
        cached = getattr(self, "_near_miss", None)
        if cached is None:
            attrs = [a for a in ATTRIBUTES if a in self.caption_attributes]
            vals = torch.stack([self.caption_attributes[a].to(self.device).long() for a in attrs], 1)  # (K, A)
            n_vals = torch.tensor([len(self.data.attribute_values[a]) for a in attrs], device=self.device)
            radix = torch.cumprod(torch.cat([n_vals.new_ones(1), n_vals[:-1]]), 0)
            lookup = torch.full((int(n_vals.prod()),), -1, dtype=torch.long, device=self.device)
            lookup[(vals * radix).sum(1)] = torch.arange(len(vals), device=self.device)
            cached = self._near_miss = (vals, n_vals, lookup)
        return cached

    def wrong_captions(self, cap: torch.Tensor) -> torch.Tensor:
        """A mismatched caption per caption index: with probability ``stackgan.hard_negatives`` one that
        differs in exactly one attribute (picked uniformly, then a uniformly picked other value of it),
        otherwise any other caption; a near miss the set lacks falls back to any other caption."""
        B, K = len(cap), len(self.captions)
        wrong = (cap + torch.randint(1, K, (B,), generator=self.rng, device=self.device)) % K
        p = self.cfg.stackgan.hard_negatives
        if p <= 0.0:
            return wrong
        vals, n_vals, lookup = self._near_miss_table()
        u = torch.rand(3, B, generator=self.rng, device=self.device)
        a = (u[0] * len(n_vals)).long().clamp_max(len(n_vals) - 1)                 # which attribute changes
        n = n_vals[a]
        shift = 1 + (u[1] * (n - 1)).long().clamp_max(n - 2)                      # to which other value
        new = vals[cap].clone()
        new[torch.arange(B, device=self.device), a] = (new[torch.arange(B, device=self.device), a] + shift) % n
        radix = torch.cumprod(torch.cat([n_vals.new_ones(1), n_vals[:-1]]), 0)
        near = lookup[(new * radix).sum(1)]
        use = (u[2] < p) & (near >= 0)
        return torch.where(use, near, wrong)

    def step(self) -> StepMetrics:
        """D1 and D2 on (real, right text) vs (generated, right text) and (real, wrong text), then one
        update of both stages and their CA."""
        self.begin_step()
        cfg, t, tk = self.cfg, self.cfg.train, self.tricks
        B, K = t.batch_size, len(self.captions)
        d_loss_fn, g_loss_fn = losses.D_LOSS[cfg.loss], losses.G_LOSS[cfg.loss]
        _, _, d_steps = tk.two_time_scale.hyper(self)
        targets = tk.label_smoothing.targets(self)
        emb = self._caption_embeddings()
        ca = cfg.stackgan.ca_dim

        for i in range(d_steps):
            idx = torch.randint(len(self.caption_ids), (B,), generator=self.rng, device=self.device)
            real2 = to_float(self.data.pixels[idx])
            real1 = F.adaptive_avg_pool2d(real2, self.size1)
            cap = self.caption_ids[idx]
            wrong = self.wrong_captions(cap)
            e, e_wrong = emb[cap], emb[wrong]
            z = self.sample_z(B)
            eps = torch.randn(2, B, ca, generator=self.rng, device=self.device)
            with torch.set_grad_enabled(i == d_steps - 1):   # keep G's graph for the G step below
                x1, x2, stats = self.G(z, e, eps[0], eps[1])
            loss_d, outs = 0.0, []
            for d, real, fake in ((self.D["d1"], real1, x1), (self.D["d2"], real2, x2)):
                out = d(torch.cat([real, fake.detach(), real]), torch.cat([e, e, e_wrong]))
                d_real, d_fake = out[:B], out[B:]   # fakes: generated and mismatched, 1/2 each
                outs.append((d_real, out[B:2 * B]))
                loss_d = loss_d + d_loss_fn(d_real, d_fake, *targets)
            grad_norm_d = self.d_backward(loss_d)
            self.opt_d.step()
            self.clip_critic()

        # StackGAN's code weighs the KL averaged over the CA's dimensions (torch.mean), not summed
        kl = sum(kl_standard_normal(mu, lv) for mu, lv in stats) / ca
        loss_g = g_loss_fn(self.D["d1"](x1, e)) + g_loss_fn(self.D["d2"](x2, e)) + cfg.stackgan.kl_weight * kl
        if cfg.stackgan.match_weight > 0:
            # the pre-trained image encoder must pick each stage-II image's own caption among all of them
            loss_g = loss_g + cfg.stackgan.match_weight * F.cross_entropy(
                self.image_encoder.match_logits(x2, emb), cap)
        grad_norm_g = self.g_backward(loss_g)
        self.opt_g.step()
        self.step_count += 1

        dr, df = self.d_means(outs)
        return self.record_metrics(loss_d, loss_g, dr, df, grad_norm_d, grad_norm_g)

    # -- sampling ---------------------------------------------------------------------------
    @torch.no_grad()
    def stages(self, z: torch.Tensor, e: torch.Tensor, generator: torch.Generator | None = None):
        """(stage I, stage II) for latents z and embeddings e; c ~ N(mu, Sigma) with eps from
        ``generator``, or c = mu without one. Batch norm uses its running statistics: one picture per
        (z, caption, eps), whatever else is in the batch."""
        z = z.to(self.device, torch.float32)
        eps1 = eps2 = None
        if generator is not None:
            eps = torch.randn(2, len(z), self.cfg.stackgan.ca_dim, generator=generator, device=self.device)
            eps1, eps2 = eps[0], eps[1]
        # batch norm's running statistics: with batch statistics, n samples of one caption would have
        # the caption's own features normalised away (and a sample would depend on its batch)
        self.G.eval()
        try:
            x1, x2, _ = self.G(z, e, eps1, eps2)
        finally:
            self.G.train()
        return x1, x2

    @torch.no_grad()
    def generate(self, z: torch.Tensor, captions=None) -> torch.Tensor:
        """Stage-II images for latents z and captions (see the module docstring)."""
        z = z.to(self.device, torch.float32)
        if len(z) == 0:
            return torch.empty(0, *self.data.shape, device=self.device)
        e = self._embeddings(captions, len(z))
        return torch.cat([self.stages(zc, ec)[1] for zc, ec in zip(z.split(4096), e.split(4096))])

    @torch.no_grad()
    def render_caption(self, text: str, n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
        """(stage I (n, C, s1, s1), stage II (n, C, S, S)) for a typed caption; the same text and
        step give the same pictures."""
        if not 1 <= int(n) <= 4096:
            raise ConfigError(f"n = {n}: draw 1 to 4096 samples")
        e = self.encode_caption(text)[None].expand(int(n), -1)
        g = torch.Generator(device=self.device).manual_seed(self.cfg.train.seed + 2)
        z = torch.randn(int(n), self.cfg.model.latent_dim, generator=g, device=self.device)
        return self.stages(z, e, g)

    # -- evaluation -------------------------------------------------------------------------
    @torch.no_grad()
    def attribute_match(self, n: int = N_EVAL_CAPTIONS) -> dict[str, float]:
        """Share of samples whose predicted attributes are their caption's, for stage II, stage I
        (upsampled to the same size) and chance (a text-blind generator with stage II's outputs)."""
        from gan_studio.core.metrics.images import get_metric_model
        with torch.enable_grad():  # the first call trains the classifier
            model = get_metric_model(self.data)
        g = self.eval_generator(salt=23)
        K = len(self.captions)
        cap = torch.randint(K, (n,), generator=g, device=self.device)
        z = torch.randn(n, self.cfg.model.latent_dim, generator=g, device=self.device)
        x1, x2 = self.stages(z, self._caption_embeddings()[cap], g)
        x1_up = F.interpolate(x1, size=(self.size, self.size), mode="bilinear", align_corners=False)
        _, p2 = model.predict(x2)
        _, p1 = model.predict(x1_up)
        out: dict[str, float] = {}
        hit_all = {"s2": torch.ones(n, dtype=torch.bool), "s1": torch.ones(n, dtype=torch.bool)}
        combo_pred, combo_cap, chances = torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long), []
        for a in ATTRIBUTES:
            truth = self.caption_attributes[a][cap].cpu()
            k = len(self.data.attribute_values[a])
            pred2, pred1 = p2[a].argmax(1), p1[a].argmax(1)
            for name, pred in (("s2", pred2), ("s1", pred1)):
                hit = pred == truth
                hit_all[name] &= hit
                out[f"{name}_match_{a}"] = round(float(hit.float().mean()), 4)
            # chance: sum_v p_caption(v) p_pred(v), what stage II would score if it ignored the text
            chance = float((torch.bincount(truth, minlength=k).double() / n) @
                           (torch.bincount(pred2, minlength=k).double() / n))
            out[f"chance_match_{a}"] = round(chance, 4)
            chances.append(chance)
            combo_pred, combo_cap = combo_pred * k + pred2, combo_cap * k + truth
        size = int(max(combo_pred.max(), combo_cap.max())) + 1
        chance_all = float((torch.bincount(combo_cap, minlength=size).double() / n) @
                           (torch.bincount(combo_pred, minlength=size).double() / n))
        for name in ("s2", "s1"):
            out[f"{name}_match"] = round(sum(out[f"{name}_match_{a}"] for a in ATTRIBUTES) / len(ATTRIBUTES), 4)
            out[f"{name}_match_all"] = round(float(hit_all[name].float().mean()), 4)
        out["chance_match"] = round(sum(chances) / len(chances), 4)
        out["chance_match_all"] = round(chance_all, 4)
        mu, logvar = self.G.ca1.fc(self._caption_embeddings()).chunk(2, 1)
        out["ca_kl"] = round(float(kl_standard_normal(mu, logvar)), 4)
        return out

    def evaluate(self, n: int = 2500) -> dict[str, Any]:
        """The plain image metrics of stage II (balanced display captions) plus the attribute-match rates."""
        from gan_studio.core.metrics.images import N_IMAGE_EVAL, get_metric_model, image_report
        model = get_metric_model(self.data)
        k = min(n, N_IMAGE_EVAL)
        g = self.eval_generator()
        cap = torch.randint(len(self.captions), (k,), generator=g, device=self.device)
        z = torch.randn(k, self.cfg.model.latent_dim, generator=g, device=self.device)
        out = image_report(model, self.stages(z, self._caption_embeddings()[cap], g)[1])
        out.update(self.attribute_match())
        return out

    # -- state ------------------------------------------------------------------------------
    def extra_state_dict(self) -> dict:
        return {**super().extra_state_dict(), "text_encoder": self.text_encoder.state_dict(),
                "image_encoder": self.image_encoder.state_dict()}

    def load_extra_state_dict(self, state: dict) -> None:
        super().load_extra_state_dict(state)
        if "text_encoder" in state:
            self.text_encoder.load_state_dict(state["text_encoder"])
            self._all_caption_emb = None
        if "image_encoder" in state:
            self.image_encoder.load_state_dict(state["image_encoder"])


register_family(StackganTrainer)
