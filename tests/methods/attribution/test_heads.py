"""Head masking and the head–expert correlation permutation test."""

from __future__ import annotations

import copy

import pytest
import torch
from moe_helpers import facts, tiny

from arx.methods.attribution import heads, moe
from arx.methods.attribution.prompts import AttributionError, ranking_metrics
from arx.models import get_adapter

torch.set_num_threads(1)


def test_correlated_attributions_are_significant():
    g = torch.Generator().manual_seed(0)
    h = torch.randn(60, 3, 4, generator=g)
    e = h.sum(-1, keepdim=True).expand(-1, -1, 6) / 6 + 0.05 * torch.randn(60, 3, 6, generator=g)
    res = heads.head_expert_correlation(h, e, permutations=300)
    assert res["r"] > 0.9 and res["p"] < 0.01


def test_independent_attributions_are_not_significant_even_with_layer_trends():
    """Layer-level trends shared by heads and experts must not create a correlation (z-scored per layer)."""
    g = torch.Generator().manual_seed(1)
    trend = torch.tensor([0.0, 10.0, 100.0])[None, :, None]
    h = trend + torch.randn(80, 3, 4, generator=g)
    e = trend + torch.randn(80, 3, 6, generator=g)
    res = heads.head_expert_correlation(h, e, permutations=300)
    assert abs(res["r"]) < 0.2 and res["p"] > 0.05
    # pooled raw values would correlate almost perfectly through the trend alone
    assert float(torch.corrcoef(torch.stack([h.sum(-1).flatten(), e.sum(-1).flatten()]))[0, 1]) > 0.9


def test_permutation_p_value_is_roughly_uniform_under_the_null():
    g = torch.Generator().manual_seed(2)
    ps = [heads.head_expert_correlation(torch.randn(30, 2, 3, generator=g), torch.randn(30, 2, 5, generator=g),
                                        permutations=99, seed=s)["p"] for s in range(40)]
    assert 0.3 < sum(ps) / len(ps) < 0.7
    assert sum(p < 0.05 for p in ps) <= 6


def test_head_masking_equals_zeroing_o_proj_columns():
    model, b = tiny("llama"), facts(10)
    ha = moe.attribute(model, b, "head")
    res = heads.head_masking(model, b, ha, 2)
    lay = get_adapter(model)
    m = copy.deepcopy(model)
    with torch.no_grad():
        for l, h in res["masked"]:
            m.model.layers[l].self_attn.o_proj.weight[:, h * lay.head_dim:(h + 1) * lay.head_dim] = 0
    assert res["after"] == ranking_metrics(m, b)
    assert len(res["masked"]) == 2
    top = ha.sum(0).flatten().topk(2).indices.tolist()
    assert sorted(l * lay.num_heads + h for l, h in res["masked"]) == sorted(top)


def test_bad_inputs():
    with pytest.raises(AttributionError, match="share \\[facts, layers\\]"):
        heads.head_expert_correlation(torch.zeros(5, 2, 4), torch.zeros(5, 3, 6))
    with pytest.raises(AttributionError, match="at least 3 facts"):
        heads.head_expert_correlation(torch.zeros(2, 2, 4), torch.zeros(2, 2, 6))
    with pytest.raises(AttributionError, match="k=9 heads"):
        heads.top_heads(torch.zeros(3, 2, 4), 9)
    model = tiny("llama")
    with pytest.raises(AttributionError, match="expected \\[N, 2, 4\\]"):
        heads.head_masking(model, facts(3), torch.zeros(3, 3, 4), 1)
