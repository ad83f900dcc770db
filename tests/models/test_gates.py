"""Adapter gates across families: zeroing a unit by gate equals zeroing its weights; position-only gates; errors."""

import copy

import pytest
import torch

from arx.models import AdapterError, build_model, gated, get_adapter

torch.set_num_threads(1)
V = 50
IDS = torch.randint(1, V, (2, 6), generator=torch.Generator().manual_seed(0))


def _zero_weights(model, kind, layer, unit):
    """The same unit switched off by editing weights (the reference for a gate of 0)."""
    ad = get_adapter(model)
    with torch.no_grad():
        if kind == "neuron":
            w = ad.ffn_out(layer).weight
            (w[unit] if ad.family == "gpt2" else w[:, unit]).zero_()  # GPT-2 Conv1D is [in, out]
        elif kind == "head":
            w, s = ad.attn_out(layer).weight, slice(unit * ad.head_dim, (unit + 1) * ad.head_dim)
            (w[s] if ad.family == "gpt2" else w[:, s]).zero_()
        elif kind == "expert":
            ad.layers[layer].mlp.experts.down_proj[unit].zero_()
        else:
            ad.layers[layer].mlp.shared_expert.down_proj.weight.zero_()


@pytest.mark.parametrize("family,kind", [("gpt2", "neuron"), ("gpt2", "head"), ("llama", "neuron"),
                                         ("llama", "head"), ("qwen2_moe", "expert"), ("qwen2_moe", "shared"),
                                         ("mixtral", "expert"), ("olmoe", "head")])
def test_zero_gate_equals_zeroed_weights(family, kind):
    model = build_model(family, "xs", V, seed=2)
    with torch.no_grad():  # transformers zero-inits some router/expert weights; random ones exercise every unit
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.2)
    ad = get_adapter(model)
    gate = torch.ones(ad.num_layers, ad.units(kind))
    gate[1, 0] = 0.0
    edited = copy.deepcopy(model)
    _zero_weights(edited, kind, 1, 0)
    with torch.no_grad():
        with gated(model, {kind: gate}):
            got = model(input_ids=IDS).logits
        want = edited(input_ids=IDS).logits
        clean = model(input_ids=IDS).logits
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got, clean)  # the gate did something, and hooks are removed after the block


def test_gate_at_one_position_leaves_earlier_positions_alone():
    model = build_model("llama", "xs", V, seed=1)
    with torch.no_grad():
        clean = model(input_ids=IDS).logits
        with gated(model, {"neuron": {0: torch.zeros(64)}}, at=torch.tensor([3, 5])):
            got = model(input_ids=IDS).logits
    torch.testing.assert_close(got[0, :3], clean[0, :3])  # causal: positions before the gate are unchanged
    torch.testing.assert_close(got[1, :5], clean[1, :5])
    assert not torch.allclose(got[0, 3], clean[0, 3]) and not torch.allclose(got[1, 5], clean[1, 5])


def test_bad_gates_name_the_fix():
    model = build_model("qwen2_moe", "xs", V)
    ad = get_adapter(model)
    with pytest.raises(AdapterError, match=r"expected \[L=2, n=8\]"):
        with ad.gated({"expert": torch.ones(2, 5)}):
            pass
    with pytest.raises(AdapterError, match="unknown layer 7"):
        with ad.gated({"expert": {7: torch.ones(8)}}):
            pass
    with pytest.raises(AdapterError, match="no 'neuron' units"):
        with ad.gated({"neuron": torch.ones(2, 4)}):
            pass
    with pytest.raises(AdapterError, match="cannot block more than num_experts - top_k = 6"):
        with ad.gated(blocked=torch.ones(2, 8, dtype=torch.bool)):
            pass
    with pytest.raises(AdapterError, match="no adapter for"):
        get_adapter(torch.nn.Linear(2, 2))
