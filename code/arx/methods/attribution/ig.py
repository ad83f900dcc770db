"""Integrated gradients of one next-token target w.r.t. multiplicative gates on units (FFN neurons, heads).

Why one implementation: DEPN (privacy neurons) and the knowledge-neuron line of work attribute the gold token's
probability to units of every layer; issue 8 reuses the same code for heads. Definition (METHOD-NOTES 1.1): for layer
l and target position t, the units' activation a = a_l[t] is replaced by α·a (gate g = α, baseline 0) at position t
only (other layers and positions run normally) and

    score_i = (1 − 0) · Σ_k w_k ∂F/∂g_i |_{g = α_k}   (= a_i · Σ_k w_k ∂F/∂a_i (α_k a), the KN/DEPN quantity)

with F = log P(y* | prefix) (``objective="logprob"``, the issue's default) or P(y* | prefix) (``"prob"``, what
KN/DEPN use). Riemann rules: ``left`` α_k = k/m (DEPN upstream, captum ``riemann_left``), ``linspace``
α = linspace(0, 1, m) (KN upstream), ``middle`` (k+½)/m, ``right`` (k+1)/m; every weight is 1/m.

Exact speed-ups (METHOD-NOTES 1.3), same numbers as the per-layer loop up to rounding:
* all layers × all steps in one batch of L·m rows and one backward (row (l, k) gates only layer l);
* causal LM, target at the last position of the prefix: the clean prefix KV cache is computed once and every row is
  a one-token decode (the scaled activation at t cannot reach earlier positions).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal, Sequence

import torch
from torch import nn

RULES = ("left", "linspace", "middle", "right")
OBJECTIVES = ("logprob", "prob")


class IGError(ValueError):
    """Bad input to integrated gradients (unknown layer or unit type, empty input, bad rule)."""


@dataclass(frozen=True)
class UnitSite:
    """The module whose *input* carries the units of one layer: ``n`` units, each ``width`` features wide."""

    module: nn.Module
    n: int
    width: int


def _blocks(model: nn.Module) -> Sequence[nn.Module]:
    base = getattr(model, "transformer", None) or getattr(model, "model", None) or model
    blocks = getattr(base, "h", None) if hasattr(base, "h") else getattr(base, "layers", None)
    if blocks is None:
        raise IGError(f"{type(model).__name__}: no `transformer.h` (GPT-2) or `model.layers` (Llama-style) blocks")
    return blocks


def unit_sites(model: nn.Module, unit: str = "neuron") -> list[UnitSite]:
    """Per layer, where the gate of ``unit`` is applied: neurons at the FFN down-projection input (post-activation),
    heads at the attention output-projection input."""
    sites = []
    cfg = model.config
    for block in _blocks(model):
        if unit == "neuron":
            mlp = block.mlp
            mod = getattr(mlp, "c_proj", None) or getattr(mlp, "down_proj", None)
            if mod is None:
                raise IGError(f"unsupported FFN {type(mlp).__name__}: need `c_proj` (GPT-2) or `down_proj`")
            n = mod.weight.shape[0] if hasattr(mod, "nf") else mod.in_features  # GPT-2 Conv1D is [in, out]
            sites.append(UnitSite(mod, int(n), 1))
        elif unit == "head":
            attn = getattr(block, "attn", None) or block.self_attn
            mod = getattr(attn, "c_proj", None) or attn.o_proj
            heads = int(getattr(cfg, "n_head", None) or cfg.num_attention_heads)
            width = (mod.weight.shape[0] if hasattr(mod, "nf") else mod.in_features) // heads
            sites.append(UnitSite(mod, heads, int(width)))
        else:
            raise IGError(f"unknown unit type {unit!r}; use 'neuron' or 'head'")
    return sites


def alphas(steps: int, rule: str) -> torch.Tensor:
    if steps < 1:
        raise IGError(f"steps must be >= 1, got {steps}")
    k = torch.arange(steps, dtype=torch.float64)
    grid = {"left": k / steps, "middle": (k + 0.5) / steps, "right": (k + 1) / steps,
            "linspace": torch.linspace(0, 1, steps, dtype=torch.float64)}
    if rule not in grid:
        raise IGError(f"unknown Riemann rule {rule!r}; use one of {RULES}")
    return grid[rule]


def check_layers(layers: Sequence[int] | None, num_layers: int) -> list[int]:
    if layers is None:
        return list(range(num_layers))
    bad = [l for l in layers if not 0 <= int(l) < num_layers]
    if bad or not layers:
        raise IGError(f"unknown layer(s) {bad or '[] (empty)'}: the model has layers 0..{num_layers - 1}")
    return [int(l) for l in layers]


def _objective(logits: torch.Tensor, target: int, objective: str) -> torch.Tensor:
    logp = torch.log_softmax(logits.float(), dim=-1)[:, target]
    return logp if objective == "logprob" else logp.exp()


def integrated_gradients(model: nn.Module, prefix: torch.Tensor, target: int, *, unit: str = "neuron",
                         layers: Sequence[int] | None = None, steps: int = 20, rule: str = "left",
                         objective: Literal["logprob", "prob"] = "logprob", use_cache: bool = True,
                         max_rows: int | None = None) -> torch.Tensor:
    """``[len(layers), n_units]`` IG scores of F(target | prefix) at the prefix's last position.

    ``prefix``: 1-D token ids (the target is the next token). ``max_rows`` caps the rows of one pass (layers are
    chunked, never steps); ``use_cache=False`` runs every row over the full prefix (same numbers, slower)."""
    if objective not in OBJECTIVES:
        raise IGError(f"unknown objective {objective!r}; use one of {OBJECTIVES}")
    prefix = torch.as_tensor(prefix).reshape(-1)
    if prefix.numel() == 0:
        raise IGError("empty prefix: IG needs at least one input token before the target")
    sites = unit_sites(model, unit)
    layers = check_layers(layers, len(sites))
    vocab = model.get_output_embeddings().weight.shape[0]
    if not 0 <= int(target) < vocab:
        raise IGError(f"target token {target} outside the vocabulary 0..{vocab - 1}")
    dev = next(model.parameters()).device
    prefix = prefix.to(dev)
    a = alphas(steps, rule).to(dev, torch.float32)
    per_pass = max(1, (max_rows or len(layers) * steps) // steps)
    cache = None
    if use_cache and prefix.numel() > 1:
        with torch.no_grad():
            cache = model(prefix[None, :-1], use_cache=True).cache
    out = []
    for c in range(0, len(layers), per_pass):
        chunk = layers[c:c + per_pass]
        out.append(_ig_pass(model, prefix, int(target), sites, chunk, a, objective, cache))
    return torch.cat(out)


def _ig_pass(model, prefix, target, sites, chunk, a, objective, cache) -> torch.Tensor:
    m, rows = len(a), len(chunk) * len(a)
    gates = [a[:, None].expand(m, sites[l].n).clone().requires_grad_(True) for l in chunk]
    handles = []
    for j, l in enumerate(chunk):
        site = sites[l]

        def hook(_mod, args, j=j, site=site):
            x = args[0]
            g = torch.cat([x.new_ones(j * m, site.n), gates[j].to(x.dtype), x.new_ones(rows - (j + 1) * m, site.n)])
            last = x[:, -1:, :] * g.repeat_interleave(site.width, dim=1)[:, None, :]
            return (torch.cat([x[:, :-1, :], last], dim=1),)

        handles.append(site.module.register_forward_pre_hook(hook))
    try:
        with torch.enable_grad():
            if cache is not None:
                past = copy.deepcopy(cache)
                past.batch_repeat_interleave(rows)
                logits = model(prefix[-1:].expand(rows, 1), cache=past, use_cache=True).logits[:, -1]
            else:
                logits = model(prefix[None].expand(rows, -1)).logits[:, -1]
            f = _objective(logits, target, objective)
            grads = torch.autograd.grad(f.sum(), gates)
    finally:
        for h in handles:
            h.remove()
    return torch.stack([g.sum(0) / m for g in grads]).detach()


def ig_sequence(model: nn.Module, ids: torch.Tensor, positions: Sequence[int], **kw) -> torch.Tensor:
    """Mean IG over several target tokens of one sequence: ``ids[p]`` predicted from ``ids[:p]`` for p in positions
    (DEPN's multi-token private items, e.g. the digits of a phone number)."""
    ids = torch.as_tensor(ids).reshape(-1)
    if len(positions) == 0:
        raise IGError("no target positions given")
    bad = [p for p in positions if not 1 <= p < ids.numel()]
    if bad:
        raise IGError(f"target positions {bad} outside 1..{ids.numel() - 1} (a target needs a non-empty prefix)")
    return torch.stack([integrated_gradients(model, ids[:p], int(ids[p]), **kw) for p in positions]).mean(0)
