"""Ternary adaptation and merges on a tiny Llama: integer range, ΔW ∈ {-1,0,1}, bit-exact lossless merge, STE
gradient, and the contrast that a 16-bit LoRA merged by re-quantization changes the outputs."""

import copy

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from arx.methods.quantization import (
    QuantLinear,
    TernaryLinear,
    TSignSGD,
    add_lora,
    add_ternary_adapters,
    dequantize_to_linear,
    merge_lora_requantized,
    merge_ternary_model,
    quantize_model,
    quantize_rtn,
    ternary_offset,
    ternary_parameters,
)
from arx.methods.quantization.ternary import offset_factor


def tiny_llama(seed=0):
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2)
    return LlamaForCausalLM(cfg).eval()


def randomise_ternary(model, seed=0):
    """Push B away from zero so that many ΔW are non-zero and some hit the grid edges."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, TernaryLinear):
            with torch.no_grad():
                m.B.copy_(torch.randint(-1, 2, m.B.shape, generator=g).float())
                m.A.copy_(torch.randint(-1, 2, m.A.shape, generator=g).float())


def test_threshold_masks_and_offset_factor():
    m = torch.tensor([[5.0, -5.0, 5.0, -5.0, 1.0, -3.0, 3.0, 0.0]])
    q = torch.tensor([[3, 3, 15, 0, 7, 7, 7, 7]], dtype=torch.uint8)
    delta = ternary_offset(m, q, bits=4, omega=3.0)
    assert delta.tolist() == [[1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]  # saturation masks; strict > ω
    zp = offset_factor(m, delta, 3.0, group_size=4)
    r = m - 3.0 * delta
    assert torch.allclose(zp, torch.stack([r[0, :4].mean(), r[0, 4:].mean()])[None] / 3.0)


def test_ste_passes_gradient_unmasked():
    m = torch.tensor([[5.0, -5.0, 0.0]], requires_grad=True)
    q = torch.tensor([[15, 0, 7]], dtype=torch.uint8)
    (ternary_offset(m, q, 4, 3.0) * torch.tensor([[1.0, 2.0, 3.0]])).sum().backward()
    assert m.grad.tolist() == [[1.0, 2.0, 3.0]]


def test_gradients_reach_a_and_b_as_in_the_notes():
    layer = TernaryLinear(QuantLinear(quantize_rtn(torch.randn(6, 16), 4, 8)), rank=4, omega=2.0,
                          generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        layer.B.copy_(torch.randint(-1, 2, layer.B.shape, generator=torch.Generator().manual_seed(1)).float())
    x = torch.randn(3, 16)
    layer(x).square().sum().backward()
    # manual: dL/dW' = Gᵀ x; dL/dM = s·G_W + group-mean term / ω; dA = Bᵀ dM, dB = dM Aᵀ
    w = layer.weight_fp().detach().requires_grad_(True)
    torch.nn.functional.linear(x, w).square().sum().backward()
    s = layer.base.scales.repeat_interleave(8, 1)
    gw = s * w.grad
    dm = gw + (gw.reshape(6, 2, 8).sum(2, keepdim=True) / (8 * 2.0)).expand(6, 2, 8).reshape(6, 16)
    assert torch.allclose(layer.A.grad, layer.B.detach().T @ dm, atol=1e-5)
    assert torch.allclose(layer.B.grad, dm @ layer.A.detach().T, atol=1e-5)


def test_merge_is_integer_in_range_and_bit_identical():
    model = tiny_llama()
    quantize_model(model, bits=4, group_size=16)
    add_ternary_adapters(model, rank=8, omega=2.0)
    randomise_ternary(model)
    ids = torch.randint(0, 40, (2, 12), generator=torch.Generator().manual_seed(3))
    layers = [m for m in model.modules() if isinstance(m, TernaryLinear)]
    deltas = [lay.offsets()[0].detach() for lay in layers]
    assert sum(int((d != 0).sum()) for d in deltas) > 100
    q_before = [lay.base.q.clone() for lay in layers]
    with torch.no_grad():
        unmerged = model(ids).logits
        merge_ternary_model(model)
        merged = model(ids).logits
    merged_layers = [m for m in model.modules() if isinstance(m, QuantLinear)]
    assert len(merged_layers) == len(layers)
    saturated = 0
    for ml, q0, d in zip(merged_layers, q_before, deltas):
        diff = ml.q.to(torch.int16) - q0.to(torch.int16)
        assert set(diff.unique().tolist()) <= {-1, 0, 1}
        assert torch.equal(diff, d.to(torch.int16))
        assert int(ml.q.max()) <= 15 and int(ml.q.min()) >= 0
        saturated += int(((q0 == 15) & (d > 0)).sum() + ((q0 == 0) & (d < 0)).sum())
    assert saturated == 0
    assert torch.equal(unmerged, merged)  # bit-identical: same op order in fp32


def test_tsignsgd_training_changes_weights_and_keeps_them_ternary():
    model = tiny_llama()
    quantize_model(model, bits=4, group_size=16)
    add_ternary_adapters(model, rank=8, omega=1.0)
    params = ternary_parameters(model)
    assert all(p.requires_grad for p in params)
    assert not any(p.requires_grad for n, p in model.named_parameters() if not n.endswith((".A", ".B")))
    opt = TSignSGD(params, total_steps=5)
    ids = torch.randint(0, 40, (4, 12), generator=torch.Generator().manual_seed(0))
    for _ in range(5):
        opt.zero_grad()
        model(ids, labels=ids).loss.backward()
        opt.step()
    assert any(bool(p.abs().sum() > 0) for p in params[1::2])  # B left zero init
    assert all(set(p.detach().unique().tolist()) <= {-1.0, 0.0, 1.0} for p in params)


def test_lora_merged_by_requantization_changes_outputs():
    model = tiny_llama()
    quantize_model(model, bits=4, group_size=16)
    dequantize_to_linear(model)
    peft_model = add_lora(model, rank=4, alpha=8)
    g = torch.Generator().manual_seed(0)
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    ids = torch.randint(0, 40, (2, 12), generator=g)
    with torch.no_grad():
        before = peft_model(ids).logits
        merged = merge_lora_requantized(peft_model, bits=4, group_size=16)
        after = merged(ids).logits
    assert any(isinstance(m, QuantLinear) for m in merged.modules())
    assert float((before - after).abs().max()) > 1e-4


def test_quantized_model_keeps_embeddings_and_head():
    model = tiny_llama()
    head = copy.deepcopy(model.lm_head.weight)
    names = quantize_model(model, 4, 16)
    assert len(names) == 2 * 7 and torch.equal(model.lm_head.weight, head)


def test_bad_adapter_arguments():
    base = QuantLinear(quantize_rtn(torch.randn(4, 16), 4, 8))
    with pytest.raises(ValueError, match="omega"):
        TernaryLinear(base, rank=4, omega=4.0)
    with pytest.raises(ValueError, match="rank"):
        TernaryLinear(base, rank=0, omega=1.0)
    with pytest.raises(ValueError, match="decoder layers"):
        quantize_model(torch.nn.Sequential(torch.nn.Linear(4, 4)), 4, 4)
