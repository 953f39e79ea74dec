"""The studio's own text encoder for captions (StackGAN): vocabulary, tokeniser, encoder, pre-training.

No downloaded model: the vocabulary is the set of words of the data set's captions, and the
encoder is trained here, in seconds, before the GAN starts.

Encoder: a bag of words (``nn.EmbeddingBag``, mean) followed by a linear map to ``text_dim``.
Why not a GRU: in the shapes grammar ("a small red circle at the top left") every attribute value
is named by words of its own, so word order carries no information a bag of words lacks; the bag
trains in a fraction of the time and accepts any order of the same words.

Pre-training: a *matching* objective against images, as the text encoder StackGAN used (Reed et
al. 2016, "Learning deep representations of fine-grained visual descriptions"): a small image
encoder and the text encoder are trained together so that each image's feature is closest to the
embedding of its own caption among all the set's distinct captions (softmax over cosine
similarities, temperature 0.1). The image encoder is thrown away afterwards; the text encoder is
frozen, as in StackGAN, so the GAN conditions on fixed sentence embeddings.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from gan_studio.core.errors import ConfigError

_WORD = re.compile(r"[a-z]+")
MATCH_TEMPERATURE = 0.1


class Vocabulary:
    """Words of a caption set, each with an index; ``encode`` refuses words it does not know."""

    def __init__(self, captions: list[str]):
        words = sorted({w for c in captions for w in tokenize(c)})
        if not words:
            raise ConfigError("the data set has no caption words: StackGAN needs captions (data.name = shapes)")
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, text: str) -> list[int]:
        """Word indices of ``text``; a ConfigError names the first unknown word and lists the vocabulary."""
        tokens = tokenize(text)
        if not tokens:
            raise ConfigError(f"caption {text!r} has no words; use words of the vocabulary: {', '.join(self.words)}")
        for w in tokens:
            if w not in self.index:
                raise ConfigError(f"caption word {w!r} is not in the vocabulary; known words: {', '.join(self.words)}")
        return [self.index[w] for w in tokens]


def tokenize(text: str) -> list[str]:
    """Lower-case words; punctuation and spacing do not matter."""
    if not isinstance(text, str):
        raise ConfigError(f"caption = {text!r}: expected text")
    return _WORD.findall(text.lower())


class BagOfWordsEncoder(nn.Module):
    """Word indices -> sentence embedding (N, text_dim): the mean of word vectors, then a linear map."""

    def __init__(self, vocab_size: int, text_dim: int, word_dim: int = 32):
        super().__init__()
        self.words = nn.EmbeddingBag(vocab_size, word_dim, mode="mean")
        self.proj = nn.Linear(word_dim, text_dim)

    def forward(self, flat: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        # unit length times sqrt(text_dim): the matching objective fixes only the direction, and
        # components of order 1 are what the GAN's layers expect
        e = self.proj(self.words(flat, offsets))
        return F.normalize(e, dim=1) * self.proj.out_features ** 0.5

    def encode_lists(self, token_lists: list[list[int]]) -> torch.Tensor:
        dev = self.proj.weight.device
        flat = torch.tensor([i for t in token_lists for i in t], dtype=torch.long, device=dev)
        lengths = torch.tensor([0] + [len(t) for t in token_lists[:-1]], dtype=torch.long, device=dev)
        return self(flat, lengths.cumsum(0))


class _ImageEncoder(nn.Module):
    """Images (N, C, S, S) -> (N, text_dim); used only while pre-training the text encoder."""

    def __init__(self, channels: int, text_dim: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(channels, 32, 3, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(32, 64, 3, 2, 1), nn.LeakyReLU(0.2, True),
            # a 2x2 pool keeps where things are (the captions name positions)
            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(256, text_dim))

    def forward(self, x):
        return self.main(x)

    def match_logits(self, images: torch.Tensor, caption_embeddings: torch.Tensor) -> torch.Tensor:
        """(N, K): cosine similarity of each image's feature to each caption embedding, over the temperature."""
        return F.normalize(self(images), dim=1) @ F.normalize(caption_embeddings, dim=1).T / MATCH_TEMPERATURE


def pretrain_text_encoder(encoder: BagOfWordsEncoder, images: torch.Tensor, caption_ids: torch.Tensor,
                          caption_tokens: list[list[int]], steps: int, seed: int,
                          batch: int = 128, return_image_encoder: bool = False):
    """Train ``encoder`` (in place) with the matching objective; returns the final share of a held-out
    set of images whose own caption is the nearest of all captions (retrieval accuracy), and with
    ``return_image_encoder`` also the image encoder trained with it (frozen, in eval mode), whose
    ``match_logits(images, caption_embeddings)`` scores images against captions.

    ``images`` float (N, C, S, S) in [-1, 1]; ``caption_ids`` (N,) index ``caption_tokens``.
    Deterministic for a given seed: a private generator, never the trainer's."""
    g = torch.Generator().manual_seed(seed)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    img_enc = _ImageEncoder(images.shape[1], encoder.proj.out_features).to(images.device)
    torch.random.set_rng_state(state)
    params = list(encoder.parameters()) + list(img_enc.parameters())
    opt = torch.optim.Adam(params, lr=3e-3)
    n = len(images)
    perm = torch.randperm(n, generator=g)
    n_val = max(1, min(1000, n // 10))
    val, tr = perm[:n_val].to(images.device), perm[n_val:].to(images.device)
    encoder.train()
    for _ in range(steps):
        idx = tr[torch.randint(len(tr), (batch,), generator=g).to(images.device)]
        loss = F.cross_entropy(_match_logits(encoder, img_enc, images[idx], caption_tokens), caption_ids[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        logits = _match_logits(encoder, img_enc, images[val], caption_tokens)
        acc = float((logits.argmax(1) == caption_ids[val]).float().mean())
    for p in encoder.parameters():
        p.requires_grad_(False)
    encoder.eval()
    if return_image_encoder:
        for p in img_enc.parameters():
            p.requires_grad_(False)
        return acc, img_enc.eval()
    return acc


def _match_logits(encoder, img_enc, images, caption_tokens):
    """Cosine similarity of each image's feature to every caption's embedding, over the temperature."""
    t = F.normalize(encoder.encode_lists(caption_tokens), dim=1)   # (K, text_dim)
    v = F.normalize(img_enc(images), dim=1)                         # (N, text_dim)
    return v @ t.T / MATCH_TEMPERATURE
