"""Right-padding variable-length token sequences into one batch.

Why one function: scoring, training and evaluation all batch token lists the same way; with a causal model, right
padding plus the attention mask leaves every real position's logits unchanged, so batched numbers equal batch-1 ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pad_right(seqs: Sequence[Sequence[int]], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, mask)`` of shape ``[len(seqs), longest]``: ids padded with ``pad``, mask 1 on real tokens (long)."""
    if len(seqs) == 0:
        raise ValueError("pad_right: no sequences given")
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros(len(seqs), width, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.as_tensor(list(s), dtype=torch.long)
        mask[i, :len(s)] = 1
    return ids, mask
