"""Quantization and LoTA-QAF: RTN, quantized linear layers, ternary adaptation, t-SignSGD, merges, kernels."""

from .merge import add_lora, dequantize_to_linear, merge_lora, merge_lora_requantized, merge_ternary_model  # noqa: F401
from .qlinear import QuantLinear, decoder_layers, quantize_model, swap_linears  # noqa: F401
from .rtn import QuantizedWeight, dequantize, pack_bits, pack_ternary, quantize_rtn, unpack_bits, unpack_ternary  # noqa: F401
from .ternary import TernaryLinear, add_ternary_adapters, ternary_offset, ternary_parameters  # noqa: F401
from .tsignsgd import TSignSGD, quantile, sigma_schedule  # noqa: F401
