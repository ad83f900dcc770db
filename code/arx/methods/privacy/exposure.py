"""Secret Sharer exposure (Carlini et al. 2019; estimators as in tensorflow/privacy ``secret_sharer/exposures.py``).

Log-perplexity of a secret s given its context: Px(s) = −log2 P(s | prefix) (bits; only the secret's tokens are
scored — the shared prefix cancels in every rank). Over a candidate space R containing s:

* exact:          exposure(s) = log2|R| − log2 rank(s),  rank(s) = 1 + #{r ∈ R : Px(r) < Px(s)}  (∈ [0, log2|R|])
* interpolation:  from N reference (non-inserted) candidates, exposure = log2 N − log2(1 + #{refs : Px(ref) < Px(s)});
                  with the whole space as references it equals the exact value.
* extrapolation:  fit ``scipy.stats.skewnorm`` to the references' Px, exposure = −log2 CDF(Px(s)).

Exact enumeration of all 10^d digit strings walks the digit trie: level i scores the 10^i partial strings in one
batched forward and reads the next-digit distribution, so the space costs Σ_{i<d} 10^i rows (≈ 10^d/9) instead of
10^d full sequences. DEPN's per-digit lexicographic exposure is a different quantity and lives with DEPN
(``arx.methods.editing.memorization``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def digit_space_logprobs(model: nn.Module, prefix: Sequence[int], digit_ids: Sequence[int], n_digits: int,
                         batch_size: int = 1024) -> torch.Tensor:
    """log P(c | prefix) (natural log, float64) of every digit string c of length ``n_digits``, in lexicographic
    order of the digit indices (index = Σ_i k_i·10^{d−1−i} for digits k_i indexing ``digit_ids``)."""
    if n_digits < 1 or not prefix:
        raise ValueError("need a non-empty prefix and n_digits >= 1 to enumerate a digit space")
    dev = next(model.parameters()).device
    digits = torch.as_tensor(list(digit_ids), device=dev)
    b = len(digits)
    pre = torch.as_tensor(list(prefix), device=dev)
    total = torch.zeros(1, dtype=torch.float64)
    partial = torch.zeros(1, 0, dtype=torch.long, device=dev)  # [b^i, i] digit token ids
    for _ in range(n_digits):
        nxt = []
        for c in range(0, partial.shape[0], batch_size):
            chunk = partial[c:c + batch_size]
            ids = torch.cat([pre.expand(chunk.shape[0], -1), chunk], 1)
            with torch.no_grad():
                logits = model(input_ids=ids).logits[:, -1].float()
            nxt.append(torch.log_softmax(logits, -1)[:, digits].double().cpu())
        total = (total[:, None] + torch.cat(nxt)).reshape(-1)
        partial = torch.cat([partial.repeat_interleave(b, 0), digits.repeat(partial.shape[0])[:, None]], 1)
    return total


def log_perplexity_bits(logprob: torch.Tensor | np.ndarray) -> np.ndarray:
    """Px = −log2 P from natural-log probabilities."""
    return -np.asarray(logprob, dtype=np.float64) / math.log(2)


def exact_exposure(secret_px: np.ndarray | float, space_px: np.ndarray) -> np.ndarray:
    """log2|R| − log2(1 + #{r : Px(r) < Px(s)}) for each secret against the full candidate space ``space_px``."""
    return interpolation_exposure(secret_px, space_px)


def interpolation_exposure(canary_px: np.ndarray | float, reference_px: np.ndarray) -> np.ndarray:
    """log2 N − log2(1 + #{refs with Px < Px(canary)}) (tf-privacy ``compute_exposure_interpolation``)."""
    ref = np.sort(np.asarray(reference_px, dtype=np.float64))
    if ref.size == 0:
        raise ValueError("interpolation exposure needs at least one reference perplexity")
    lower = np.searchsorted(ref, np.atleast_1d(np.asarray(canary_px, dtype=np.float64)), side="left")
    return math.log2(ref.size) - np.log2(lower + 1.0)


def extrapolation_exposure(canary_px: np.ndarray | float, reference_px: np.ndarray) -> np.ndarray:
    """−log2 SkewNormCDF(Px(canary)) with the skew-normal fitted to the references (tf-privacy extrapolation)."""
    from scipy.stats import skewnorm

    ref = np.asarray(reference_px, dtype=np.float64)
    if ref.size < 3:
        raise ValueError("extrapolation exposure fits a skew-normal: pass at least 3 reference perplexities")
    params = skewnorm.fit(ref)
    return -skewnorm.logcdf(np.atleast_1d(np.asarray(canary_px, dtype=np.float64)), *params) / math.log(2)


def digit_secret_exposure(model: nn.Module, prefix: Sequence[int], secret_digits: Sequence[int],
                          digit_ids: Sequence[int], batch_size: int = 1024) -> float:
    """Exact exposure of one digit secret (indices into ``digit_ids``) among all strings of its length."""
    lp = digit_space_logprobs(model, prefix, digit_ids, len(secret_digits), batch_size)
    index = 0
    for k in secret_digits:
        index = index * len(digit_ids) + int(k)
    px = log_perplexity_bits(lp)
    return float(exact_exposure(px[index], px)[0])
