"""Random vs designed canaries for privacy audits (Panda et al., "Privacy auditing of LLMs").

A *random* canary is a sequence of tokens drawn uniformly from the model's ordinary vocabulary (the prior approach);
its secret is the whole sequence. A *designed* canary is built so that a model that never saw it gives it very low
probability, so that one insertion moves its loss a lot: a random prefix of ordinary tokens followed by a secret of
*new tokens* appended to the vocabulary, each new token used by exactly one canary. Why unique: when a small pool of
new tokens is shared by many canaries, every new token occurs in many member canaries, its embedding is learned, and
held-out canaries made from the same pool get low loss too, so the design destroys its own signal (a 32-token pool
for 1,000 canaries did exactly that here). The MIA score of a canary is the mean log-prob of its secret tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from arx.methods.scoring import token_logprobs


@dataclass(frozen=True)
class Canaries:
    """Token sequences and, per sequence, the positions of its secret (the tokens the MIA scores)."""

    sequences: list[list[int]]
    secret_start: int  # secret = sequence[secret_start:], the same offset for every canary of one kind

    def __len__(self) -> int:
        return len(self.sequences)


def random_canaries(n: int, length: int, vocab: list[int], seed: int) -> Canaries:
    """``n`` sequences of ``length`` tokens uniform over ``vocab`` (ordinary tokens); the secret is all of it."""
    if n < 1 or length < 2 or not vocab:
        raise ValueError("need n >= 1 canaries of length >= 2 over a non-empty vocabulary")
    g = torch.Generator().manual_seed(seed)
    v = torch.as_tensor(vocab)
    return Canaries(v[torch.randint(0, len(v), (n, length), generator=g)].tolist(), 0)


def designed_canaries(n: int, length: int, vocab: list[int], first_new_id: int, secret_tokens: int,
                      seed: int) -> Canaries:
    """``n`` sequences: ``length − secret_tokens`` tokens uniform over ``vocab``, then ``secret_tokens`` new ids of
    their own (canary i uses ``first_new_id + i·secret_tokens …``; the caller sizes the embeddings to
    ``first_new_id + n·secret_tokens``)."""
    if not 1 <= secret_tokens < length:
        raise ValueError(f"secret_tokens = {secret_tokens}: need 1 <= secret_tokens < length ({length})")
    prefix = random_canaries(n, length - secret_tokens, vocab, seed).sequences
    return Canaries([p + list(range(first_new_id + i * secret_tokens, first_new_id + (i + 1) * secret_tokens))
                     for i, p in enumerate(prefix)], length - secret_tokens)


def new_token_count(n: int, secret_tokens: int) -> int:
    """How many new vocabulary entries ``n`` designed canaries need."""
    return n * secret_tokens


def split_members(n: int, n_members: int, seed: int) -> tuple[list[int], list[int]]:
    """A random ``n_members`` of ``n`` canary indices are inserted (members); the rest are held out."""
    if not 0 < n_members < n:
        raise ValueError(f"n_members = {n_members}: need 0 < n_members < {n} canaries")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(perm[:n_members]), sorted(perm[n_members:])


def bernoulli_inclusion(n: int, seed: int, p: float = 0.5) -> list[bool]:
    """Each canary included independently with probability ``p`` (the one-run audit's randomisation)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, generator=g) < p).tolist()


def secret_scores(model: nn.Module, kind: Canaries, frame: int = 0) -> np.ndarray:
    """Mean log-prob of each canary's secret tokens, the canary framed by ``frame`` tokens as in training (higher =
    more member-like)."""
    framed = [[frame, *c, frame] for c in kind.sequences]
    lps = token_logprobs(model, framed)  # lps[j] predicts framed[j + 1] = c[j]
    return np.array([float(t[kind.secret_start:len(c)].double().mean()) for t, c in zip(lps, kind.sequences)])
