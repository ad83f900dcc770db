"""Gated-LPI (Wang et al.): the log-probability increase between two checkpoints, decomposed across FFN neurons.

For facts with targets f(θ) = Σ_facts log P(object | prompt; θ) and checkpoints θ_a → θ_b, the straight parameter
path θ(β) = θ_a + β·Δ gives the exact identity f(θ_b) − f(θ_a) = Σ_params Δ_p ∫ ∂f/∂θ_p(θ(β)) dβ (midpoint rule with
``steps`` points here). A neuron owns its input rows (gate and up projection) and its output column (down
projection); its LPI is the sum over those parameters. Expert neurons (fused ``experts.gate_up_proj`` /
``down_proj``) are reached through the router's gate weight in the forward pass, so their LPI is gate-weighted by
construction; router, attention, norms and embeddings form the ``rest`` term, so neurons + rest = total up to the
quadrature error (reported). Concentration: share of the positive LPI mass held by the top fraction of neurons.
Stability: Spearman ρ of neuron LPI between consecutive checkpoint pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy.stats import spearmanr
from torch import nn

from arx.methods.attribution.prompts import AttributionError, FactBatch, target_logprob
from arx.models.adapters import get_adapter


@dataclass
class LPIResult:
    """Decomposition of one checkpoint step: ``neurons[U]`` (layer order), ``layer_of[U]``, rest and total."""

    total: float
    neurons: torch.Tensor
    layer_of: torch.Tensor
    rest: float
    quadrature_error: float

    def summary(self) -> dict[str, float]:
        return {"total": self.total, "neurons_sum": float(self.neurons.sum()), "rest": self.rest,
                "quadrature_error": self.quadrature_error, "top1pct_positive_share": concentration(self.neurons)}


def _neuron_params(model: nn.Module) -> list[tuple[int, str, list[tuple[str, str]]]]:
    """Per layer the parameter names owning FFN neurons: (layer, kind, [(param name, role)])."""
    groups = []
    for l, layer in enumerate(get_adapter(model).layers):
        prefix = {m: n for n, m in model.named_modules()}[layer.mlp]
        mlp = layer.mlp
        experts = getattr(mlp, "experts", None)
        if experts is not None and hasattr(experts, "gate_up_proj"):
            groups.append((l, "experts", [(f"{prefix}.experts.gate_up_proj", "gate_up"),
                                          (f"{prefix}.experts.down_proj", "down_fused")]))
        mlps = [(f"{prefix}.shared_expert", mlp.shared_expert)] if hasattr(mlp, "shared_expert") else []
        if hasattr(mlp, "down_proj"):
            mlps.append((prefix, mlp))
        for name, _ in mlps:
            groups.append((l, "mlp", [(f"{name}.gate_proj.weight", "in"), (f"{name}.up_proj.weight", "in"),
                                      (f"{name}.down_proj.weight", "out")]))
    return groups


def _per_neuron(contrib: dict[str, torch.Tensor], roles: list[tuple[str, str]]) -> torch.Tensor:
    parts = []
    for name, role in roles:
        c = contrib[name]
        if role == "gate_up":          # [E, 2I, D]: neuron (e, j) owns rows j and I + j
            s = c.sum(-1)
            parts.append(s[:, : s.shape[1] // 2] + s[:, s.shape[1] // 2:])
        elif role == "down_fused":     # [E, D, I]
            parts.append(c.sum(1))
        elif role == "in":             # [I, D]
            parts.append(c.sum(-1))
        else:                          # "out": [D, I]
            parts.append(c.sum(0))
    return sum(parts).flatten()


def gated_lpi(model: nn.Module, state_a: dict[str, torch.Tensor], state_b: dict[str, torch.Tensor],
              batch: FactBatch, steps: int = 8) -> LPIResult:
    """Decompose f(θ_b) − f(θ_a) across FFN neurons; ``model`` is a template whose weights are overwritten."""
    if steps < 1:
        raise AttributionError(f"steps must be >= 1, got {steps}")
    names = dict(model.named_parameters())
    missing = [n for n in names if n not in state_a or n not in state_b]
    if missing:
        raise AttributionError(f"checkpoints lack parameters of the model: {missing[:3]}... (same architecture?)")
    get_adapter(model)  # an unsupported model is an error before any work
    device = next(model.parameters()).device
    b = batch.to(device)
    # memory: the model + θ_a + Δ in the model's dtype; per-neuron sums are reduced layer by layer every step
    a = {n: state_a[n].to(device, p.dtype) for n, p in names.items()}
    delta = {n: state_b[n].to(device, p.dtype) - a[n] for n, p in names.items()}
    groups = _neuron_params(model)
    owned = {n for _l, _k, roles in groups for n, _ in roles}
    per_group = [torch.zeros(0)] * len(groups)
    rest = 0.0
    was_training = model.training
    model.eval()

    def load(beta: float) -> None:
        with torch.no_grad():
            for n, p in names.items():
                p.copy_(a[n] + beta * delta[n])

    def part(n: str) -> torch.Tensor:
        g = names[n].grad
        return delta[n].float() * (g.float() if g is not None else 0.0) / steps

    try:
        for k in range(steps):
            load((k + 0.5) / steps)
            model.zero_grad(set_to_none=True)
            target_logprob(model, b).sum().backward()
            with torch.no_grad():
                for i, (_l, _kind, roles) in enumerate(groups):
                    v = _per_neuron({n: part(n) for n, _ in roles}, roles).cpu()
                    per_group[i] = v if k == 0 else per_group[i] + v
                rest += float(sum(part(n).sum() for n in names if n not in owned))
        with torch.no_grad():
            load(0.0)
            f_a = float(target_logprob(model, b).sum())
            load(1.0)
            f_b = float(target_logprob(model, b).sum())
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    neurons = torch.cat(per_group)
    layer_of = torch.cat([torch.full((len(v),), l) for (l, _k, _r), v in zip(groups, per_group)])
    total = f_b - f_a
    return LPIResult(total, neurons, layer_of, rest, abs(float(neurons.sum()) + rest - total))


def concentration(neurons: torch.Tensor, fraction: float = 0.01) -> float:
    """Share of the positive LPI mass held by the top ``fraction`` of neurons (by LPI)."""
    if not 0 < fraction <= 1:
        raise AttributionError(f"fraction must be in (0, 1], got {fraction}")
    pos = neurons.clamp_min(0)
    total = float(pos.sum())
    if total == 0:
        return 0.0
    k = max(1, math.ceil(fraction * len(neurons)))
    return float(torch.topk(pos, k).values.sum()) / total


def concentration_curve(neurons: torch.Tensor, fractions=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
                        ) -> dict[str, float]:
    return {str(f): concentration(neurons, f) for f in fractions}


def stability(results: list[LPIResult]) -> list[float]:
    """Spearman ρ of neuron LPI between consecutive checkpoint steps."""
    return [float(spearmanr(x.neurons.numpy(), y.neurons.numpy()).statistic) for x, y in zip(results, results[1:])]
