"""Relative depth: which third of a model's layers (early, middle, late) each layer belongs to.

Why one place: the MoE layer profile ("mid-activation, late-amplification") and the routing convergence statistic
both compare thirds of depth, and must split the layers the same way.
"""

from __future__ import annotations

import torch

THIRDS = ("early", "middle", "late")


def thirds(n_layers: int) -> torch.Tensor:
    """Third of relative depth (0 early, 1 middle, 2 late) of each layer: ⌊3(l + ½)/L⌋, so 2 layers split 1/0/1,
    4 layers 1/2/1 and 6 layers 2/2/2."""
    return torch.div(3 * (2 * torch.arange(n_layers) + 1), 2 * n_layers, rounding_mode="floor")
