"""Cross-level knowledge attribution in MoE and dense models (Li et al., ACL 2025).

Per fact the target is f = log P(object | prompt) at the prompt's last token. Units (routed experts incl. their
router gate weight, shared experts, heads, FFN neurons of dense models) carry multiplicative gates
(:mod:`arx.methods.attribution.units`); attributions per fact and unit:

* ``grad``: gradient × gate at gate = 1 (first order, one backward);
* ``ig``: integrated gradients along a joint path that scales every gate of the unit type by α (midpoint rule,
  ``steps`` points); completeness: Σ_units = f(gates 1) − f(gates 0) up to the quadrature error;
* ``ablation``: f(all) − f(unit gated to 0), one unit at a time (batched per layer).

Per-layer efficiency = mean over facts of the layer's attribution mass Σ|A| divided by the FFN parameters a token
activates in that layer (top-k experts + shared expert, or the dense FFN); the layer profile is the mass per layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from arx.methods.attribution.units import AttributionError, Layout, gated, layout

METHODS = ("grad", "ig", "ablation")


@dataclass
class FactBatch:
    """Right-padded prompts; ``pos`` is each prompt's last token, ``target`` the object token, ``relation`` its type."""

    ids: torch.Tensor
    mask: torch.Tensor
    pos: torch.Tensor
    target: torch.Tensor
    relation: torch.Tensor

    def __post_init__(self) -> None:
        n = self.ids.shape[0]
        if self.mask.shape != self.ids.shape or any(t.shape != (n,) for t in (self.pos, self.target, self.relation)):
            raise AttributionError(f"FactBatch shapes disagree: ids {tuple(self.ids.shape)}, mask "
                                   f"{tuple(self.mask.shape)}, pos/target/relation need shape ({n},)")

    def __len__(self) -> int:
        return self.ids.shape[0]

    def take(self, idx: torch.Tensor) -> FactBatch:
        return FactBatch(self.ids[idx], self.mask[idx], self.pos[idx], self.target[idx], self.relation[idx])

    def repeat(self, r: int) -> FactBatch:
        """Each fact ``r`` times in a row (row i*r + j is fact i)."""
        return FactBatch(*(t.repeat_interleave(r, dim=0) for t in (self.ids, self.mask, self.pos, self.target,
                                                                    self.relation)))

    def to(self, device) -> FactBatch:
        return FactBatch(*(t.to(device) for t in (self.ids, self.mask, self.pos, self.target, self.relation)))


def answer_logits(model: nn.Module, batch: FactBatch) -> torch.Tensor:
    """``[N, vocab]`` logits at each prompt's last token."""
    logits = model(input_ids=batch.ids, attention_mask=batch.mask).logits
    return logits[torch.arange(len(batch), device=logits.device), batch.pos]


def target_logprob(model: nn.Module, batch: FactBatch) -> torch.Tensor:
    """``[N]`` log P(object | prompt)."""
    return torch.log_softmax(answer_logits(model, batch).float(), -1).gather(1, batch.target[:, None])[:, 0]


@torch.no_grad()
def ranking_metrics(model: nn.Module, batch: FactBatch, gates=None, blocked=None, batch_size: int = 256,
                    k: int = 10) -> dict[str, float]:
    """MRR and HIT@k of the object among the whole vocabulary (optionally under gates/blocking)."""
    ranks = []
    device = next(model.parameters()).device
    with gated(model, gates, blocked):
        for s in range(0, len(batch), batch_size):
            b = batch.take(torch.arange(s, min(s + batch_size, len(batch)))).to(device)
            logits = answer_logits(model, b)
            gold = logits.gather(1, b.target[:, None])
            ranks.append(1 + (logits > gold).sum(-1))
    r = torch.cat(ranks).double().cpu()
    return {"mrr": float((1 / r).mean()), f"hit@{k}": float((r <= k).double().mean()), "n": int(len(r))}


def _chunks(n: int, size: int):
    for s in range(0, n, size):
        yield torch.arange(s, min(s + size, n))


def attribute(model: nn.Module, batch: FactBatch, unit: str, method: str = "grad", steps: int = 16,
              batch_size: int = 64) -> torch.Tensor:
    """``[N, L, n]`` attribution of each fact's log P(object) to every unit of type ``unit``."""
    if method not in METHODS:
        raise AttributionError(f"unknown attribution method {method!r}; use one of {METHODS}")
    if steps < 1:
        raise AttributionError(f"steps must be >= 1, got {steps}")
    lay = layout(model)
    n_units = lay.units(unit)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    try:
        for idx in _chunks(len(batch), batch_size):
            b = batch.take(idx).to(device)
            if method == "ablation":
                out.append(_ablation(model, b, unit, lay, n_units))
                continue
            alphas = [1.0] if method == "grad" else [(k + 0.5) / steps for k in range(steps)]
            total = torch.zeros(len(b), lay.num_layers, n_units, device=device)
            for a in alphas:
                g = torch.full((len(b), lay.num_layers, n_units), a, device=device, requires_grad=True)
                with gated(model, {unit: g}):
                    f = target_logprob(model, b).sum()
                total += torch.autograd.grad(f, g)[0]
            out.append((total / len(alphas)).detach().cpu())  # × (gate − baseline) = × 1
    finally:
        model.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def _ablation(model: nn.Module, b: FactBatch, unit: str, lay: Layout, n_units: int) -> torch.Tensor:
    device = b.ids.device
    clean = target_logprob(model, b)
    res = torch.zeros(len(b), lay.num_layers, n_units, device=device)
    rep = b.repeat(n_units)
    for l in range(lay.num_layers):
        g = torch.ones(len(b), n_units, lay.num_layers, n_units, device=device)
        g[:, torch.arange(n_units), l, torch.arange(n_units)] = 0.0
        with gated(model, {unit: g.reshape(-1, lay.num_layers, n_units)}):
            res[:, l] = clean[:, None] - target_logprob(model, rep).view(len(b), n_units)
    return res.cpu()


@torch.no_grad()
def gate_off_difference(model: nn.Module, batch: FactBatch, unit: str) -> torch.Tensor:
    """``[N]`` f(all gates 1) − f(all gates of ``unit`` 0): what IG attributions sum to per fact."""
    lay = layout(model)
    device = next(model.parameters()).device
    b = batch.to(device)
    zero = torch.zeros(lay.num_layers, lay.units(unit), device=device)
    with gated(model, {unit: zero}):
        off = target_logprob(model, b)
    return (target_logprob(model, b) - off).cpu()


def layer_mass(attr: torch.Tensor) -> torch.Tensor:
    """``[L]`` mean over facts of Σ_units |A| per layer (the layer profile)."""
    return attr.abs().sum(-1).mean(0)


def per_layer_efficiency(model: nn.Module, masses: dict[str, torch.Tensor]) -> dict[str, object]:
    """Attribution mass per activated FFN parameter, per layer, summed over the given unit types' ``[L]`` masses."""
    lay = layout(model)
    mass = sum(masses.values())
    eff = mass / lay.activated_ffn_params()
    return {"per_layer": eff.tolist(), "mean": float(eff.mean()), "mass_per_layer": mass.tolist(),
            "activated_ffn_params_per_layer": lay.activated_ffn_params(), "profile": layer_profile(mass)}


def layer_profile(mass: torch.Tensor) -> dict[str, float]:
    """Share of attribution mass in the early/middle/late third of layers ("mid-activation, late-amplification")."""
    L = len(mass)
    thirds = [range(0, L // 3), range(L // 3, L - L // 3), range(L - L // 3, L)]
    total = float(mass.sum()) or 1.0
    return {name: float(mass[list(r)].sum()) / total for name, r in zip(("early", "middle", "late"), thirds)}


def cross_level(model: nn.Module, batch: FactBatch, method: str = "grad", steps: int = 16) -> dict[str, torch.Tensor]:
    """Attributions ``{unit_type: [N, L, n]}`` for every unit type the model has (experts, shared, heads, neurons)."""
    lay = layout(model)
    kinds = ["expert", "shared", "head"] if lay.is_moe else ["neuron", "head"]
    if lay.is_moe and not lay.has_shared:
        kinds.remove("shared")
    return {k: attribute(model, batch, k, method=method, steps=steps) for k in kinds}
