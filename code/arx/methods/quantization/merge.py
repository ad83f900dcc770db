"""Merging adapters into quantized models: LoTA-QAF's lossless merge and the 16-bit LoRA baselines.

* LoTA-QAF: ``q' = q + ΔW`` on the integer grid, ``zp`` kept beside it -> outputs identical to the adapted model.
* QLoRA-style baseline: 16-bit LoRA (``peft``) on the dequantized weights, merged (``W_deq + BA``) and
  re-quantized with RTN at the same bit width and group size -> the merge has to round, so outputs change.
* 16-bit LoRA on the full-precision model, merged in floating point (the unquantized reference).
"""

from __future__ import annotations

import torch
from torch import nn

from .qlinear import QuantLinear, decoder_layers, quantize_model, swap_linears
from .ternary import TernaryLinear


def merge_ternary_model(model: nn.Module) -> list[str]:
    """In place: every ``TernaryLinear`` becomes the merged ``QuantLinear`` (integers + zp)."""
    return swap_linears(model, lambda _, tl: tl.merged(), kind=TernaryLinear)


def dequantize_to_linear(model: nn.Module) -> list[str]:
    """In place: every ``QuantLinear`` becomes an ``nn.Linear`` holding exactly its dequantized weight, so that
    ``peft`` can wrap it (the frozen base of a QLoRA-style fine-tune; same outputs as the quantized layer)."""

    def to_linear(_: str, ql: QuantLinear) -> nn.Linear:
        lin = nn.Linear(ql.in_features, ql.out_features, bias=ql.bias is not None, device=ql.q.device)
        with torch.no_grad():
            lin.weight.copy_(ql.weight_fp())
            if ql.bias is not None:
                lin.bias.copy_(ql.bias)
        return lin

    return swap_linears(model, to_linear, kind=QuantLinear)


def decoder_linear_names(model: nn.Module) -> list[str]:
    """Full module names of the ``nn.Linear`` layers inside the decoder layers (the LoRA targets)."""
    inside = {id(m) for layer in decoder_layers(model) for m in layer.modules() if isinstance(m, nn.Linear)}
    return [name for name, m in model.named_modules() if id(m) in inside]


def add_lora(model: nn.Module, rank: int, alpha: float, dropout: float = 0.0) -> nn.Module:
    """Wrap every decoder ``nn.Linear`` with a trainable 16-bit LoRA through ``peft``; returns the peft model."""
    from peft import LoraConfig, get_peft_model

    targets = decoder_linear_names(model)
    if not targets:
        raise ValueError("add_lora: no nn.Linear in the decoder layers; call dequantize_to_linear first "
                         "if the model holds QuantLinear layers")
    cfg = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none")
    return get_peft_model(model, cfg)


def merge_lora(peft_model: nn.Module) -> nn.Module:
    """16-bit merge (``W + BA·alpha/r``) back into plain ``nn.Linear`` layers; returns the base model."""
    return peft_model.merge_and_unload()


def merge_lora_requantized(peft_model: nn.Module, bits: int, group_size: int) -> nn.Module:
    """QLoRA-style deployment: 16-bit merge, then RTN re-quantization of every decoder linear."""
    model = merge_lora(peft_model)
    quantize_model(model, bits, group_size)
    return model
