"""Ternary adaptation (TA) of LoTA-QAF (Chen et al. 2025; upstream ``LoTA/layer.py``), nn.Linear layout.

Ternary factors ``A ∈ {-1,0,1}^{r×d_in}``, ``B ∈ {-1,0,1}^{d_out×r}`` give the integer matrix ``M = B·A``
(the transpose of the paper's ``AᵀBᵀ`` because weights here are ``[d_out, d_in]``), ``|M| ≤ r``. A threshold
``ω`` turns it into an offset on the quantization grid:

    ΔW = +1 where M > ω and q < 2^b-1;  -1 where M < -ω and q > 0;  0 elsewhere   (so q + ΔW stays in range)
    zp[g] = mean_{i∈g}(M - ω·ΔW) / ω                                                (offset factor, per group)
    W' = s[g] · ((q - z[g] + ΔW) + zp[g])

The threshold is a straight-through estimator (gradient to M unmasked); ΔW is detached inside the residual.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .qlinear import QuantLinear, swap_linears
from .rtn import QuantizedWeight, expand_groups


class _ThresholdSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, m: torch.Tensor, omega: float, can_up: torch.Tensor, can_down: torch.Tensor) -> torch.Tensor:
        up = (m > omega) & can_up
        down = (m < -omega) & can_down
        return up.to(m.dtype) - down.to(m.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None, None, None


def ternary_offset(m: torch.Tensor, q: torch.Tensor, bits: int, omega: float) -> torch.Tensor:
    """ΔW ∈ {-1,0,1} from M with saturation masks; differentiable w.r.t. ``m`` through the STE."""
    maxq = 2**bits - 1
    return _ThresholdSTE.apply(m, float(omega), q != maxq, q != 0)


def offset_factor(m: torch.Tensor, delta: torch.Tensor, omega: float, group_size: int) -> torch.Tensor:
    """zp [d_out, n_groups] = group mean of the residual ``M - ω·ΔW`` divided by ω (ΔW detached)."""
    r = m - omega * delta.detach()
    d_out, d_in = r.shape
    return r.reshape(d_out, d_in // group_size, group_size).mean(dim=2) / omega


def ternarize_init(shape: tuple[int, int], generator: torch.Generator | None = None) -> torch.Tensor:
    """Upstream init of A: kaiming-normal, then ±1 where |a| > 0.75·mean|a|, else 0."""
    a = torch.empty(shape)
    fan_in = shape[1]
    a.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=generator)
    delta = 0.75 * a.abs().mean()
    return torch.where(a > delta, 1.0, torch.where(a < -delta, -1.0, 0.0))


class TernaryLinear(nn.Module):
    """A quantized linear layer adapted by LoTA-QAF ternary factors; the forward returns the whole output."""

    def __init__(self, base: QuantLinear, rank: int, omega: float, generator: torch.Generator | None = None):
        super().__init__()
        if rank <= 0:
            raise ValueError(f"rank must be a positive integer, got {rank}")
        if not 0 < omega < rank:
            raise ValueError(f"omega={omega} must lie in (0, rank={rank}); otherwise ΔW can never be non-zero "
                             "(upstream: omega=48 for rank 64)")
        if base.zp is not None:
            raise ValueError("TernaryLinear needs a plain quantized layer (zp is None); this one is already merged")
        self.base = base
        self.rank, self.omega = rank, float(omega)
        dev = base.q.device
        self.A = nn.Parameter(ternarize_init((rank, base.in_features), generator).to(dev))
        self.B = nn.Parameter(torch.zeros(base.out_features, rank, device=dev))

    def m_matrix(self) -> torch.Tensor:
        return self.B @ self.A

    def offsets(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(ΔW, zp) as the forward uses them."""
        m = self.m_matrix()
        delta = ternary_offset(m, self.base.q, self.base.bits, self.omega)
        return delta, offset_factor(m, delta, self.omega, self.base.group_size)

    def weight_fp(self) -> torch.Tensor:
        b, gs = self.base, self.base.group_size
        delta, zp = self.offsets()
        centred = (b.q.float() - expand_groups(b.zeros, gs)) + delta
        return expand_groups(b.scales, gs) * (centred + expand_groups(zp, gs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight_fp()
        bias = self.base.bias
        return F.linear(x.to(w.dtype), w, None if bias is None else bias.to(w.dtype)).to(x.dtype)

    @torch.no_grad()
    def merged(self) -> QuantLinear:
        """Lossless merge: ``q' = q + ΔW`` (stays an integer in range by the masks), ``zp`` kept beside it."""
        delta, zp = self.offsets()
        q = (self.base.q.to(torch.int16) + delta.to(torch.int16)).to(torch.uint8)
        b = self.base
        return QuantLinear(QuantizedWeight(q, b.scales, b.zeros, b.bits, b.group_size), b.bias, zp=zp)


def add_ternary_adapters(model: nn.Module, rank: int, omega: float, seed: int = 0) -> list[str]:
    """Wrap every ``QuantLinear`` of the decoder layers in a ``TernaryLinear``; freezes everything else."""
    gen = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.requires_grad_(False)
    names = swap_linears(model, lambda _, ql: TernaryLinear(ql, rank, omega, gen), kind=QuantLinear)
    return names


def ternary_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for m in model.modules() if isinstance(m, TernaryLinear) for p in (m.A, m.B)]
