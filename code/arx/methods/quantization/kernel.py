"""Fused int4 (+ ternary) GEMV: packing, the pure-torch reference (ground truth) and the CuPy wrapper.

``arx/kernels/lota_gemv.cu`` computes ``y = x · (s ⊙ (q + t - zf))ᵀ`` straight from packed int4 codes ``q`` and 2-bit
ternary codes ``t`` (unmerged LoTA-QAF), or from the merged codes ``q' = q + t`` alone; ``zf = z - zp`` folds the
offset factor into a float zero point so neither variant pays an extra GEMV for it. Layout: ``arx/kernels/README.md``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from .qlinear import QuantLinear
from .rtn import dequantize, pack_bits, pack_ternary, unpack_bits, unpack_ternary
from .ternary import TernaryLinear

# Package data (pyproject: "*.cu"), so an installed wheel finds it as well as an editable checkout.
KERNEL_SOURCE = Path(str(resources.files("arx.kernels") / "lota_gemv.cu"))
BATCH_BUCKETS = (1, 2, 4, 8, 16)
WARPS_PER_BLOCK = 8


@dataclass
class PackedWeight:
    """Kernel inputs for one layer: ``q`` uint8 [N, K/2], ``t`` uint8 [N, K/4] or None (merged), fp16 ``scales``
    and ``zf`` [N, K/G]."""

    q: torch.Tensor
    t: torch.Tensor | None
    scales: torch.Tensor
    zf: torch.Tensor
    group_size: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.q.shape[0], self.q.shape[1] * 2

    def to(self, device: torch.device | str) -> PackedWeight:
        t = None if self.t is None else self.t.to(device)
        return PackedWeight(self.q.to(device), t, self.scales.to(device), self.zf.to(device), self.group_size)


def _check_layout(n_in: int, group_size: int, bits: int) -> None:
    if bits != 4:
        raise ValueError(f"the fused kernel reads int4 codes; got a {bits}-bit layer (use the torch path)")
    if n_in % 16 or group_size % 16 or n_in % group_size:
        raise ValueError(f"kernel layout needs d_in % 16 == 0 and group_size % 16 == 0 dividing d_in; got "
                         f"d_in={n_in}, group_size={group_size}")


def pack_layer(layer: QuantLinear | TernaryLinear) -> PackedWeight:
    """Pack a quantized layer (merged if it carries ``zp``) or an unmerged ternary-adapted layer."""
    if isinstance(layer, TernaryLinear):
        base = layer.base
        with torch.no_grad():
            delta, zp = layer.offsets()
        t = pack_ternary(delta)
    elif isinstance(layer, QuantLinear):
        base, t, zp = layer, None, layer.zp
    else:
        raise TypeError(f"pack_layer takes a QuantLinear or TernaryLinear, got {type(layer).__name__}")
    _check_layout(base.in_features, base.group_size, base.bits)
    zf = base.zeros if zp is None else base.zeros - zp
    return PackedWeight(pack_bits(base.q, 4), t, base.scales.half(), zf.half(), base.group_size)


def reference_weight(w: PackedWeight) -> torch.Tensor:
    """fp32 ``s ⊙ (q + t - zf)`` from the packed inputs (what the kernel must reproduce)."""
    q = unpack_bits(w.q, 4).float()
    if w.t is not None:
        q = q + unpack_ternary(w.t).float()
    return dequantize(q, w.scales.float(), w.zf.float(), w.group_size)


def lota_gemv_reference(x: torch.Tensor, w: PackedWeight) -> torch.Tensor:
    """Ground truth: dequantize, then an fp32 matmul. ``x`` [B, K] -> ``y`` [B, N] fp32."""
    return x.float() @ reference_weight(w).T


def _check_inputs(x: torch.Tensor, w: PackedWeight) -> None:
    n, k = w.shape
    if x.dim() != 2 or x.shape[1] != k:
        raise ValueError(f"x must be [B, {k}], got {tuple(x.shape)}")
    if not 1 <= x.shape[0] <= BATCH_BUCKETS[-1]:
        raise ValueError(f"the GEMV kernel handles batch 1..{BATCH_BUCKETS[-1]}, got {x.shape[0]}; "
                         "use lota_gemv_reference (a GEMM) for larger batches")
    _check_layout(k, w.group_size, 4)


@functools.cache
def _module():
    import cupy

    return cupy.RawModule(code=KERNEL_SOURCE.read_text(), options=("-std=c++17",))


def kernel_available() -> bool:
    """True when a CUDA device, CuPy and the kernel source are all present."""
    if not torch.cuda.is_available() or not KERNEL_SOURCE.exists():
        return False
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False
    return True


def lota_gemv(x: torch.Tensor, w: PackedWeight) -> torch.Tensor:
    """Fused kernel on CUDA tensors (fp16 ``x`` [B, K], B ≤ 16) -> fp32 ``y`` [B, N] on torch's current stream."""
    import cupy

    _check_inputs(x, w)
    if not x.is_cuda:
        raise ValueError("lota_gemv runs on CUDA tensors; on CPU use lota_gemv_reference")
    n, k = w.shape
    b = x.shape[0]
    bucket = next(v for v in BATCH_BUCKETS if v >= b)
    name = f"lota_gemv_{'merged' if w.t is None else 'ternary'}_b{bucket}"
    fn = _module().get_function(name)
    x = x.half().contiguous()
    y = torch.empty(b, n, device=x.device, dtype=torch.float32)
    t = w.q if w.t is None else w.t  # any valid pointer when unused
    args = [cupy.from_dlpack(a.contiguous()) for a in (x, w.q, t, w.scales, w.zf, y)]
    grid = ((n + WARPS_PER_BLOCK - 1) // WARPS_PER_BLOCK,)
    with cupy.cuda.ExternalStream(torch.cuda.current_stream(x.device).cuda_stream):
        fn(grid, (32 * WARPS_PER_BLOCK,), (*args, cupy.int32(b), cupy.int32(n), cupy.int32(k),
                                             cupy.int32(w.group_size)))
    return y
