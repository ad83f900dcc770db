"""Batched per-token log-probabilities of token sequences under a causal LM (shared by privacy and DEPN).

Why batched: LLM-PBE scores one text at a time; here sequences are sorted by length and cut into buckets so that
padding is small, padding is masked (attention mask + ignored positions), and one forward serves a whole bucket.
For a sequence x_1..x_T the per-token log-prob is log p(x_t | x_<t) for t = 2..T (the first token has no
prediction), so ``token_logprobs`` returns T−1 values per sequence. Right padding with a causal model leaves earlier
positions unchanged, so the scores equal the batch-1 scores up to float rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from arx.data.batching import pad_right


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def token_logprobs(model: nn.Module, seqs: Sequence[Sequence[int]], batch_size: int = 64,
                   max_tokens: int | None = None) -> list[torch.Tensor]:
    """Per sequence, a float32 CPU tensor of log p(x_t | x_<t), t = 2..T, in the input order.

    ``max_tokens`` caps batch_size × padded length of a bucket (memory bound); buckets are length-sorted.
    """
    if len(seqs) == 0:
        return []
    if any(len(s) < 2 for s in seqs):
        raise ValueError("every sequence needs at least 2 tokens to have a next-token log-prob")
    dev = _device(model)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out: list[torch.Tensor | None] = [None] * len(seqs)
    i = 0
    while i < len(order):
        n = batch_size
        if max_tokens is not None:
            n = max(1, min(n, max_tokens // len(seqs[order[min(i + n, len(order)) - 1]])))
        idx = order[i:i + n]
        i += len(idx)
        ids, mask = (t.to(dev) for t in pad_right([seqs[j] for j in idx]))
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        lp = torch.log_softmax(logits[:, :-1], -1).gather(2, ids[:, 1:, None])[..., 0].cpu()
        for r, j in enumerate(idx):
            out[j] = lp[r, :len(seqs[j]) - 1].clone()
    return out  # type: ignore[return-value]


def sequence_logprob(model: nn.Module, seqs: Sequence[Sequence[int]], batch_size: int = 64) -> torch.Tensor:
    """Σ_t log p(x_t | x_<t) per sequence (natural log), float64."""
    return torch.tensor([float(t.double().sum()) for t in token_logprobs(model, seqs, batch_size)], dtype=torch.float64)


def sequence_loss(model: nn.Module, seqs: Sequence[Sequence[int]], batch_size: int = 64) -> torch.Tensor:
    """Mean next-token NLL per sequence (the LOSS membership signal)."""
    return torch.tensor([-float(t.double().mean()) for t in token_logprobs(model, seqs, batch_size)],
                        dtype=torch.float64)


def perplexity(model: nn.Module, seqs: Sequence[Sequence[int]], batch_size: int = 64) -> float:
    """exp(total NLL / total predicted tokens) over a text set (token-weighted, not a mean of per-text ppl)."""
    lps = token_logprobs(model, seqs, batch_size)
    if not lps:
        raise ValueError("perplexity of an empty text set is undefined: pass at least one sequence")
    total = sum(float(t.double().sum()) for t in lps)
    return math.exp(-total / sum(len(t) for t in lps))
