"""Cross-level knowledge attribution in MoE and dense models (Li et al., ACL 2025).

Per fact the target is f = log P(object | prompt) at the prompt's last token. Units (routed experts incl. their
router gate weight, shared experts, heads, FFN neurons of dense models) carry multiplicative gates
(:meth:`arx.models.ModelAdapter.gated`); attributions per fact and unit:

* ``grad``: gradient × gate at gate = 1 (first order; the project's IG with one step at α = 1);
* ``ig``: the project's integrated gradients (:mod:`arx.methods.attribution.ig`) along the joint path that scales
  every gate of the unit type by α at every position (midpoint rule, ``steps`` points); completeness:
  Σ_units = f(gates 1) − f(gates 0) up to the quadrature error;
* ``ablation``: f(all) − f(unit gated to 0), one unit at a time (batched per layer).

Per-layer efficiency = mean over facts of the layer's *signed* FFN attribution Σ_units A (summed over the FFN unit
types) divided by the FFN parameters a token activates in that layer (top-k experts + shared expert, or the dense
FFN). Why signed: along the joint path every unit's gate is scaled together, so the signed sum over a layer's units
is the attribution of the layer's whole FFN output whatever the units are (whole experts or single neurons), while
Σ|A| grows with the number of units (|Σ| ≤ Σ|·|) and would favour the model with finer units by construction. The
layer profile (``layer_mass``) stays Σ|A| per layer: it compares layers of one model, not models.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from arx.methods.attribution.ig import attribute_ig
from arx.methods.attribution.prompts import AttributionError, FactBatch, target_logprob
from arx.methods.depth import THIRDS, thirds
from arx.models.adapters import get_adapter

METHODS = ("grad", "ig", "ablation")


def attribute(model: nn.Module, batch: FactBatch, unit: str, method: str = "grad", steps: int = 16,
              batch_size: int = 64) -> torch.Tensor:
    """``[N, L, n]`` attribution of each fact's log P(object) to every unit of type ``unit``."""
    if method not in METHODS:
        raise AttributionError(f"unknown attribution method {method!r}; use one of {METHODS}")
    if steps < 1:
        raise AttributionError(f"steps must be >= 1, got {steps}")
    if method == "ablation":
        return _ablation(model, batch, unit, batch_size)
    points, rule = (1, "right") if method == "grad" else (steps, "middle")
    return attribute_ig(model, batch, unit, path="joint", positions="all", max_rows=batch_size * points,
                        steps=points, rule=rule)


@torch.no_grad()
def _ablation(model: nn.Module, batch: FactBatch, unit: str, batch_size: int) -> torch.Tensor:
    adapter = get_adapter(model)
    n, L = adapter.units(unit), adapter.num_layers
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    try:
        for s in range(0, len(batch), batch_size):
            b = batch.take(torch.arange(s, min(s + batch_size, len(batch)))).to(device)
            clean = target_logprob(model, b)
            res = torch.zeros(len(b), L, n, device=device)
            rep = b.repeat(n)
            for l in range(L):
                g = torch.ones(len(b), n, n, device=device)
                g[:, torch.arange(n), torch.arange(n)] = 0.0  # row (fact, i) switches unit i of layer l off
                with adapter.gated({unit: {l: g.reshape(-1, n)}}):
                    res[:, l] = clean[:, None] - target_logprob(model, rep).view(len(b), n)
            out.append(res.cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def gate_off_difference(model: nn.Module, batch: FactBatch, unit: str) -> torch.Tensor:
    """``[N]`` f(all gates 1) − f(all gates of ``unit`` 0): what joint-path IG attributions sum to per fact."""
    adapter = get_adapter(model)
    device = next(model.parameters()).device
    b = batch.to(device)
    with adapter.gated({unit: torch.zeros(adapter.num_layers, adapter.units(unit), device=device)}):
        off = target_logprob(model, b)
    return (target_logprob(model, b) - off).cpu()


def layer_mass(attr: torch.Tensor) -> torch.Tensor:
    """``[L]`` mean over facts of Σ_units |A| per layer (the layer profile)."""
    return attr.abs().sum(-1).mean(0)


def per_layer_efficiency(model: nn.Module, ffn_attr: list[torch.Tensor]) -> dict[str, Any]:
    """Signed FFN attribution per activated FFN parameter, per layer, from ``[N, L, n]`` attributions of the
    model's FFN unit types (experts and shared expert, or dense neurons): granularity-invariant (module doc)."""
    activated = get_adapter(model).activated_ffn_params()
    signed = torch.stack([a.sum(-1) for a in ffn_attr]).sum(0)  # [N, L]: each layer's FFN contribution per fact
    mass = signed.mean(0)
    eff = mass / activated
    unsigned = torch.stack([layer_mass(a) for a in ffn_attr]).sum(0)
    return {"per_layer": eff.tolist(), "mean": float(eff.mean()), "mass_per_layer": mass.tolist(),
            "per_fact": (signed.mean(1) / activated).tolist(),
            "activated_ffn_params_per_layer": activated, "profile": layer_profile(unsigned)}


def layer_profile(mass: torch.Tensor) -> dict[str, float]:
    """Share of attribution mass in the early/middle/late third of relative depth ("mid-activation,
    late-amplification"): layer l of L belongs to third ⌊3(l + ½)/L⌋, so a 2-layer model has an early and a late
    layer (and 3, 4, 6-layer models split as 1/1/1, 1/2/1, 2/2/2)."""
    third = thirds(len(mass))
    total = float(mass.sum()) or 1.0
    return {name: float(mass[third == i].sum()) / total for i, name in enumerate(THIRDS)}


def cross_level(model: nn.Module, batch: FactBatch, method: str = "grad", steps: int = 16) -> dict[str, torch.Tensor]:
    """Attributions ``{unit_type: [N, L, n]}`` for every unit type the model has (experts, shared, heads, neurons)."""
    adapter = get_adapter(model)
    kinds = ["expert", "shared", "head"] if adapter.is_moe else ["neuron", "head"]
    if adapter.is_moe and not adapter.has_shared_expert:
        kinds.remove("shared")
    return {k: attribute(model, batch, k, method=method, steps=steps) for k in kinds}
