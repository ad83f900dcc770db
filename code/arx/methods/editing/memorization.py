"""DEPN's memorization metrics for digit secrets (the paper's own definitions, `data/get_memorization.py` upstream).

Why here and not in ``arx.methods.privacy``: DEPN's exposure is a per-digit lexicographic approximation of the
Secret-Sharer rank (docs/methods.md §3), specific to this paper; the Secret-Sharer estimators live in the privacy
module. For a causal LM the digits are scored with teacher forcing (each digit given the true earlier ones):
r_i = 0-based rank of the true digit among the 10 digit logits, rank = 1 + Σ_i r_i·10^{d−1−i},
exposure = log2(10^d) − log2(rank) ∈ [0, d·log2 10]; accuracy = fraction of digits with r_i = 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Secret:
    """Token ids of one private item; ``positions`` index its secret digits (each predicted from the ids before)."""

    ids: tuple[int, ...]
    positions: tuple[int, ...]


def digit_ranks(model: nn.Module, secrets: Sequence[Secret], digit_ids: Sequence[int],
                batch_size: int = 256) -> torch.Tensor:
    """``[n_secrets, d]`` 0-based rank of each true digit among the digit tokens (one forward per batch)."""
    if not secrets:
        raise ValueError("no secrets given: exposure needs at least one private item")
    d = len(secrets[0].positions)
    if any(len(s.positions) != d for s in secrets):
        raise ValueError("all secrets must have the same number of digits (one candidate space)")
    dev = next(model.parameters()).device
    digits = torch.tensor(list(digit_ids), device=dev)
    out = []
    for c in range(0, len(secrets), batch_size):
        chunk = secrets[c:c + batch_size]
        width = max(len(s.ids) for s in chunk)
        ids = torch.tensor([list(s.ids) + [s.ids[-1]] * (width - len(s.ids)) for s in chunk], device=dev)
        pos = torch.tensor([list(s.positions) for s in chunk], device=dev)
        with torch.no_grad():
            logits = model(ids).logits.float()  # right padding: causal, earlier positions unaffected
        rows = torch.arange(len(chunk), device=dev)[:, None]
        dl = logits[rows, pos - 1][..., digits]  # [n, d, 10]
        true = ids[rows, pos]
        true_logit = torch.gather(logits[rows, pos - 1], 2, true[..., None])
        out.append((dl > true_logit).sum(-1).cpu())
    return torch.cat(out)


def exposure(ranks: torch.Tensor) -> torch.Tensor:
    """DEPN exposure per secret from ``digit_ranks``."""
    d = ranks.shape[1]
    weights = torch.tensor([10.0 ** (d - 1 - i) for i in range(d)], dtype=torch.float64)
    rank = 1 + (ranks.double() * weights).sum(1)
    return d * math.log2(10) - torch.log2(rank)


def digit_accuracy(ranks: torch.Tensor) -> torch.Tensor:
    """Per secret: fraction of digits the model ranks first."""
    return (ranks == 0).double().mean(1)
