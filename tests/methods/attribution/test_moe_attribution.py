"""MoE cross-level attribution and expert blocking on tiny transformers models (random weights)."""

from __future__ import annotations

import copy

import pytest
import torch
from moe_helpers import facts, tiny

from arx.methods.attribution import blocking, moe
from arx.methods.attribution.ig import attribute_ig, integrated_gradients
from arx.methods.attribution.prompts import AttributionError, FactBatch, answer_logits, ranking_metrics, target_logprob
from arx.models import AdapterError, gated, get_adapter

torch.set_num_threads(1)


def _experts(model, layer):
    return model.model.layers[layer].mlp.experts


@pytest.mark.parametrize("kind", ["qwen2_moe", "olmoe"])
def test_blocked_experts_receive_no_tokens_and_contribute_zero(kind):
    model, b = tiny(kind), facts(8)
    lay = get_adapter(model)
    blocked = torch.zeros(lay.num_layers, lay.num_experts, dtype=torch.bool)
    blocked[0, [0, 3]] = True
    blocked[1, 5] = True
    seen = {l: [] for l in range(lay.num_layers)}
    hooks = [_experts(model, l).register_forward_hook(lambda _m, inp, _o, l=l: seen[l].append(inp[1].flatten()))
             for l in range(lay.num_layers)]
    with torch.no_grad(), gated(model, blocked=blocked):
        out = answer_logits(model, b)
    for h in hooks:
        h.remove()
    for l in range(lay.num_layers):
        chosen = set(torch.cat(seen[l]).tolist())
        assert not chosen & set(blocked[l].nonzero()[:, 0].tolist())
        assert chosen  # routing still happens
    # scrambling the blocked experts' weights changes nothing: they contribute exactly zero
    other = copy.deepcopy(model)
    with torch.no_grad():
        for l, e in blocked.nonzero().tolist():
            _experts(other, l).down_proj[e].normal_()
            _experts(other, l).gate_up_proj[e].normal_()
        with gated(other, blocked=blocked):
            assert torch.equal(answer_logits(other, b), out)
        assert not torch.equal(answer_logits(other, b), answer_logits(model, b))


@pytest.mark.parametrize("kind,unit,layers", [("qwen2_moe", "expert", 1), ("qwen2_moe", "shared", 1),
                                              ("olmoe", "expert", 1), ("llama", "neuron", 2), ("llama", "head", 1)])
def test_ig_completeness(kind, unit, layers):
    """Σ IG = f(gates 1) − f(gates 0). With routers downstream of the gated units the path crosses routing switches,
    so completeness is only exact where no router sits after the gate (one MoE layer) or in dense models."""
    model, b = tiny(kind, layers=layers), facts(6)
    attr = moe.attribute(model, b, unit, method="ig", steps=32)
    diff = moe.gate_off_difference(model, b, unit)
    assert diff.abs().min() > 1e-3  # the test is not vacuous
    torch.testing.assert_close(attr.sum((1, 2)), diff, rtol=2e-3, atol=2e-3)


def test_gradient_times_gate_matches_finite_difference():
    model, b = tiny("qwen2_moe"), facts(3)
    attr = moe.attribute(model, b, "expert", method="grad")
    lay, eps = get_adapter(model), 1e-3
    l, e = 1, int(attr[0, 1].abs().argmax())
    up, down = torch.ones(lay.num_layers, lay.num_experts), torch.ones(lay.num_layers, lay.num_experts)
    up[l, e], down[l, e] = 1 + eps, 1 - eps
    with torch.no_grad():
        with gated(model, {"expert": up}):
            fp = target_logprob(model, b)
        with gated(model, {"expert": down}):
            fm = target_logprob(model, b)
    torch.testing.assert_close(attr[:, l, e], (fp - fm) / (2 * eps), rtol=2e-2, atol=1e-4)


def test_ablation_equals_zeroing_the_unit_weights():
    model, b = tiny("qwen2_moe"), facts(4)
    ab_e = moe.attribute(model, b, "expert", method="ablation")
    ab_s = moe.attribute(model, b, "shared", method="ablation")
    ab_h = moe.attribute(model, b, "head", method="ablation")
    lay = get_adapter(model)
    with torch.no_grad():
        clean = target_logprob(model, b)
        for l, e in [(0, 1), (1, 4)]:
            m = copy.deepcopy(model)
            _experts(m, l).down_proj[e].zero_()
            torch.testing.assert_close(ab_e[:, l, e], clean - target_logprob(m, b), atol=1e-5, rtol=1e-4)
        m = copy.deepcopy(model)
        m.model.layers[1].mlp.shared_expert.down_proj.weight.zero_()
        torch.testing.assert_close(ab_s[:, 1, 0], clean - target_logprob(m, b), atol=1e-5, rtol=1e-4)
        m = copy.deepcopy(model)
        h = 2
        m.model.layers[0].self_attn.o_proj.weight[:, h * lay.head_dim:(h + 1) * lay.head_dim] = 0
        torch.testing.assert_close(ab_h[:, 0, h], clean - target_logprob(m, b), atol=1e-5, rtol=1e-4)


def test_ranking_metrics_by_hand():
    model, b = tiny("llama"), facts(5)
    with torch.no_grad():
        logits = answer_logits(model, b)
    order = logits.argsort(-1, descending=True)
    rank = (order == b.target[:, None]).nonzero()[:, 1].double() + 1
    got = ranking_metrics(model, b, batch_size=2)
    assert got["mrr"] == pytest.approx(float((1 / rank).mean()))
    assert got["hit@10"] == pytest.approx(float((rank <= 10).double().mean()))


def test_efficiency_and_profile():
    model = tiny("qwen2_moe", layers=3)
    lay = get_adapter(model)
    # two facts, three layers: expert units with opposite signs cancel in the signed layer sum (the layer's FFN
    # contribution), while the profile counts their magnitude
    expert = torch.tensor([[[1.0, -1.0], [2.0, 0.0], [3.0, 1.0]], [[1.0, -1.0], [2.0, 2.0], [3.0, -1.0]]])
    shared = torch.tensor([[[1.0], [0.0], [2.0]], [[-1.0], [0.0], [0.0]]])
    eff = moe.per_layer_efficiency(model, [expert, shared])
    act = lay.top_k * lay.expert_params + lay.shared_params
    assert eff["activated_ffn_params_per_layer"] == act == lay.activated_ffn_params()
    assert eff["mass_per_layer"] == pytest.approx([0.0, 3.0, 4.0])  # fact means of (1, 2, 6) and (-1, 4, 2)
    assert eff["per_layer"] == pytest.approx([0.0, 3.0 / act, 4.0 / act])
    assert eff["per_fact"] == pytest.approx([3.0 / act, 5 / 3 / act])
    # Σ|A| per layer, mean over facts: (3 + 3) / 2, (2 + 4) / 2, (6 + 4) / 2
    assert eff["profile"] == pytest.approx({"early": 3 / 11, "middle": 3 / 11, "late": 5 / 11})
    # by relative depth: two layers are early and late (not all "middle"), six split 2/2/2
    assert moe.layer_profile(torch.tensor([1.0, 3.0])) == pytest.approx({"early": 0.25, "middle": 0.0, "late": 0.75})
    assert moe.layer_profile(torch.ones(6)) == pytest.approx({"early": 1 / 3, "middle": 1 / 3, "late": 1 / 3})


def test_top_expert_mask_respects_scores_and_layer_cap():
    model = tiny("qwen2_moe")
    lay = get_adapter(model)  # 2 layers, 6 experts, top-2: at most 4 blocked per layer
    scores = torch.tensor([[9.0, 8, 7, 6, 5, 4], [0.5, 0, 0, 0, 0, 0]])
    mask = blocking.top_expert_mask(scores, 5, lay)
    assert mask[0].tolist() == [True, True, True, True, False, False] and mask[1].tolist()[0] is True
    assert int(mask.sum()) == 5


def test_blocking_top_vs_random_runs_and_reports_drops():
    model, b = tiny("olmoe"), facts(12)
    ea = moe.attribute(model, b, "expert")
    res = blocking.blocking_by_relation(model, b, ea, 2, random_draws=2)
    assert set(res["relations"]) == {"0", "1"}
    for rel in res["relations"].values():
        assert len(rel["blocked"]) == 2
        assert rel["before"]["n"] == 6


def test_bad_inputs_are_clear_errors():
    dense, moe_model, b = tiny("llama"), tiny("qwen2_moe"), facts(4)
    with pytest.raises(AdapterError, match="needs an MoE model"):
        moe.attribute(dense, b, "expert")
    with pytest.raises(AdapterError, match="needs an MoE model"):
        blocking.blocking_by_relation(dense, b, torch.zeros(4, 2, 6), 2)
    with pytest.raises(AttributionError, match="k=9 experts"):
        blocking.blocking_by_relation(moe_model, b, torch.zeros(4, 2, 6), 9)
    with pytest.raises(AttributionError, match="expected \\[4, 2, 6\\]"):
        blocking.blocking_by_relation(moe_model, b, torch.zeros(3, 2, 6), 2)
    with pytest.raises(AttributionError, match="unknown attribution method"):
        moe.attribute(moe_model, b, "expert", method="shap")
    with pytest.raises(AdapterError, match="no 'shared' units"):
        moe.attribute(tiny("olmoe"), b, "shared")
    with pytest.raises(AdapterError, match="expected \\[L=2, n=6\\]"):
        with gated(moe_model, {"expert": torch.ones(2, 5)}):
            pass
    with pytest.raises(AdapterError, match="cannot block more than"):
        with gated(moe_model, blocked=torch.ones(2, 6, dtype=torch.bool)):
            pass
    with pytest.raises(AttributionError, match="FactBatch shapes disagree"):
        FactBatch(b.ids, b.mask, b.pos[:2], b.target, b.relation)


@pytest.mark.parametrize("kind,unit", [("llama", "neuron"), ("llama", "head"), ("qwen2_moe", "expert"),
                                       ("qwen2_moe", "shared")])
def test_batched_ig_over_padded_prompts_equals_one_prompt_at_a_time(kind, unit):
    """One IG for the project: facts × layers × steps batched as rows of right-padded prompts give the numbers of
    the one-prompt KV-cache path DEPN uses, for every unit type."""
    model = tiny(kind)
    lengths, targets = [3, 5, 2], [7, 11, 13]
    g = torch.Generator().manual_seed(3)
    prompts = [torch.randint(0, 40, (n,), generator=g) for n in lengths]
    ids = torch.zeros(3, 5, dtype=torch.long)
    mask = torch.zeros(3, 5, dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, :len(p)], mask[i, :len(p)] = p, 1
    batch = FactBatch(ids, mask, torch.tensor(lengths) - 1, torch.tensor(targets), torch.zeros(3, dtype=torch.long))
    batched = attribute_ig(model, batch, unit, steps=6, rule="middle", max_rows=20)  # forces fact and layer chunks
    for i, p in enumerate(prompts):
        one = integrated_gradients(model, p, targets[i], unit=unit, steps=6, rule="middle")
        torch.testing.assert_close(batched[i], one, rtol=1e-4, atol=1e-6)


def test_layer_and_joint_paths_coincide_on_one_layer():
    model, b = tiny("qwen2_moe", layers=1), facts(3)
    for unit in ("expert", "head"):
        layer = attribute_ig(model, b, unit, steps=8, path="layer", positions="all")
        joint = attribute_ig(model, b, unit, steps=8, path="joint", positions="all")
        torch.testing.assert_close(layer, joint, rtol=1e-5, atol=1e-7)


def test_per_layer_ig_completeness_for_experts_at_the_target_position():
    """Last layer of an MoE, gate at the target position only (no router downstream): Σ_experts IG equals
    f − f(that layer's experts off at the target position)."""
    model, b = tiny("qwen2_moe"), facts(4)
    attr = attribute_ig(model, b, "expert", layers=[1], steps=48, rule="middle")
    with torch.no_grad():
        f1 = target_logprob(model, b)
        with gated(model, {"expert": {1: torch.zeros(6)}}, at=b.pos):
            f0 = target_logprob(model, b)
    assert (f1 - f0).abs().min() > 1e-3
    torch.testing.assert_close(attr[:, 0].sum(-1), f1 - f0, rtol=2e-3, atol=2e-3)


def test_zero_mode_blocking_keeps_routing_and_zeroes_the_experts():
    model, b = tiny("olmoe"), facts(12)
    ea = moe.attribute(model, b, "expert")
    res = blocking.blocking_by_relation(model, b, ea, 2, random_draws=1, mode="zero")
    rel = res["relations"]["0"]
    zeroed = copy.deepcopy(model)
    with torch.no_grad():
        for l, e in rel["blocked"]:
            _experts(zeroed, l).down_proj[e].zero_()
    facts0 = b.take((b.relation == 0).nonzero()[:, 0])
    assert rel["top"] == ranking_metrics(zeroed, facts0)
    with pytest.raises(AttributionError, match="unknown blocking mode"):
        blocking.blocking_by_relation(model, b, ea, 2, mode="drop")


def test_shared_ablation_equals_zeroing_every_shared_expert_by_weight_surgery():
    model, b = tiny("qwen2_moe"), facts(12)
    res = blocking.shared_ablation_by_relation(model, b)
    m = copy.deepcopy(model)
    with torch.no_grad():
        for layer in m.model.layers:
            layer.mlp.shared_expert.down_proj.weight.zero_()
    for rel, r in res.items():
        sub = b.take((b.relation == int(rel)).nonzero()[:, 0])
        oracle = ranking_metrics(m, sub)
        assert r["after"] == oracle
        before = ranking_metrics(model, sub)
        assert r["drop"]["mrr"] == pytest.approx((before["mrr"] - oracle["mrr"]) / before["mrr"])
    assert set(res) == {"0", "1"}
    with pytest.raises(AttributionError, match="no shared expert"):
        blocking.shared_ablation_by_relation(tiny("olmoe"), b)
