"""Routing statistics on real tiny MoE models, slice-wise freezing of fused experts, dense-model errors."""

import pytest
import torch

from arx.methods.routing import (
    RoutingError,
    collect_routing,
    moe_layers,
    random_selection,
    restrict_training,
    tripartite_selection,
)

from .routing_models import tiny_llama, tiny_mixtral, tiny_olmoe, tiny_qwen2_moe


def corpus(n: int = 12, seq: int = 6):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 40, (n, seq), generator=g)
    mask = torch.ones_like(ids)
    mask[0, 4:] = 0
    return ids, mask, torch.arange(n) % 3


@pytest.mark.parametrize("build", [tiny_qwen2_moe, tiny_olmoe, tiny_mixtral])
def test_counts_match_a_per_token_recount(build):
    model = build()
    ids, mask, lang = corpus()
    stats = collect_routing(model, ids, mask, lang, ["a", "b", "c"], batch_size=5)
    blocks = moe_layers(model)
    # reference: unbatched forward with output_router_logits, top-k of each token's logits
    ref = torch.zeros_like(stats.counts)
    for i in range(len(ids)):
        keep = mask[i].bool()
        out = model(input_ids=ids[i:i + 1, keep], output_router_logits=True)
        for li, logits in enumerate(out.router_logits):
            for e in logits.topk(blocks[li].top_k, dim=-1).indices.reshape(-1):
                ref[li, lang[i], e] += 1
    assert torch.equal(stats.counts, ref)
    assert stats.tokens.tolist() == [24 - 2, 24, 24]
    p = stats.distribution()
    assert torch.allclose(p.sum(-1), torch.ones_like(p.sum(-1)))


@pytest.mark.parametrize("build", [tiny_qwen2_moe, tiny_olmoe, tiny_mixtral])
def test_only_selected_experts_change_after_training(build):
    model = build()
    ids, mask, lang = corpus()
    stats = collect_routing(model, ids, mask, lang, ["a", "b", "c"])
    sel = tripartite_selection(stats, "c", experts_per_layer=2)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    handle = restrict_training(model, sel)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.0)
    for _ in range(3):
        loss = model(input_ids=ids, attention_mask=mask, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    handle.remove()
    changed_experts = 0
    for name, p in model.named_parameters():
        if ".experts." in name:
            layer = int(name.split(".")[2])
            for e in range(p.shape[0]):
                moved = not torch.equal(p[e], before[name][e])
                assert moved == (e in sel[layer]), (name, e)
                changed_experts += moved
        else:
            assert torch.equal(p, before[name]), name
    assert changed_experts == 2 * sum(len(v) for v in sel.values())
    per_expert = sum(p[0].numel() for n, p in model.named_parameters() if "layers.0.mlp.experts." in n)
    assert handle.num_trainable == per_expert * sum(len(v) for v in sel.values())


def test_random_subnetwork_has_the_same_trainable_count_and_full_is_everything():
    model = tiny_qwen2_moe(layers=3)
    sel = {0: [1, 2], 1: [0, 5], 2: [7, 3]}
    rnd = random_selection(sel, num_experts=8, seed=0)
    assert {k: len(v) for k, v in rnd.items()} == {0: 2, 1: 2, 2: 2} and rnd != sel
    assert random_selection(sel, 8, seed=0) == rnd
    n_rise = restrict_training(model, sel).num_trainable
    assert restrict_training(model, rnd).num_trainable == n_rise
    full = restrict_training(model, None)
    assert full.num_trainable == sum(p.numel() for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())


def test_bad_inputs():
    with pytest.raises(RoutingError, match="LlamaForCausalLM has no sparse MoE layer.*qwen2_moe, olmoe, mixtral"):
        collect_routing(tiny_llama(), *corpus(), ["a", "b", "c"])
    model = tiny_qwen2_moe(layers=3)
    ids, mask, lang = corpus()
    with pytest.raises(RoutingError, match="language_ids must index languages"):
        collect_routing(model, ids, mask, lang, ["a", "b"])
    with pytest.raises(RoutingError, match="one per sequence"):
        collect_routing(model, ids, mask, lang[:3], ["a", "b", "c"])
    with pytest.raises(RoutingError, match=r"layers \[7\] that are not MoE layers"):
        restrict_training(model, {7: [0]})
    with pytest.raises(RoutingError, match=r"expert indices \[9\] out of range"):
        restrict_training(model, {0: [9]})
