"""Language Routing Isolation: how much the expert sets of languages overlap, layer by layer.

Two views of the same ``p[layer, language, expert]`` table (``RoutingStats.distribution``):
* set view: Jaccard overlap of each language's top-``n`` experts per layer;
* distribution view: Jensen–Shannon divergence (base 2, in [0, 1]) between routing distributions.
Isolation = high-/low-resource pairs overlap less than high-/high-resource pairs; the layer curves show the
convergence–divergence pattern across depth. Its test statistic is :func:`convergence`: how much closer the
languages' routing is in the middle third of the depth than at the two ends, with an exact permutation null over
layers. Why not "the peak is interior": with 4 of 6 layers interior, a random curve peaks inside 2/3 of the time.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import torch

from arx.methods.depth import thirds

from .stats import RoutingError, RoutingStats


def top_expert_sets(p: torch.Tensor, n_top: int) -> torch.Tensor:
    """Boolean ``[layer, language, expert]``: the ``n_top`` most selected experts of each language per layer."""
    if not 1 <= n_top <= p.shape[-1]:
        raise RoutingError(f"n_top must be in 1..{p.shape[-1]} (number of experts), got {n_top}")
    idx = p.topk(n_top, dim=-1).indices
    return torch.zeros_like(p, dtype=torch.bool).scatter_(-1, idx, True)


def jaccard(sets: torch.Tensor) -> torch.Tensor:
    """``[layer, lang, lang]`` Jaccard index |A∩B| / |A∪B| of boolean expert sets (1 for two empty sets)."""
    a = sets.double()
    inter = torch.einsum("lae,lbe->lab", a, a)
    size = a.sum(-1)
    union = size[:, :, None] + size[:, None, :] - inter
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(inter))


def js_divergence(p: torch.Tensor) -> torch.Tensor:
    """``[layer, lang, lang]`` Jensen–Shannon divergence in bits between the languages' routing distributions."""
    a, b = p[:, :, None, :], p[:, None, :, :]
    m = (a + b) / 2

    def kl(x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0, x * (x / m.clamp_min(1e-300)).log2(), torch.zeros_like(x)).sum(-1)

    return ((kl(a) + kl(b)) / 2).clamp_min(0)


def _pair_mean(mat: torch.Tensor, pairs: list[tuple[int, int]]) -> torch.Tensor:
    return torch.stack([mat[:, i, j] for i, j in pairs]).mean(0)


def convergence(similarity: torch.Tensor) -> dict[str, float | None]:
    """``middle_minus_ends`` of a per-layer cross-language *similarity* curve (mean over the middle third minus mean
    over the early and late thirds; > 0: the languages converge in the middle and diverge at the ends) and its
    one-sided exact permutation p-value: the share of the C(L, m) ways of calling m layers "middle" whose statistic
    is at least the observed one (the statistic depends only on that set). None with fewer than 3 layers."""
    L = similarity.shape[0]
    if L < 3:
        return {"middle_minus_ends": None, "permutation_p": None}
    middle = thirds(L) == 1
    x = similarity.double()

    def stat(mid: torch.Tensor) -> float:
        return float(x[mid].mean() - x[~mid].mean())

    observed = stat(middle)
    null = []
    for chosen in combinations(range(L), int(middle.sum())):
        mid = torch.zeros(L, dtype=torch.bool)
        mid[list(chosen)] = True
        null.append(stat(mid))
    return {"middle_minus_ends": observed,
            "permutation_p": sum(v >= observed - 1e-12 for v in null) / len(null)}


def isolation_curves(stats: RoutingStats, high: Sequence[str], low: Sequence[str], n_top: int) -> dict:
    """Per-layer overlap/divergence of high–low vs high–high language pairs and the summary numbers of the claims.

    ``fraction_layers_isolated``: share of layers where mean high–low Jaccard < mean high–high Jaccard.
    ``interior_peak_margin``: max over inner layers of the all-pairs Jaccard minus its max at the first/last layer
    (> 0 exactly when the overlap peaks strictly inside the depth).
    """
    if len(high) < 2:
        raise RoutingError(f"need at least two high-resource languages to compare high–high overlap, got {list(high)}")
    if not low:
        raise RoutingError("need at least one low-resource language")
    if set(high) & set(low):
        raise RoutingError(f"languages {sorted(set(high) & set(low))} are listed as both high- and low-resource")
    hi, lo = [stats.lang(l) for l in high], [stats.lang(l) for l in low]
    p = stats.distribution()
    jac, jsd = jaccard(top_expert_sets(p, n_top)), js_divergence(p)
    hh, hl = list(combinations(hi, 2)), [(h, l) for h in hi for l in lo]
    all_pairs = list(combinations(range(len(stats.languages)), 2))
    curves = {
        "jaccard_high_low": _pair_mean(jac, hl), "jaccard_high_high": _pair_mean(jac, hh),
        "jsd_high_low": _pair_mean(jsd, hl), "jsd_high_high": _pair_mean(jsd, hh),
        "jaccard_all_pairs": _pair_mean(jac, all_pairs), "jsd_all_pairs": _pair_mean(jsd, all_pairs),
    }
    isolated = curves["jaccard_high_low"] < curves["jaccard_high_high"]
    overlap = curves["jaccard_all_pairs"]
    n_layers = overlap.shape[0]
    margin = (overlap[1:-1].max() - torch.maximum(overlap[0], overlap[-1])).item() if n_layers >= 3 else float("nan")
    return {
        "layers": stats.layers,
        "n_top": n_top,
        "curves": {k: [round(float(x), 6) for x in v] for k, v in curves.items()},
        "fraction_layers_isolated": float(isolated.float().mean()),
        "mean_jaccard_high_low": float(curves["jaccard_high_low"].mean()),
        "mean_jaccard_high_high": float(curves["jaccard_high_high"].mean()),
        "mean_jsd_high_low": float(curves["jsd_high_low"].mean()),
        "mean_jsd_high_high": float(curves["jsd_high_high"].mean()),
        "peak_layer": stats.layers[int(overlap.argmax())],
        "interior_peak_margin": margin,
        # similarity curves: Jaccard of the top-n sets, and 1 - JSD of the distributions (does not depend on n_top)
        "convergence_jsd": convergence(1 - curves["jsd_all_pairs"]),
        "convergence_jaccard": convergence(overlap),
    }
