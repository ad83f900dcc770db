"""Attention heads: importance, masking robustness, and head–expert coordination across facts.

* importance: summed head attribution over facts (``moe.attribute(..., "head")``);
* masking: gate the top-k heads to 0 and measure the relative HIT@10 / MRR drop;
* coordination (Li et al., r = 0.68): per layer, the facts' total head attribution and total routed-expert
  attribution are z-scored across facts, pooled over layers and correlated (Pearson r); the permutation test
  shuffles facts independently in every layer for the expert side, so layer-level trends cannot create r.
"""

from __future__ import annotations

import torch
from torch import nn

from arx.methods.attribution.prompts import AttributionError, FactBatch, ranking_metrics
from arx.models.adapters import get_adapter


def top_heads(head_attr: torch.Tensor, k: int) -> torch.Tensor:
    """``[L, H]`` gate with 0 at the k heads of largest summed attribution."""
    L, H = head_attr.shape[1:]
    if not 1 <= k <= L * H:
        raise AttributionError(f"k={k} heads to mask, but the model has {L}×{H} = {L * H} heads")
    gate = torch.ones(L * H)
    gate[torch.topk(head_attr.sum(0).flatten(), k).indices] = 0.0
    return gate.view(L, H)


def head_masking(model: nn.Module, batch: FactBatch, head_attr: torch.Tensor, k: int) -> dict[str, object]:
    """Relative drop of HIT@10 and MRR when the k most important heads are masked."""
    lay = get_adapter(model)
    if head_attr.shape[1:] != (lay.num_layers, lay.num_heads):
        raise AttributionError(f"head attributions have shape {tuple(head_attr.shape)}; expected "
                               f"[N, {lay.num_layers}, {lay.num_heads}]")
    gate = top_heads(head_attr, k).to(next(model.parameters()).device)
    before = ranking_metrics(model, batch)
    after = ranking_metrics(model, batch, gates={"head": gate})
    drop = {m: (before[m] - after[m]) / before[m] if before[m] > 0 else 0.0 for m in ("mrr", "hit@10")}
    return {"k": k, "before": before, "after": after, "drop": drop,
            "masked": (gate == 0).nonzero().tolist()}


def _zscore(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean(0)) / x.std(0).clamp_min(1e-12)


def _pooled_r(h: torch.Tensor, e: torch.Tensor) -> float:
    hz, ez = _zscore(h).flatten(), _zscore(e).flatten()
    return float(torch.corrcoef(torch.stack([hz, ez]))[0, 1])


def head_expert_correlation(head_attr: torch.Tensor, expert_attr: torch.Tensor, permutations: int = 1000,
                            seed: int = 0) -> dict[str, float]:
    """Pearson r across facts of per-layer head mass vs expert mass, with a one-sided permutation p-value."""
    if head_attr.shape[:2] != expert_attr.shape[:2]:
        raise AttributionError(f"head {tuple(head_attr.shape)} and expert {tuple(expert_attr.shape)} attributions "
                               "must share [facts, layers]")
    if head_attr.shape[0] < 3:
        raise AttributionError(f"need at least 3 facts for a correlation, got {head_attr.shape[0]}")
    if permutations < 1:
        raise AttributionError(f"permutations must be >= 1, got {permutations}")
    h, e = head_attr.sum(-1).double(), expert_attr.sum(-1).double()
    r = _pooled_r(h, e)
    gen = torch.Generator().manual_seed(seed)
    n, L = e.shape
    null = []
    for _ in range(permutations):
        perm = torch.stack([torch.randperm(n, generator=gen) for _ in range(L)], 1)
        null.append(_pooled_r(h, torch.gather(e, 0, perm)))
    null_t = torch.tensor(null)
    p = float((1 + (null_t >= r).sum()) / (1 + permutations))
    return {"r": r, "p": p, "null_mean": float(null_t.mean()), "null_std": float(null_t.std()),
            "permutations": permutations, "facts": n, "layers": L}
