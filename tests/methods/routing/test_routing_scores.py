"""Scores on hand-computable routing tables."""

import math

import pytest
import torch

from arx.methods.routing import (
    RoutingError,
    RoutingStats,
    depth_bands,
    isolation_curves,
    jaccard,
    js_divergence,
    overlap_scores,
    specificity_scores,
    top_expert_sets,
    tripartite_selection,
)


def table(p_rows: list[list[list[float]]], languages: list[str]) -> RoutingStats:
    """Stats whose distribution is exactly ``p_rows`` (10 tokens per language, top-1)."""
    p = torch.tensor(p_rows, dtype=torch.float64)
    return RoutingStats(languages=languages, layers=list(range(p.shape[0])), counts=p * 10,
                        tokens=torch.full((p.shape[1],), 10.0, dtype=torch.float64), top_k=1)


def test_specificity_and_overlap_by_hand():
    # one layer, languages a, b, c over 4 experts
    p = torch.tensor([[[0.5, 0.5, 0.0, 0.0],
                       [0.5, 0.0, 0.5, 0.0],
                       [0.5, 0.0, 0.0, 0.5]]], dtype=torch.float64)
    spec = specificity_scores(p)
    # expert 1 for a: 0.5 - mean(0, 0) = 0.5; expert 0 for a: 0.5 - 0.5 = 0; expert 2 for a: 0 - 0.25 = -0.25
    assert spec[0, 0].tolist() == [0.0, 0.5, -0.25, -0.25]
    assert spec[0, 2].tolist() == [0.0, -0.25, -0.25, 0.5]
    assert overlap_scores(p)[0].tolist() == [0.5, 0.0, 0.0, 0.0]


def test_jaccard_and_js_by_hand():
    sets = torch.tensor([[[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]], dtype=torch.bool)
    jac = jaccard(sets)
    assert jac[0, 0, 1].item() == pytest.approx(1 / 3)
    assert jac[0, 0, 0].item() == 1.0 and jac[0, 2, 3].item() == 1.0  # empty vs empty
    assert jac[0, 0, 2].item() == 0.0
    p = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]], dtype=torch.float64)
    jsd = js_divergence(p)
    assert jsd[0, 0, 1].item() == pytest.approx(1.0)  # disjoint supports: 1 bit
    assert jsd[0, 0, 0].item() == 0.0
    # JS([1,0], [.5,.5]) = 0.5*KL([1,0]||[.75,.25]) + 0.5*KL([.5,.5]||[.75,.25])
    expected = 0.5 * math.log2(1 / 0.75) + 0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25))
    assert jsd[0, 0, 2].item() == pytest.approx(expected)
    assert top_expert_sets(torch.tensor([[[0.1, 0.6, 0.3]]]), 2).tolist() == [[[False, True, True]]]


def test_isolation_and_convergence_by_hand():
    # languages h1, h2 (high), l (low); 3 layers, 4 experts, n_top=2
    h1 = [[.5, .5, 0, 0], [.5, .5, 0, 0], [.5, .5, 0, 0]]
    h2 = [[.5, .5, 0, 0], [.5, .5, 0, 0], [0, .5, .5, 0]]
    lo = [[0, 0, .5, .5], [.5, .5, 0, 0], [0, 0, .5, .5]]
    stats = table([[h1[i], h2[i], lo[i]] for i in range(3)], ["h1", "h2", "l"])
    r = isolation_curves(stats, ["h1", "h2"], ["l"], n_top=2)
    assert r["curves"]["jaccard_high_high"] == [1.0, 1.0, pytest.approx(1 / 3, abs=1e-6)]
    # layer 2: h1∩l = {} -> 0, h2∩l = {2} of {1,2,3} -> 1/3; mean 1/6
    assert r["curves"]["jaccard_high_low"] == [0.0, 1.0, pytest.approx(1 / 6, abs=1e-6)]
    assert r["fraction_layers_isolated"] == pytest.approx(2 / 3)
    # all pairs: layer 0 (1+0+0)/3, layer 1: 1, layer 2: (1/3 + 0 + 1/3)/3 -> peak in the middle, margin 1 - 1/3
    assert r["peak_layer"] == 1
    assert r["interior_peak_margin"] == pytest.approx(2 / 3)
    assert r["mean_jsd_high_low"] > r["mean_jsd_high_high"]


def test_tripartite_selection_by_hand():
    # 3 layers -> shallow, middle, deep; target l
    h1 = [.4, .4, .1, .1]
    h2 = [.4, .1, .4, .1]
    lo = [.3, .0, .1, .6]
    stats = table([[h1, h2, lo]] * 3, ["h1", "h2", "l"])
    assert depth_bands(3, 1 / 3, 1 / 3) == ["shallow", "middle", "deep"]
    assert depth_bands(6, 1 / 3, 1 / 3) == ["shallow"] * 2 + ["middle"] * 2 + ["deep"] * 2
    sel = tripartite_selection(stats, "l", experts_per_layer=1)
    # specificity for l: expert 3 (0.6 - 0.1); overlap: min over languages -> expert 0 (0.3)
    assert sel == {0: [3], 1: [0], 2: [3]}


def test_bad_inputs_are_named():
    stats = table([[[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]] * 3, ["en", "de", "sw"])
    with pytest.raises(RoutingError, match="unknown language 'xx'.*'en', 'de', 'sw'"):
        tripartite_selection(stats, "xx", 1)
    with pytest.raises(RoutingError, match="unknown language 'yo'"):
        isolation_curves(stats, ["en", "de"], ["yo"], 1)
    with pytest.raises(RoutingError, match="at least two high-resource"):
        isolation_curves(stats, ["en"], ["sw"], 1)
    with pytest.raises(RoutingError, match="both high- and low-resource"):
        isolation_curves(stats, ["en", "de"], ["de"], 1)
    with pytest.raises(RoutingError, match="experts_per_layer must be in 1..2"):
        tripartite_selection(stats, "sw", 3)
    with pytest.raises(RoutingError, match="at least 3 MoE layers"):
        depth_bands(2, 1 / 3, 1 / 3)
    empty = RoutingStats(languages=["a", "b"], layers=[0], counts=torch.zeros(1, 2, 2, dtype=torch.float64),
                         tokens=torch.tensor([3.0, 0.0], dtype=torch.float64), top_k=1)
    with pytest.raises(RoutingError, match=r"no routed tokens for languages \['b'\]"):
        empty.distribution()


def test_convergence_statistic_and_its_exact_permutation_null():
    """Why: "peaks inside the depth" passes for 2/3 of random 6-layer curves; the middle-minus-ends statistic with
    its permutation null over layers must be extreme only for a curve that is high in the middle."""
    from arx.methods.depth import thirds
    from arx.methods.routing.isolation import convergence

    assert thirds(6).tolist() == [0, 0, 1, 1, 2, 2] and thirds(4).tolist() == [0, 1, 1, 2]
    assert thirds(2).tolist() == [0, 2]
    hump = torch.tensor([0.1, 0.2, 0.9, 0.8, 0.3, 0.0])
    got = convergence(hump)
    assert got["middle_minus_ends"] == pytest.approx(0.85 - 0.15)
    assert got["permutation_p"] == pytest.approx(1 / 15)  # the observed middle pair is the best of C(6, 2) = 15
    valley = convergence(1 - hump)
    assert valley["middle_minus_ends"] == pytest.approx(-0.7) and valley["permutation_p"] == pytest.approx(1.0)
    # a random curve: p is uniform over the 15 layer sets, so p <= 0.2 in about 3/15 of curves, never always
    gen = torch.Generator().manual_seed(0)
    ps = [convergence(torch.rand(6, generator=gen))["permutation_p"] for _ in range(600)]
    assert 0.12 < sum(p <= 0.2 for p in ps) / len(ps) < 0.28
    assert convergence(torch.tensor([1.0, 2.0]))["middle_minus_ends"] is None
