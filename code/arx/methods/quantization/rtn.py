"""Group-wise asymmetric round-to-nearest (RTN) quantization and bit packing.

Layout follows ``nn.Linear``: a weight is ``[d_out, d_in]``; each output row is split along the input dim into
contiguous groups of ``group_size`` columns, each with its own scale ``s`` and integer zero point ``z``:
``W ≈ s[g] * (q - z[g])`` with ``q, z ∈ {0 .. 2^b - 1}``. The grid always contains 0 (GPTQ convention), so the
zero point is an exact grid integer and the round-trip error is at most ``s/2`` per element.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SUPPORTED_BITS = (2, 3, 4, 8)
PACKABLE_BITS = (2, 4, 8)


def check_bits(bits: int) -> int:
    if bits not in SUPPORTED_BITS:
        raise ValueError(f"unsupported bit width bits={bits!r}; use one of {SUPPORTED_BITS}")
    return bits


def check_group_size(d_in: int, group_size: int) -> int:
    if group_size <= 0 or d_in % group_size != 0:
        raise ValueError(
            f"group_size={group_size} does not divide the input dimension d_in={d_in}; "
            f"pick a divisor of {d_in} (e.g. {_largest_divisor_le(d_in, 64)})"
        )
    return d_in // group_size


def _largest_divisor_le(n: int, cap: int) -> int:
    return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)


@dataclass
class QuantizedWeight:
    """Integer codes ``q`` [d_out, d_in] (uint8), ``scales``/``zeros`` [d_out, n_groups] (float; zeros hold integers)."""

    q: torch.Tensor
    scales: torch.Tensor
    zeros: torch.Tensor
    bits: int
    group_size: int

    @property
    def maxq(self) -> int:
        return 2**self.bits - 1

    def dequantize(self, zp: torch.Tensor | None = None) -> torch.Tensor:
        return dequantize(self.q, self.scales, self.zeros, self.group_size, zp=zp)


def expand_groups(t: torch.Tensor, group_size: int) -> torch.Tensor:
    """[d_out, n_groups] -> [d_out, d_in]: each group value repeated over its columns."""
    return t.repeat_interleave(group_size, dim=1)


def quantize_rtn(w: torch.Tensor, bits: int = 4, group_size: int = 64) -> QuantizedWeight:
    """Asymmetric RTN of a ``[d_out, d_in]`` weight; computed in fp32 whatever the input dtype."""
    check_bits(bits)
    if w.dim() != 2:
        raise ValueError(f"quantize_rtn expects a 2-D [d_out, d_in] weight, got shape {tuple(w.shape)}")
    d_out, d_in = w.shape
    n_groups = check_group_size(d_in, group_size)
    maxq = 2**bits - 1
    wg = w.detach().float().reshape(d_out, n_groups, group_size)
    lo = wg.amin(dim=2).clamp(max=0.0)
    hi = wg.amax(dim=2).clamp(min=0.0)
    flat = (hi - lo) == 0
    lo = torch.where(flat, torch.full_like(lo, -1.0), lo)
    hi = torch.where(flat, torch.full_like(hi, 1.0), hi)
    scales = (hi - lo) / maxq
    zeros = torch.round(-lo / scales).clamp(0, maxq)
    q = torch.clamp(torch.round(wg / scales[..., None]) + zeros[..., None], 0, maxq)
    return QuantizedWeight(q.reshape(d_out, d_in).to(torch.uint8), scales, zeros, bits, group_size)


def dequantize(q: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor, group_size: int,
               zp: torch.Tensor | None = None) -> torch.Tensor:
    """``s * ((q - z) + zp)`` in fp32. This op order is the one every lossless comparison relies on."""
    centred = q.float() - expand_groups(zeros, group_size)
    if zp is not None:
        centred = centred + expand_groups(zp, group_size)
    return expand_groups(scales, group_size) * centred


def pack_bits(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Pack unsigned codes < 2^bits along the last dim into uint8, lowest bits first (element k of a byte at
    bit ``k*bits``). 4-bit: 2 per byte, 2-bit: 4 per byte, 8-bit: identity."""
    if bits not in PACKABLE_BITS:
        raise ValueError(f"pack_bits supports bits in {PACKABLE_BITS}, got {bits} (3-bit codes stay unpacked uint8)")
    per = 8 // bits
    if codes.shape[-1] % per != 0:
        raise ValueError(f"last dim {codes.shape[-1]} is not a multiple of {per} ({bits}-bit codes per byte)")
    c = codes.to(torch.int32)
    if bool(((c < 0) | (c >= 2**bits)).any()):
        raise ValueError(f"codes out of range for {bits}-bit packing: min {int(c.min())}, max {int(c.max())}")
    c = c.reshape(*codes.shape[:-1], -1, per)
    shifts = torch.arange(per, dtype=torch.int32, device=codes.device) * bits
    return (c << shifts).sum(dim=-1).to(torch.uint8)


def unpack_bits(packed: torch.Tensor, bits: int) -> torch.Tensor:
    """Inverse of :func:`pack_bits`; returns uint8 codes."""
    if bits not in PACKABLE_BITS:
        raise ValueError(f"unpack_bits supports bits in {PACKABLE_BITS}, got {bits}")
    per = 8 // bits
    shifts = torch.arange(per, dtype=torch.int32, device=packed.device) * bits
    c = (packed.to(torch.int32)[..., None] >> shifts) & (2**bits - 1)
    return c.reshape(*packed.shape[:-1], packed.shape[-1] * per).to(torch.uint8)


def pack_ternary(delta: torch.Tensor) -> torch.Tensor:
    """Ternary offsets {-1, 0, +1} -> 2-bit codes {0, 1, 2} (code = delta + 1), 4 per byte."""
    d = delta.to(torch.int32)
    if bool(((d < -1) | (d > 1)).any()):
        raise ValueError("pack_ternary: values must be in {-1, 0, 1}")
    return pack_bits(d + 1, 2)


def unpack_ternary(packed: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`pack_ternary`; returns int8 in {-1, 0, 1}."""
    return unpack_bits(packed, 2).to(torch.int8) - 1
