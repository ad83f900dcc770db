"""A linear layer whose weight lives on the integer quantization grid, and model-wide swapping.

``QuantLinear`` stores the integer codes and dequantizes on the fly (``s * ((q - z) + zp)``, fp32); ``zp`` is
the optional LoTA-QAF offset factor kept in floating point after a merge. Swapping works on any transformers
decoder model that exposes ``get_decoder().layers`` (Llama, Qwen, GPT-2 style ``transformer.h`` too).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .rtn import QuantizedWeight, dequantize, quantize_rtn


class QuantLinear(nn.Module):
    """``y = x · dequant(q)ᵀ + bias`` with frozen integer codes (buffers, not parameters)."""

    def __init__(self, qw: QuantizedWeight, bias: torch.Tensor | None = None, zp: torch.Tensor | None = None):
        super().__init__()
        self.bits, self.group_size = qw.bits, qw.group_size
        self.out_features, self.in_features = qw.q.shape
        self.register_buffer("q", qw.q)
        self.register_buffer("scales", qw.scales)
        self.register_buffer("zeros", qw.zeros)
        self.register_buffer("zp", zp)
        self.register_buffer("bias", None if bias is None else bias.detach().clone())

    @classmethod
    def from_linear(cls, linear: nn.Linear, bits: int, group_size: int) -> QuantLinear:
        return cls(quantize_rtn(linear.weight, bits, group_size), linear.bias)

    @property
    def qweight(self) -> QuantizedWeight:
        return QuantizedWeight(self.q, self.scales, self.zeros, self.bits, self.group_size)

    def weight_fp(self) -> torch.Tensor:
        return dequantize(self.q, self.scales, self.zeros, self.group_size, zp=self.zp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight_fp()
        return F.linear(x.to(w.dtype), w, None if self.bias is None else self.bias.to(w.dtype)).to(x.dtype)

    def extra_repr(self) -> str:
        return (f"in={self.in_features}, out={self.out_features}, bits={self.bits}, group_size={self.group_size}, "
                f"zp={'yes' if self.zp is not None else 'no'}")


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The stack of transformer blocks of a transformers causal LM (where quantization applies)."""
    getter = getattr(model, "get_decoder", None)
    decoder = getter() if callable(getter) else None
    for holder, attr in ((decoder, "layers"), (getattr(model, "transformer", None), "h")):
        layers = getattr(holder, attr, None) if holder is not None else None
        if isinstance(layers, nn.ModuleList):
            return layers
    raise ValueError(f"{type(model).__name__}: cannot find decoder layers (expected get_decoder().layers or "
                     "transformer.h); pass a transformers causal LM")


def swap_linears(model: nn.Module, make: Callable[[str, nn.Module], nn.Module | None],
                 kind: type[nn.Module] = nn.Linear) -> list[str]:
    """Replace every ``kind`` module inside the decoder layers by ``make(name, module)`` (None keeps it).
    Embeddings and the LM head stay untouched, as in the paper. Returns the replaced names."""
    replaced = []
    for li, layer in enumerate(decoder_layers(model)):
        for name, module in list(layer.named_modules()):
            if not isinstance(module, kind) or name == "":
                continue
            new = make(f"layers.{li}.{name}", module)
            if new is None:
                continue
            parent_name, _, child = name.rpartition(".")
            parent = layer.get_submodule(parent_name) if parent_name else layer
            setattr(parent, child, new)
            replaced.append(f"layers.{li}.{name}")
    if not replaced:
        raise ValueError(f"no {kind.__name__} found in the decoder layers of {type(model).__name__}")
    return replaced


def quantize_model(model: nn.Module, bits: int = 4, group_size: int = 64) -> list[str]:
    """In place: every ``nn.Linear`` of the decoder layers becomes a RTN ``QuantLinear``."""
    return swap_linears(model, lambda _, lin: QuantLinear.from_linear(lin, bits, group_size))
