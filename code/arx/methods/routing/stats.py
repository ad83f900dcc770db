"""Routing statistics: per layer and language, how often each routed expert is among a token's top-k.

One batched forward pass over a mixed-language corpus; forward hooks on the routers scatter each token's top-k
choices into a ``[layer, language, expert]`` count table on the model's device, so nothing per-token is kept.
Works for every transformers MoE family whose sparse block has a router ``gate`` and fused ``experts``
(Qwen2-MoE, OLMoE, Mixtral): the router returns ``(logits, scores, indices)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


class RoutingError(ValueError):
    """Bad input to a routing method (dense model, unknown language, mismatched shapes)."""


@dataclass(frozen=True)
class MoELayer:
    """One sparse MoE block: its decoder-layer index, router and fused expert weights."""

    layer: int
    router: nn.Module
    experts: nn.Module
    num_experts: int
    top_k: int


def moe_layers(model: nn.Module) -> list[MoELayer]:
    """The sparse MoE blocks of ``model`` in depth order; a dense model is an error (there is no routing)."""
    layers = []
    for name, module in model.named_modules():
        router, experts = getattr(module, "gate", None), getattr(module, "experts", None)
        if router is None or experts is None or not hasattr(experts, "gate_up_proj"):
            continue
        idx = [int(p) for p in name.split(".") if p.isdigit()]
        layers.append(MoELayer(layer=idx[-1] if idx else len(layers), router=router, experts=experts,
                               num_experts=int(experts.gate_up_proj.shape[0]), top_k=int(router.top_k)))
    if not layers:
        raise RoutingError(f"{type(model).__name__} has no sparse MoE layer (no block with a router `gate` and fused "
                           "`experts`): routing analysis needs an MoE model (qwen2_moe, olmoe, mixtral)")
    return sorted(layers, key=lambda m: m.layer)


@dataclass
class RoutingStats:
    """Top-k selection counts ``counts[layer, language, expert]`` and routed tokens per language."""

    languages: list[str]
    layers: list[int]
    counts: torch.Tensor
    tokens: torch.Tensor
    top_k: int

    def lang(self, language: str) -> int:
        """Row of ``language``; an unknown name is an error listing the known ones."""
        if language not in self.languages:
            raise RoutingError(f"unknown language {language!r}; routing statistics have {self.languages}")
        return self.languages.index(language)

    def distribution(self) -> torch.Tensor:
        """``p[layer, language, expert]``: share of the language's top-k selections that went to each expert."""
        if bool((self.tokens == 0).any()):
            empty = [l for l, t in zip(self.languages, self.tokens.tolist()) if t == 0]
            raise RoutingError(f"no routed tokens for languages {empty}; give each language at least one sequence")
        return self.counts / (self.tokens[None, :, None] * self.top_k)

    def expert_load(self, languages: Sequence[str] | None = None) -> torch.Tensor:
        """``[layer, expert]``: share of the routed tokens (of ``languages``, default all) that chose each expert
        among their top-k (a token's k experts are distinct, so the shares sum to k; collapse is one expert near 1,
        uniform is k / E)."""
        rows = [self.lang(l) for l in languages] if languages is not None else list(range(len(self.languages)))
        tokens = float(self.tokens[rows].sum())
        if tokens == 0:
            raise RoutingError("no routed tokens to compute an expert load from")
        return self.counts[:, rows].sum(1) / tokens


@torch.no_grad()
def collect_routing(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    language_ids: torch.Tensor, languages: Sequence[str], batch_size: int = 64) -> RoutingStats:
    """Count top-k expert selections of every non-padding token, per layer and per sequence language.

    ``language_ids[i]`` indexes ``languages`` for sequence ``i``. Runs on the model's device in batches.
    """
    if input_ids.shape != attention_mask.shape or language_ids.shape != input_ids.shape[:1]:
        raise RoutingError(f"shapes disagree: input_ids {tuple(input_ids.shape)}, attention_mask "
                           f"{tuple(attention_mask.shape)}, language_ids {tuple(language_ids.shape)} (one per sequence)")
    n_lang = len(languages)
    if n_lang == 0 or int(language_ids.min()) < 0 or int(language_ids.max()) >= n_lang:
        raise RoutingError(f"language_ids must index languages {list(languages)} (0..{n_lang - 1})")
    blocks = moe_layers(model)
    device = next(model.parameters()).device
    n_exp = blocks[0].num_experts
    # an extra language row n_lang collects padding tokens and is dropped at the end
    counts = torch.zeros(len(blocks), n_lang + 1, n_exp, device=device, dtype=torch.float64)
    token_lang: list[torch.Tensor] = []

    def hook(i: int):
        def record(_m, _inp, out):
            idx = out[2] if isinstance(out, tuple) else out.topk(blocks[i].top_k, dim=-1).indices
            rows = token_lang[0][:, None].expand_as(idx)
            counts[i].index_put_((rows.reshape(-1), idx.reshape(-1)),
                                 torch.ones(idx.numel(), device=device, dtype=torch.float64), accumulate=True)
        return record

    handles = [b.router.register_forward_hook(hook(i)) for i, b in enumerate(blocks)]
    was_training = model.training
    model.eval()
    try:
        for s in range(0, len(input_ids), batch_size):
            ids = input_ids[s:s + batch_size].to(device)
            mask = attention_mask[s:s + batch_size].to(device)
            lang = language_ids[s:s + batch_size].to(device)
            token_lang[:] = [torch.where(mask.bool(), lang[:, None], n_lang).reshape(-1)]
            model(input_ids=ids, attention_mask=mask)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    tokens = torch.zeros(n_lang + 1, dtype=torch.float64)
    tokens.index_add_(0, torch.where(attention_mask.bool(), language_ids[:, None], n_lang).reshape(-1).cpu(),
                      torch.ones(attention_mask.numel(), dtype=torch.float64))
    return RoutingStats(languages=list(languages), layers=[b.layer for b in blocks], counts=counts[:, :n_lang].cpu(),
                        tokens=tokens[:n_lang], top_k=blocks[0].top_k)
