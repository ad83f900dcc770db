"""Selecting units from IG score matrices: per-item selection, the privacy-neuron aggregator, layer distribution.

Why: KN/DEPN keep the units whose score exceeds a fraction of the item's maximum (adaptive threshold; KN 0.3,
DEPN 0.1) and, across a batch ("bag") of items, the units that recur in at least a fraction of the items, so one
edit covers many items. A top-k rule is the fixed-budget alternative. Units are ``(layer, index)`` pairs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import torch

Unit = tuple[int, int]


class SelectionError(ValueError):
    """Bad input to unit selection (empty items, k too large, bad fraction)."""


def _check(scores: torch.Tensor) -> torch.Tensor:
    if scores.dim() != 2 or scores.numel() == 0:
        raise SelectionError(f"scores must be a non-empty [layers, units] matrix, got shape {tuple(scores.shape)}")
    return scores


def select_threshold(scores: torch.Tensor, fraction: float = 0.1) -> list[Unit]:
    """Units with score > fraction · max(score) (positive attributions only, as KN/DEPN)."""
    _check(scores)
    if not 0 < fraction <= 1:
        raise SelectionError(f"fraction must be in (0, 1], got {fraction}")
    top = float(scores.max())
    if top <= 0:
        return []
    idx = (scores > fraction * top).nonzero().tolist()
    return [(int(l), int(i)) for l, i in idx]


def select_topk(scores: torch.Tensor, k: int) -> list[Unit]:
    """The k units with the largest score, best first."""
    _check(scores)
    if not 1 <= k <= scores.numel():
        raise SelectionError(f"k={k} but there are {scores.numel()} units ({scores.shape[0]} layers × "
                             f"{scores.shape[1]}); choose 1 <= k <= {scores.numel()}")
    flat = scores.flatten().topk(k).indices
    n = scores.shape[1]
    return [(int(i) // n, int(i) % n) for i in flat]


def aggregate(per_item: Sequence[Iterable[Unit]], min_fraction: float = 0.5) -> list[Unit]:
    """Privacy-neuron aggregator: units selected for at least ``min_fraction`` of the items, most frequent first."""
    if len(per_item) == 0:
        raise SelectionError("empty item list: the aggregator needs at least one item's selected units")
    if not 0 < min_fraction <= 1:
        raise SelectionError(f"min_fraction must be in (0, 1], got {min_fraction}")
    counts = Counter(u for units in per_item for u in set(units))
    need = min_fraction * len(per_item)
    return [u for u, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= need]


def random_units_like(units: Sequence[Unit], n_units: int, generator: torch.Generator,
                      exclude: Iterable[Unit] = ()) -> list[Unit]:
    """A random control for ``units``: as many distinct random units in each layer as ``units`` has there, avoiding
    ``exclude``. Why layer-matched: layers differ in how much an edit changes the output, so a control drawn from all
    layers for units that sit in one layer compares the layer, not the selection."""
    excl = set(exclude)
    picked: list[Unit] = []
    for layer, count in sorted(Counter(l for l, _ in units).items()):
        free = [i for i in range(n_units) if (layer, i) not in excl]
        if count > len(free):
            raise SelectionError(f"{count} random units requested in layer {layer} but only {len(free)} available")
        picked += [(layer, free[int(j)]) for j in torch.randperm(len(free), generator=generator)[:count]]
    return picked


def layer_distribution(units: Iterable[Unit], num_layers: int) -> list[int]:
    """Number of selected units per layer."""
    hist = [0] * num_layers
    for l, _ in units:
        if not 0 <= l < num_layers:
            raise SelectionError(f"unit layer {l} outside 0..{num_layers - 1}")
        hist[l] += 1
    return hist
