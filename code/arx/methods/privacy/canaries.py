"""Random vs designed canaries for privacy audits (Panda et al., "Privacy auditing of LLMs").

A *random* canary is a sequence of tokens drawn uniformly from the model's ordinary vocabulary (the prior approach).
A *designed* canary is built to be easy to detect: its tokens are drawn from a pool of *new tokens* appended to the
vocabulary (the paper's new-token canaries), so the model has no prior on them and a single insertion moves the
canary's loss far more than a held-out one's. Members are inserted into training, the rest held out; the audit is
an MIA on members vs held-out canaries of the same kind and length.
"""

from __future__ import annotations

import torch


def random_canaries(n: int, length: int, vocab: list[int], seed: int) -> list[list[int]]:
    """``n`` sequences of ``length`` tokens uniform over ``vocab`` (ordinary tokens)."""
    if n < 1 or length < 2 or not vocab:
        raise ValueError("need n >= 1 canaries of length >= 2 over a non-empty vocabulary")
    g = torch.Generator().manual_seed(seed)
    v = torch.as_tensor(vocab)
    return v[torch.randint(0, len(v), (n, length), generator=g)].tolist()


def new_token_canaries(n: int, length: int, first_new_id: int, n_new: int, seed: int) -> list[list[int]]:
    """``n`` sequences of ``length`` tokens uniform over the new ids ``first_new_id .. first_new_id + n_new − 1``
    (the caller resizes the model's embeddings to include them)."""
    return random_canaries(n, length, list(range(first_new_id, first_new_id + n_new)), seed)


def split_members(canaries: list[list[int]], seed: int) -> tuple[list[list[int]], list[list[int]]]:
    """Random half in (members), half out (held out), as in a one-run audit."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(canaries), generator=g).tolist()
    half = len(canaries) // 2
    return [canaries[i] for i in perm[:half]], [canaries[i] for i in perm[half:]]
