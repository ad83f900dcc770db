"""Layer-cached per-layer IG against the general path (same numbers) and captum (the independent oracle)."""

from __future__ import annotations

import pytest
import torch
from test_ig import V, captum_layer, gpt2
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from arx.methods.attribution.ig import attribute_ig
from arx.methods.attribution.ig_layer_cache import attribute_ig_from_layers
from arx.methods.attribution.prompts import AttributionError, FactBatch

torch.set_num_threads(1)
SIZES = dict(vocab_size=V, hidden_size=32, intermediate_size=48, num_hidden_layers=4, num_attention_heads=4,
             num_key_value_heads=2)


def _model(cls, cfg):
    torch.manual_seed(0)
    return cls(cfg(**SIZES)).eval()


def _padded_batch(n: int = 4) -> FactBatch:
    g = torch.Generator().manual_seed(3)
    lengths = torch.tensor([7, 4, 9, 2])[:n]
    ids = torch.randint(1, V, (n, 9), generator=g)
    mask = (torch.arange(9)[None] < lengths[:, None]).long()
    return FactBatch(ids * mask, mask, lengths - 1, torch.randint(1, V, (n,), generator=g), torch.zeros(n).long())


@pytest.mark.parametrize("cls,cfg", [(LlamaForCausalLM, LlamaConfig), (Qwen2ForCausalLM, Qwen2Config)])
@pytest.mark.parametrize("objective", ["prob", "logprob"])
def test_same_numbers_as_the_general_per_layer_path(cls, cfg, objective):
    model, batch = _model(cls, cfg), _padded_batch()
    ours = attribute_ig_from_layers(model, batch, steps=8, objective=objective)
    general = attribute_ig(model, batch, "neuron", steps=8, objective=objective, path="layer", use_cache=False)
    assert ours.shape == general.shape == (4, 4, 48) and general.abs().sum() > 0
    assert torch.allclose(ours, general, atol=1e-6, rtol=1e-4)
    some = attribute_ig_from_layers(model, batch, layers=[1, 3], steps=8, objective=objective)
    assert torch.allclose(some, ours[:, [1, 3]], atol=1e-6, rtol=1e-4)  # a layer subset starts later, same values


def test_agrees_with_captum_layer_integrated_gradients():
    model = _model(LlamaForCausalLM, LlamaConfig)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, V, (8,), generator=g)
    target = int(torch.randint(0, V, (1,), generator=g))
    ours = attribute_ig_from_layers(model, FactBatch.single(ids, target), steps=20, rule="left", objective="prob")[0]
    ref = torch.stack([captum_layer(model, ids, target, l, 20, "prob") for l in range(4)])
    r = torch.corrcoef(torch.stack([ours.flatten(), ref.flatten()]))[0, 1]
    assert ref.abs().sum() > 0 and r >= 0.999
    assert torch.allclose(ours, ref, atol=1e-6, rtol=1e-4)


def test_unsupported_family_and_one_token_prompt_are_errors():
    with pytest.raises(AttributionError, match="attribute_ig"):
        attribute_ig_from_layers(gpt2(), FactBatch.single(torch.tensor([1, 2, 3]), 4))
    with pytest.raises(AttributionError, match="needs a prefix"):
        attribute_ig_from_layers(_model(LlamaForCausalLM, LlamaConfig), FactBatch.single(torch.tensor([1]), 4))
