"""Expert blocking (Li et al.): remove the k most-attributed experts of a relation type from routing, vs k random.

Experts are ranked over all (layer, expert) pairs by the summed attribution of the relation's facts; blocking takes
them out of the router's top-k (:meth:`arx.models.ModelAdapter.gated`), so they receive no token. The drop
is relative: (MRR_before − MRR_after) / MRR_before, and the same for HIT@10. ``mode="zero"`` is the other reading
of "blocking": tokens keep their routing and the blocked experts' gated outputs are set to 0 (no substitute expert).
:func:`shared_ablation_by_relation` is the counterpart for the shared expert (Qwen-MoE style): its output is set to
0 in every layer, for every relation alike, since it is not routed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from arx.methods.attribution.prompts import AttributionError, FactBatch, ranking_metrics
from arx.models.adapters import ModelAdapter, get_adapter


def _check_k(lay: ModelAdapter, k: int) -> None:
    lay.require_moe("expert blocking")
    limit = lay.num_layers * (lay.num_experts - lay.top_k)
    if not 1 <= k <= limit:
        raise AttributionError(f"k={k} experts to block, but the model has {lay.num_layers} layers × "
                               f"{lay.num_experts} experts with top_k={lay.top_k}: use 1 <= k <= {limit} "
                               "(each layer keeps top_k unblocked experts)")


def top_expert_mask(scores: torch.Tensor, k: int, lay: ModelAdapter) -> torch.Tensor:
    """``[L, E]`` bool mask of the k highest ``scores[L, E]``, at most E − top_k per layer."""
    _check_k(lay, k)
    mask = torch.zeros_like(scores, dtype=torch.bool)
    for flat in torch.argsort(scores.flatten(), descending=True).tolist():
        l, e = divmod(flat, scores.shape[1])
        if int(mask[l].sum()) < lay.num_experts - lay.top_k:
            mask[l, e] = True
        if int(mask.sum()) == k:
            break
    return mask


def random_expert_mask(k: int, lay: ModelAdapter, generator: torch.Generator) -> torch.Tensor:
    """k uniformly random (layer, expert) pairs under the same per-layer cap."""
    return top_expert_mask(torch.rand(lay.num_layers, lay.num_experts, generator=generator), k, lay)


def _drop(before: dict, after: dict) -> dict[str, float]:
    return {m: (before[m] - after[m]) / before[m] if before[m] > 0 else 0.0 for m in ("mrr", "hit@10")}


MODES = ("reroute", "zero")


def _blocked_metrics(model: nn.Module, facts: FactBatch, mask: torch.Tensor, mode: str) -> dict:
    if mode == "reroute":
        return ranking_metrics(model, facts, blocked=mask)
    return ranking_metrics(model, facts, gates={"expert": (~mask).float().to(next(model.parameters()).device)})


def blocking_by_relation(model: nn.Module, batch: FactBatch, expert_attr: torch.Tensor, k: int,
                         random_draws: int = 5, seed: int = 0, mode: str = "reroute",
                         evaluate: FactBatch | None = None) -> dict[str, object]:
    """Per relation: metrics before, after blocking its top-k experts, after blocking k random ones (mean of draws).

    Experts are ranked on ``batch`` (whose rows ``expert_attr`` holds); the effect is measured on ``evaluate``
    (default: ``batch`` itself). Why: selecting and measuring on the same facts lets the selection fit their noise;
    a held-out split measures what the experts carry for the relation."""
    if mode not in MODES:
        raise AttributionError(f"unknown blocking mode {mode!r}; use one of {MODES}")
    lay = get_adapter(model)
    _check_k(lay, k)
    if expert_attr.shape != (len(batch), lay.num_layers, lay.num_experts):
        raise AttributionError(f"expert attributions have shape {tuple(expert_attr.shape)}; expected "
                               f"[{len(batch)}, {lay.num_layers}, {lay.num_experts}] (one row per fact)")
    evaluate = batch if evaluate is None else evaluate
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, dict[str, Any]] = {}
    for rel in sorted(set(batch.relation.tolist()) & set(evaluate.relation.tolist())):
        idx = (batch.relation == rel).nonzero()[:, 0]
        facts = evaluate.take((evaluate.relation == rel).nonzero()[:, 0])
        before = ranking_metrics(model, facts)
        top = top_expert_mask(expert_attr[idx.cpu()].sum(0), k, lay)
        after = _blocked_metrics(model, facts, top, mode)
        rand = [_drop(before, _blocked_metrics(model, facts, random_expert_mask(k, lay, gen), mode))
                for _ in range(random_draws)]
        out[str(rel)] = {"before": before, "top": after, "drop_top": _drop(before, after),
                         "drop_random": {m: sum(r[m] for r in rand) / len(rand) for m in ("mrr", "hit@10")},
                         "blocked": top.nonzero().tolist()}
    rels = [v for v in out.values()]
    summary = {f"{which}_{m}": sum(r[which][m] for r in rels) / len(rels)
               for which in ("drop_top", "drop_random") for m in ("mrr", "hit@10")}
    return {"mode": mode, "relations": out, "mean": summary}


def shared_ablation_by_relation(model: nn.Module, evaluate: FactBatch) -> dict[str, dict[str, object]]:
    """Per relation: metrics before and after zeroing the shared expert in every layer, and the relative drop."""
    lay = get_adapter(model)
    lay.require_moe("shared-expert ablation")
    if not lay.has_shared_expert:
        raise AttributionError("the model has no shared expert to ablate (Qwen2-MoE style models have one)")
    off = {"shared": torch.zeros(lay.num_layers, 1, device=next(model.parameters()).device)}
    out: dict[str, dict[str, object]] = {}
    for rel in sorted(set(evaluate.relation.tolist())):
        facts = evaluate.take((evaluate.relation == rel).nonzero()[:, 0])
        before, after = ranking_metrics(model, facts), ranking_metrics(model, facts, gates=off)
        out[str(rel)] = {"before": before, "after": after, "drop": _drop(before, after)}
    return out
