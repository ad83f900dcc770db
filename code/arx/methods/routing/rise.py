"""RISE (Routing Isolation-guided Subnetwork Enhancement): pick experts from routing statistics, train only them.

Scores on ``p[layer, language, expert]`` (``RoutingStats.distribution``):
* specificity of expert ``e`` for language ``l``: ``p[l, e] - mean_{l' != l} p[l', e]`` (used by ``l``, not by others);
* overlap (universality) of expert ``e``: ``min_l p[l, e]`` (every language routes to it).
Tripartite selection for a target language: the most target-specific experts in the shallow and deep layers,
the most universal experts in the middle layers. Training only that subnetwork needs per-expert freezing, but
transformers stores an MoE layer's experts fused (``experts.gate_up_proj[E, 2I, H]``, ``experts.down_proj[E, H, I]``),
so a frozen expert is a slice: ``restrict_training`` masks gradients slice-wise and freezes every other parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .stats import MoELayer, RoutingError, RoutingStats, moe_layers

Selection = dict[int, list[int]]
"""decoder-layer index -> selected expert indices"""


def specificity_scores(p: torch.Tensor) -> torch.Tensor:
    """``[layer, language, expert]``: the language's selection share minus the mean share of the other languages."""
    n_lang = p.shape[1]
    if n_lang < 2:
        raise RoutingError("specificity needs at least two languages to compare against")
    others = (p.sum(1, keepdim=True) - p) / (n_lang - 1)
    return p - others


def overlap_scores(p: torch.Tensor) -> torch.Tensor:
    """``[layer, expert]``: the smallest selection share over all languages (high = used by every language)."""
    return p.min(dim=1).values


def depth_bands(n_layers: int, shallow_frac: float, deep_frac: float) -> list[str]:
    """``"shallow" | "middle" | "deep"`` for each MoE layer: the first/last ``frac`` of the depth (at least one each)."""
    if n_layers < 3:
        raise RoutingError(f"the tripartite selection needs at least 3 MoE layers, the model has {n_layers}")
    if not (0 < shallow_frac < 1 and 0 < deep_frac < 1 and shallow_frac + deep_frac < 1):
        raise RoutingError(f"shallow_frac and deep_frac must be in (0, 1) with sum < 1, got {shallow_frac}, {deep_frac}")
    n_shallow = max(1, round(n_layers * shallow_frac))
    n_deep = max(1, round(n_layers * deep_frac))
    n_shallow, n_deep = min(n_shallow, n_layers - 2), min(n_deep, n_layers - 1 - min(n_shallow, n_layers - 2))
    return ["shallow"] * n_shallow + ["middle"] * (n_layers - n_shallow - n_deep) + ["deep"] * n_deep


def tripartite_selection(stats: RoutingStats, target: str, experts_per_layer: int,
                         shallow_frac: float = 1 / 3, deep_frac: float = 1 / 3) -> Selection:
    """RISE selection for ``target``: specific experts in shallow/deep layers, universal ones in the middle."""
    t = stats.lang(target)
    p = stats.distribution()
    n_exp = p.shape[-1]
    if not 1 <= experts_per_layer <= n_exp:
        raise RoutingError(f"experts_per_layer must be in 1..{n_exp}, got {experts_per_layer}")
    spec, ov = specificity_scores(p)[:, t], overlap_scores(p)
    bands = depth_bands(len(stats.layers), shallow_frac, deep_frac)
    return {layer: sorted((ov[i] if band == "middle" else spec[i]).topk(experts_per_layer).indices.tolist())
            for i, (layer, band) in enumerate(zip(stats.layers, bands))}


def random_selection(like: Selection, num_experts: int, seed: int) -> Selection:
    """Same number of experts in the same layers as ``like``, chosen uniformly at random (equal trainable size)."""
    g = torch.Generator().manual_seed(seed)
    return {layer: sorted(torch.randperm(num_experts, generator=g)[:len(e)].tolist()) for layer, e in like.items()}


def _expert_params(block: MoELayer) -> list[nn.Parameter]:
    """Parameters of the fused experts whose leading dimension indexes the expert."""
    return [p for p in block.experts.parameters(recurse=False) if p.shape[:1] == (block.num_experts,)]


@dataclass
class TrainableSubnetwork:
    """Handle returned by ``restrict_training``: trainable size and the gradient hooks to remove afterwards."""

    num_trainable: int
    masks: dict[str, torch.Tensor] = field(default_factory=dict)
    _handles: list = field(default_factory=list, repr=False)

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()


def restrict_training(model: nn.Module, selection: Selection | None) -> TrainableSubnetwork:
    """Make only the selected experts' slices trainable (``selection=None``: full fine-tuning, everything trainable).

    Frozen parameters get ``requires_grad=False``; each fused expert tensor of a layer with a selection keeps
    ``requires_grad`` and a gradient hook zeroing the rows of unselected experts. Use an optimizer without weight
    decay on these tensors (decay would move the frozen slices although their gradient is zero).
    """
    if selection is None:
        for p in model.parameters():
            p.requires_grad_(True)
        return TrainableSubnetwork(num_trainable=sum(p.numel() for p in model.parameters()))
    blocks = {b.layer: b for b in moe_layers(model)}
    unknown = sorted(set(selection) - set(blocks))
    if unknown:
        raise RoutingError(f"selection names layers {unknown} that are not MoE layers; MoE layers are {sorted(blocks)}")
    for p in model.parameters():
        p.requires_grad_(False)
    names = {id(p): n for n, p in model.named_parameters()}
    handle = TrainableSubnetwork(num_trainable=0)
    for layer, experts in selection.items():
        block = blocks[layer]
        bad = [e for e in experts if not 0 <= e < block.num_experts]
        if bad:
            raise RoutingError(f"layer {layer}: expert indices {bad} out of range 0..{block.num_experts - 1}")
        if not experts:
            continue
        keep = torch.zeros(block.num_experts, dtype=torch.bool)
        keep[experts] = True
        for p in _expert_params(block):
            mask = keep.to(p.device).view(-1, *[1] * (p.dim() - 1)).to(p.dtype)
            p.requires_grad_(True)
            handle._handles.append(p.register_hook(lambda g, m=mask: g * m))
            handle.masks[names[id(p)]] = keep
            handle.num_trainable += int(keep.sum()) * p[0].numel()
    return handle
