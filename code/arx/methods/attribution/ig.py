"""Integrated gradients of next-token targets w.r.t. multiplicative gates on units (neurons, heads, experts).

Why one implementation: DEPN (privacy neurons), the knowledge-neuron line of work and the MoE cross-level
attribution (issue 8) all attribute F = log P(y* | prompt) (``objective="logprob"``) or P(y* | prompt)
(``"prob"``, what KN/DEPN use) to gates g on units (:meth:`arx.models.ModelAdapter.gated`: a neuron's activation,
a head's output, a routed expert's output × router weight, a shared expert's output), baseline g = 0, input g = 1:

    score_i = Σ_k w_k ∂F/∂g_i |_{path(α_k)}      (= a_i · Σ_k w_k ∂F/∂a_i (α_k a) for a neuron, the KN quantity)

* ``path="layer"`` (KN/DEPN, METHOD-NOTES 1.1): the units of one layer are scaled by α, every other layer runs
  normally; each layer has its own path;
* ``path="joint"``: every requested layer is scaled by the same α at once, so completeness holds for the whole
  unit type: Σ_layers,units = F(g = 1) − F(g = 0) up to the quadrature error (the MoE cross-level reading);
* ``positions="target"`` gates the prompt's last token only (KN/DEPN); ``"all"`` gates every position.

Riemann rules: ``left`` α_k = k/m (DEPN upstream, captum ``riemann_left``), ``linspace`` α = linspace(0, 1, m) (KN
upstream), ``middle`` (k+½)/m, ``right`` (k+1)/m; every weight is 1/m. ``steps=1, rule="right"`` is gradient × gate.

Exact speed-ups (METHOD-NOTES 1.3), same numbers as a per-layer, per-step loop up to rounding:
* all facts × layers × steps in one batch of rows and one backward (row (f, l, k) scales only layer l of fact f);
* one prompt, gate at its last position: the clean prefix KV cache is computed once and every row is a one-token
  decode (the scaled activation at t cannot reach earlier positions).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from arx.methods.attribution.prompts import AttributionError, FactBatch
from arx.models.adapters import get_adapter

RULES = ("left", "linspace", "middle", "right")
OBJECTIVES = ("logprob", "prob")
PATHS = ("layer", "joint")
POSITIONS = ("target", "all")


def alphas(steps: int, rule: str) -> torch.Tensor:
    if steps < 1:
        raise AttributionError(f"steps must be >= 1, got {steps}")
    k = torch.arange(steps, dtype=torch.float64)
    grid = {"left": k / steps, "middle": (k + 0.5) / steps, "right": (k + 1) / steps,
            "linspace": torch.linspace(0, 1, steps, dtype=torch.float64)}
    if rule not in grid:
        raise AttributionError(f"unknown Riemann rule {rule!r}; use one of {RULES}")
    return grid[rule]


def check_layers(layers: Sequence[int] | None, num_layers: int) -> list[int]:
    if layers is None:
        return list(range(num_layers))
    bad = [l for l in layers if not 0 <= int(l) < num_layers]
    if bad or not layers:
        raise AttributionError(f"unknown layer(s) {bad or '[] (empty)'}: the model has layers 0..{num_layers - 1}")
    return [int(l) for l in layers]


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise AttributionError(f"unknown {name} {value!r}; use one of {allowed}")


def attribute_ig(model: nn.Module, batch: FactBatch, unit: str = "neuron", *, layers: Sequence[int] | None = None,
                 steps: int = 20, rule: str = "left", objective: Literal["logprob", "prob"] = "logprob",
                 path: Literal["layer", "joint"] = "layer", positions: Literal["target", "all"] = "target",
                 use_cache: bool = True, max_rows: int = 1024) -> torch.Tensor:
    """``[N, len(layers), n_units]`` IG scores of each prompt's target (see the module docstring).

    ``max_rows`` caps the rows of one forward/backward pass (facts, then layers are chunked, never steps);
    ``use_cache=False`` runs every row over the full prompt (same numbers, slower)."""
    _choice("objective", objective, OBJECTIVES)
    _choice("path", path, PATHS)
    _choice("positions", positions, POSITIONS)
    adapter = get_adapter(model)
    n = adapter.units(unit)
    layers = check_layers(layers, adapter.num_layers)
    if len(batch) == 0:
        raise AttributionError("no prompts to attribute (empty batch)")
    vocab = model.get_output_embeddings().weight.shape[0]
    bad = [int(t) for t in batch.target if not 0 <= int(t) < vocab]
    if bad:
        raise AttributionError(f"target token(s) {bad[:5]} outside the vocabulary 0..{vocab - 1}")
    device = next(model.parameters()).device
    a = alphas(steps, rule).to(device, torch.float32)
    m = len(a)
    was_training = model.training
    model.eval()
    try:
        if use_cache and len(batch) == 1 and positions == "target" and _last_is_target(batch):
            return _single_cached(model, adapter, batch.to(device), unit, n, layers, a, objective, path, max_rows)
        per_fact = m * (len(layers) if path == "layer" else 1)
        facts_per_pass = max(1, max_rows // per_fact)
        layers_per_pass = len(layers) if path == "joint" or per_fact <= max_rows else max(1, max_rows // m)
        out = []
        for s in range(0, len(batch), facts_per_pass):
            b = batch.take(torch.arange(s, min(s + facts_per_pass, len(batch)))).to(device)
            parts = [_ig_pass(model, adapter, b, unit, n, layers[c:c + layers_per_pass], a, objective, path,
                              positions, cache=None)
                     for c in range(0, len(layers), layers_per_pass)]
            out.append(torch.cat(parts, dim=1).cpu())
        return torch.cat(out)
    finally:
        model.train(was_training)


def _last_is_target(batch: FactBatch) -> bool:
    return batch.ids.shape[1] > 1 and int(batch.pos[0]) == batch.ids.shape[1] - 1 and bool(batch.mask.all())


def _single_cached(model, adapter, b, unit, n, layers, a, objective, path, max_rows) -> torch.Tensor:
    with torch.no_grad():
        cache = model(b.ids[:, :-1], use_cache=True).cache
    per_pass = len(layers) if path == "joint" else max(1, max_rows // len(a))
    parts = [_ig_pass(model, adapter, b, unit, n, layers[c:c + per_pass], a, objective, path, "target", cache)
             for c in range(0, len(layers), per_pass)]
    return torch.cat(parts, dim=1).cpu()


def _ig_pass(model, adapter, b: FactBatch, unit, n, chunk, a, objective, path, positions, cache) -> torch.Tensor:
    """One batched forward/backward: ``[len(b), len(chunk), n]``."""
    m, f = len(a), len(b)
    per_fact = m * (len(chunk) if path == "layer" else 1)
    rows = f * per_fact
    step_of_row = torch.arange(rows, device=a.device) % m
    layer_of_row = (torch.arange(rows, device=a.device) // m) % len(chunk)
    gates = {}
    for j, l in enumerate(chunk):
        alpha = a[step_of_row]
        if path == "layer":
            alpha = torch.where(layer_of_row == j, alpha, torch.ones_like(alpha))
        gates[l] = alpha[:, None].expand(rows, n).clone().requires_grad_(True)
    rep = b.repeat(per_fact)
    with torch.enable_grad(), adapter.gated({unit: gates}, at=-1 if cache is not None else
                                            (rep.pos if positions == "target" else None)):
        if cache is not None:
            past = copy.deepcopy(cache)
            past.batch_repeat_interleave(rows)
            logits = model(rep.ids[:, -1:], cache=past, use_cache=True).logits[:, -1]
        else:
            logits = model(input_ids=rep.ids, attention_mask=rep.mask).logits[torch.arange(rows), rep.pos]
        logp = torch.log_softmax(logits.float(), dim=-1).gather(1, rep.target[:, None])[:, 0]
        value = logp if objective == "logprob" else logp.exp()
        grads = torch.autograd.grad(value.sum(), [gates[l] for l in chunk])
    out = []
    for j, g in enumerate(grads):
        g = g.view(f, -1, m, n) if path == "layer" else g.view(f, 1, m, n)
        out.append(g[:, j if path == "layer" else 0].sum(1) / m)
    return torch.stack(out, dim=1).detach()


def integrated_gradients(model: nn.Module, prefix: torch.Tensor, target: int, **kw) -> torch.Tensor:
    """``[len(layers), n_units]`` IG scores of F(target | prefix) at the prefix's last position (one prompt)."""
    return attribute_ig(model, FactBatch.single(prefix, target), **kw)[0]


def ig_sequence(model: nn.Module, ids: torch.Tensor, positions: Sequence[int], **kw) -> torch.Tensor:
    """Mean IG over several target tokens of one sequence: ``ids[p]`` predicted from ``ids[:p]`` for p in positions
    (DEPN's multi-token private items, e.g. the digits of a phone number)."""
    ids = torch.as_tensor(ids).reshape(-1)
    if len(positions) == 0:
        raise AttributionError("no target positions given")
    bad = [p for p in positions if not 1 <= p < ids.numel()]
    if bad:
        raise AttributionError(f"target positions {bad} outside 1..{ids.numel() - 1} (a target needs a non-empty "
                               "prefix)")
    return torch.stack([integrated_gradients(model, ids[:p], int(ids[p]), **kw) for p in positions]).mean(0)
