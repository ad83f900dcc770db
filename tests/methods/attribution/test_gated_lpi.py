"""Gated-LPI on two-checkpoint toys where the answer is known."""

from __future__ import annotations

import pytest
import torch
from moe_helpers import facts, tiny

from arx.methods.attribution import gated_lpi
from arx.methods.attribution.prompts import AttributionError, target_logprob

torch.set_num_threads(1)


def _state(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def test_dense_single_changed_neuron_takes_all_neuron_lpi():
    model, b = tiny("llama"), facts(6)
    a = _state(model)
    bst = {k: v.clone() for k, v in a.items()}
    layer, j, ffn = 1, 5, 24
    p = "model.layers.1.mlp."
    bst[p + "up_proj.weight"][j] += 0.5
    bst[p + "down_proj.weight"][:, j] += 0.3
    res = gated_lpi.gated_lpi(model, a, bst, b, steps=16)
    nz = res.neurons.nonzero()[:, 0].tolist()
    assert nz == [layer * ffn + j]
    assert int(res.layer_of[nz[0]]) == layer
    assert res.rest == 0.0
    with torch.no_grad():
        model.load_state_dict(bst, strict=False)
        fb = float(target_logprob(model, b).sum())
        model.load_state_dict(a, strict=False)
        fa = float(target_logprob(model, b).sum())
    assert res.total == pytest.approx(fb - fa, abs=1e-5)
    assert abs(res.total) > 1e-2
    assert float(res.neurons.sum()) == pytest.approx(res.total, rel=1e-3, abs=1e-4)


def test_moe_expert_neuron_and_rest_sum_to_total():
    model, b = tiny("qwen2_moe", layers=1), facts(6)
    a = _state(model)
    bst = {k: v.clone() for k, v in a.items()}
    e, j, I = 2, 3, 16
    bst["model.layers.0.mlp.experts.down_proj"][e, :, j] += 0.5
    bst["model.layers.0.mlp.experts.gate_up_proj"][e, I + j] += 0.5
    bst["model.layers.0.self_attn.q_proj.weight"] += 0.05   # an attention change goes to `rest`
    res = gated_lpi.gated_lpi(model, a, bst, b, steps=32)
    # neurons: experts (E × I) then the shared expert (16); only expert e's neuron j moved
    nz = res.neurons.nonzero()[:, 0].tolist()
    assert nz == [e * I + j]
    assert res.rest != 0.0
    assert res.quadrature_error < 1e-3 * max(1.0, abs(res.total))


def _bent_path(seed: int = 0):
    """Two checkpoints far apart in every FFN weight, so f bends along the path and few points do badly."""
    model, b = tiny("llama"), facts(6)
    a = _state(model)
    g = torch.Generator().manual_seed(seed)
    bst = {k: v + (1.5 * torch.randn(v.shape, generator=g) if "mlp" in k else 0.0) for k, v in a.items()}
    return model, a, bst, b


def test_adaptive_quadrature_meets_its_tolerance_and_matches_a_fine_even_grid():
    model, a, bst, b = _bent_path()
    coarse = gated_lpi.gated_lpi(model, a, bst, b, steps=2)
    assert coarse.evaluations == 2 and coarse.residual_share > 0.05  # the construct: two points are not enough
    adaptive = gated_lpi.gated_lpi(model, a, bst, b, steps=2, rtol=0.01, max_steps=200)
    assert adaptive.residual_share <= 0.01 < coarse.residual_share
    assert adaptive.evaluations < 200
    assert adaptive.total == pytest.approx(coarse.total)  # the same endpoints
    fine = gated_lpi.gated_lpi(model, a, bst, b, steps=400)  # the oracle: a plain midpoint rule on 400 points
    assert fine.residual_share < 0.01
    scale = float(fine.neurons.abs().max())
    assert float((adaptive.neurons - fine.neurons).abs().max()) < 0.05 * scale
    assert float((coarse.neurons - fine.neurons).abs().max()) > float((adaptive.neurons - fine.neurons).abs().max())


def test_budget_caps_the_refinement_and_is_reported():
    model, a, bst, b = _bent_path()
    capped = gated_lpi.gated_lpi(model, a, bst, b, steps=2, rtol=1e-9, max_steps=6)
    assert capped.evaluations == 6  # 2 even points, then two trisections of 2 new points each
    assert capped.residual_share_abs <= capped.residual_share  # Σ|x| >= |Σx|


def test_concentration_and_stability_by_hand():
    x = torch.zeros(200)
    x[0], x[1:11] = 9.0, 0.1     # top 1 % = 2 neurons hold (9 + 0.1) of 10
    x[11:20] = -5.0              # negative updates do not count
    assert gated_lpi.concentration(x, 0.01) == pytest.approx(9.1 / 10.0)
    assert gated_lpi.concentration(torch.zeros(5)) == 0.0
    r = gated_lpi.LPIResult(1.0, torch.arange(10.0), torch.zeros(10), 0.0, 0.0)
    rev = gated_lpi.LPIResult(1.0, -torch.arange(10.0), torch.zeros(10), 0.0, 0.0)
    assert gated_lpi.stability([r, r, rev]) == pytest.approx([1.0, -1.0])


def test_bad_inputs():
    model, b = tiny("llama"), facts(3)
    a = _state(model)
    with pytest.raises(AttributionError, match="checkpoints lack parameters"):
        gated_lpi.gated_lpi(model, {}, a, b)
    with pytest.raises(AttributionError, match="need 1 <= steps <= max_steps"):
        gated_lpi.gated_lpi(model, a, a, b, steps=0)
    with pytest.raises(AttributionError, match="need 1 <= steps <= max_steps"):
        gated_lpi.gated_lpi(model, a, a, b, steps=8, max_steps=4)
    with pytest.raises(AttributionError, match="rtol must be"):
        gated_lpi.gated_lpi(model, a, a, b, rtol=0.0)
    with pytest.raises(AttributionError, match="fraction must be"):
        gated_lpi.concentration(torch.ones(3), 0.0)


def _rerouted_path(seed: int = 0):
    """An OLMoE pair whose routers differ strongly and whose experts differ from each other, so tokens switch
    experts along the path and f jumps there."""
    model, b = tiny("olmoe"), facts(8)
    a = {k: v * 4 if "experts" in k else v for k, v in _state(model).items()}
    g = torch.Generator().manual_seed(seed)

    def step(k: str, v: torch.Tensor) -> torch.Tensor:
        scale = 2.0 if "gate.weight" in k else 0.3 if "experts" in k else 0.0
        return v + scale * torch.randn(v.shape, generator=g)

    return model, a, {k: step(k, v) for k, v in a.items()}, b


def test_routing_switches_are_an_explicit_term_that_closes_completeness():
    model, a, bst, b = _rerouted_path()
    # the oracle: a plain midpoint rule on 600 points; its gradients never see a jump, so total minus its
    # gradient sum is the switch change, up to its own (small) quadrature error
    fine = gated_lpi.gated_lpi(model, a, bst, b, steps=600)
    gradient_part = float(fine.neurons.sum()) + fine.rest
    oracle_switch = fine.total - gradient_part
    assert abs(oracle_switch) > 0.2 * abs(float(fine.neurons.sum()))  # the phenomenon: jumps quadrature cannot see
    assert fine.switch == pytest.approx(oracle_switch, rel=0.05)
    coarse = gated_lpi.gated_lpi(model, a, bst, b, steps=8)
    adaptive = gated_lpi.gated_lpi(model, a, bst, b, steps=8, rtol=0.01, max_steps=200)
    assert coarse.residual_share > 0.05  # eight points are not enough here
    assert adaptive.residual_share <= 0.01 and adaptive.evaluations < 200
    assert adaptive.switch == pytest.approx(oracle_switch, rel=0.05)

    def l1_error(r: gated_lpi.LPIResult) -> float:
        return float((r.neurons - fine.neurons).abs().sum() / fine.neurons.abs().sum())

    assert l1_error(adaptive) < 0.1 and l1_error(adaptive) < l1_error(coarse) / 2


def test_frozen_routing_is_the_models_own_routing_where_nothing_switches():
    model, b = tiny("olmoe"), facts(6)
    a = _state(model)
    res = gated_lpi.gated_lpi(model, a, a, b, steps=2)  # a zero step: nothing moves, nothing switches
    assert res.total == 0.0 and res.switch == 0.0 and float(res.neurons.abs().sum()) == 0.0
    dense = gated_lpi.gated_lpi(tiny("llama"), *_bent_path()[1:3], facts(6), steps=4)
    assert dense.switch == 0.0
