"""Membership-inference scores from per-token log-probs (LLM-PBE definitions; higher score = more likely member).

* loss:      −mean_t NLL_t
* zlib:      −(mean_t NLL_t) / zlib_entropy(text)   (log-perplexity over the zlib-compressed length in bytes, as
             Carlini et al. 2021 and LLM-PBE define it; sign flipped)
* min-k%:    mean of the lowest k% token log-probs (Shi et al. 2024; k = 10% as LLM-PBE)
* reference: −(NLL_target − NLL_reference)  (reference model trained on disjoint data, LLM-PBE REFER/LIRA style)
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np
import torch


def loss_score(lps: Sequence[torch.Tensor]) -> np.ndarray:
    return np.array([float(t.double().mean()) for t in lps])


def zlib_score(lps: Sequence[torch.Tensor], texts: Sequence[str]) -> np.ndarray:
    if len(lps) != len(texts):
        raise ValueError(f"{len(lps)} score rows but {len(texts)} texts: pass one text per scored sequence")
    return np.array([float(t.double().mean()) / len(zlib.compress(s.encode())) for t, s in zip(lps, texts)])


def min_k_score(lps: Sequence[torch.Tensor], k: float = 0.1) -> np.ndarray:
    if not 0.0 < k <= 1.0:
        raise ValueError(f"min-k fraction {k!r} must lie in (0, 1]")
    return np.array([float(t.double().sort().values[:max(1, math.ceil(k * len(t)))].mean()) for t in lps])


def reference_score(lps: Sequence[torch.Tensor], ref_lps: Sequence[torch.Tensor]) -> np.ndarray:
    if len(lps) != len(ref_lps):
        raise ValueError("target and reference scores cover different numbers of texts: score the same texts")
    return loss_score(lps) - loss_score(ref_lps)
