"""t-SignSGD (LoTA-QAF upstream ``t_signSGD.py``): ternary signed gradient descent for the TA factors.

Each step, per tensor, only entries whose |gradient| exceeds the σ_t-quantile of that tensor's |gradient| move
by one ternary level against the gradient sign, then are clamped to {-1, 0, 1}. σ_t rises linearly from σ0 to
σ1 over the first ``phase_split·T`` steps and from σ1 to σ2 after, so the fraction of moving entries shrinks
from 5 % to 0.01 %. In phase 2, when the global gradient norm exceeds ``clip_norm``, entries above the
``outlier_quantile`` are held still (the upstream outlier guard).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

GRAD_FLOOR = 1e-9  # the paper's τ: gradients this small never move a weight


def quantile(x: torch.Tensor, q: float) -> torch.Tensor:
    """``torch.quantile(x, q)`` (linear interpolation) through ``kthvalue``, which has no 16 M-element limit."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile q must be in [0, 1], got {q}")
    flat = x.reshape(-1)
    n = flat.numel()
    if n == 0:
        raise ValueError("quantile of an empty tensor")
    pos = q * (n - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    v_lo = flat.kthvalue(lo + 1).values
    if hi == lo:
        return v_lo
    v_hi = flat.kthvalue(hi + 1).values
    return v_lo + (v_hi - v_lo) * (pos - lo)


def sigma_schedule(step: int, total_steps: int, sigma0: float = 0.95, sigma1: float = 0.999,
                   sigma2: float = 0.9999, phase_split: float = 0.8) -> float:
    """σ_t for 0 ≤ step ≤ T (clamped beyond T)."""
    t = min(max(step, 0), total_steps)
    p = phase_split * total_steps
    if t <= p:
        return sigma0 + (t / p) * (sigma1 - sigma0) if p > 0 else sigma1
    return sigma1 + ((t - p) / (total_steps - p)) * (sigma2 - sigma1)


class TSignSGD(torch.optim.Optimizer):
    """Optimizer over ternary tensors; ``lr`` does not exist (every move is one grid level)."""

    def __init__(self, params: Iterable[torch.nn.Parameter], total_steps: int, sigma0: float = 0.95,
                 sigma1: float = 0.999, sigma2: float = 0.9999, phase_split: float = 0.8,
                 clip_norm: float = 10.0, outlier_quantile: float = 0.99995):
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}")
        if not 0.0 <= sigma0 <= sigma1 <= sigma2 <= 1.0:
            raise ValueError(f"need 0 <= sigma0 <= sigma1 <= sigma2 <= 1, got {sigma0}, {sigma1}, {sigma2}")
        super().__init__(params, dict(sigma0=sigma0, sigma1=sigma1, sigma2=sigma2))
        self.total_steps, self.phase_split = total_steps, phase_split
        self.clip_norm, self.outlier_quantile = clip_norm, outlier_quantile
        self.t = 0
        for group in self.param_groups:
            for p in group["params"]:
                bad = ~((p == -1) | (p == 0) | (p == 1))
                if bool(bad.any()):
                    raise ValueError("TSignSGD parameters must hold ternary values {-1, 0, 1}")

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - torch API
        loss = None if closure is None else closure()
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        phase2 = self.t > self.phase_split * self.total_steps
        guard = phase2 and bool(grads) and float(torch.sqrt(sum((gr.float() ** 2).sum() for gr in grads))) > self.clip_norm
        for group in self.param_groups:
            sigma = sigma_schedule(self.t, self.total_steps, group["sigma0"], group["sigma1"], group["sigma2"],
                                   self.phase_split)
            for p in group["params"]:
                if p.grad is None:
                    continue
                mag = p.grad.abs()
                move = (mag > quantile(mag.float(), sigma).to(mag.dtype)) & (mag > GRAD_FLOOR)
                if guard:
                    move &= mag < quantile(mag.float(), self.outlier_quantile).to(mag.dtype)
                p.sub_(torch.sign(p.grad) * move).clamp_(-1, 1).round_()
        self.t += 1
        return loss
