"""Multiplicative gates on the units of a transformers causal LM (routed experts, shared experts, heads, neurons).

Why here: every MoE attribution (gradient × gate, integrated gradients, ablation, blocking, masking) is one gate
tensor per unit type pushed through the same forward hooks. Gates may be ``[L, n]`` (all rows) or ``[B, L, n]``
(one set per batch row, so IG steps and ablations batch), and may require grad.

* routed expert ``e`` of layer ``l``: the router's top-k weight of ``e`` is multiplied by the gate, i.e. the gate
  scales *expert output × router gate weight* (the quantity the MoE attribution papers attribute);
* blocked experts are removed from the router's top-k choice (tokens go to the next experts, so a blocked expert
  receives no token and contributes exactly zero);
* shared expert of layer ``l`` (Qwen2-MoE): its sigmoid-gated output is multiplied by the gate;
* head ``h``: its slice of the attention output before ``o_proj``; neuron ``i``: the FFN activation before
  ``down_proj`` (dense models).
Works for the transformers families with a router ``gate`` + fused ``experts`` (Qwen2-MoE, OLMoE, Mixtral) and
Llama-style dense models.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Mapping

import torch
from torch import nn

UNIT_TYPES = ("expert", "shared", "head", "neuron")


class AttributionError(ValueError):
    """Bad input to an attribution method (dense model to an MoE analysis, k too large, bad shapes)."""


@dataclass(frozen=True)
class Layout:
    """Unit counts and activated parameters per layer of a decoder-only model."""

    num_layers: int
    is_moe: bool
    num_experts: int
    top_k: int
    has_shared: bool
    num_heads: int
    head_dim: int
    ffn_dim: int
    expert_params: int
    shared_params: int
    ffn_params: int

    def units(self, kind: str) -> int:
        """Number of units of ``kind`` per layer; a kind the model lacks is an error naming what it has."""
        counts = {"expert": self.num_experts if self.is_moe else 0, "shared": int(self.has_shared),
                  "head": self.num_heads, "neuron": 0 if self.is_moe else self.ffn_dim}
        if kind not in counts:
            raise AttributionError(f"unknown unit type {kind!r}; use one of {UNIT_TYPES}")
        if counts[kind] == 0:
            have = [k for k, v in counts.items() if v]
            raise AttributionError(f"this {'MoE' if self.is_moe else 'dense'} model has no {kind!r} units "
                                   f"(it has {have}); {kind!r} analysis needs "
                                   f"{'an MoE model' if kind in ('expert', 'shared') else 'a dense model'}")
        return counts[kind]

    def activated_ffn_params(self) -> int:
        """FFN parameters a token activates in one layer (top-k experts + shared expert, or the dense FFN)."""
        return self.top_k * self.expert_params + self.shared_params if self.is_moe else self.ffn_params

    def require_moe(self, what: str) -> None:
        if not self.is_moe:
            raise AttributionError(f"{what} needs an MoE model (routed experts); got a dense model")


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    base = getattr(model, "model", model)
    layers = getattr(base, "layers", None)
    if layers is None:
        raise AttributionError(f"{type(model).__name__} has no `model.layers`: expected a transformers decoder-only "
                               "causal LM (Qwen2-MoE, OLMoE, Mixtral, Llama)")
    return layers


def layout(model: nn.Module) -> Layout:
    """Read unit counts from the modules themselves (not the config), so any compatible family works."""
    layers = decoder_layers(model)
    cfg = model.config
    heads = int(cfg.num_attention_heads)
    head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // heads)
    mlp = layers[0].mlp
    experts = getattr(mlp, "experts", None)
    if experts is not None and hasattr(experts, "gate_up_proj"):
        shared = getattr(mlp, "shared_expert", None)
        return Layout(len(layers), True, int(experts.gate_up_proj.shape[0]), int(mlp.gate.top_k), shared is not None,
                      heads, head_dim, 0, (experts.gate_up_proj[0].numel() + experts.down_proj[0].numel()),
                      sum(p.numel() for p in shared.parameters()) if shared is not None else 0, 0)
    if not hasattr(mlp, "down_proj"):
        raise AttributionError(f"unsupported FFN module {type(mlp).__name__}: need fused `experts` or `down_proj`")
    return Layout(len(layers), False, 0, 0, False, heads, head_dim, int(mlp.down_proj.in_features), 0, 0,
                  sum(p.numel() for p in mlp.parameters()))


def _row_gate(g: torch.Tensor, layer: int, rows: int) -> torch.Tensor:
    """``[rows, n]`` gate of one layer from a ``[L, n]`` or ``[B, L, n]`` tensor."""
    if g.dim() == 2:
        return g[layer].unsqueeze(0).expand(rows, -1)
    if g.shape[0] != rows:
        raise AttributionError(f"per-row gates have {g.shape[0]} rows but the batch has {rows}")
    return g[:, layer]


@contextmanager
def gated(model: nn.Module, gates: Mapping[str, torch.Tensor] | None = None,
          blocked: torch.Tensor | None = None) -> Iterator[Layout]:
    """Install gates (``{unit_type: [L, n] | [B, L, n]}``) and a ``[L, E]`` bool expert block mask for the block."""
    lay = layout(model)
    gates = dict(gates or {})
    for kind, g in gates.items():
        n = lay.units(kind)
        if g.shape[-2:] != (lay.num_layers, n):
            raise AttributionError(f"{kind} gates have shape {tuple(g.shape)}; expected [L={lay.num_layers}, n={n}] "
                                   "or [batch, L, n]")
    if blocked is not None:
        lay.require_moe("expert blocking")
        if tuple(blocked.shape) != (lay.num_layers, lay.num_experts):
            raise AttributionError(f"block mask has shape {tuple(blocked.shape)}; expected "
                                   f"[{lay.num_layers}, {lay.num_experts}]")
        if bool((blocked.sum(-1) > lay.num_experts - lay.top_k).any()):
            raise AttributionError(f"cannot block more than num_experts - top_k = {lay.num_experts - lay.top_k} "
                                   "experts in one layer: tokens need top_k unblocked experts")
    handles = []
    state: dict[str, int] = {}
    handles.append(model.register_forward_pre_hook(
        lambda _m, args, kwargs: state.update(batch=int((kwargs.get("input_ids") if kwargs.get("input_ids") is not None
                                                          else args[0]).shape[0])), with_kwargs=True))
    for l, layer in enumerate(decoder_layers(model)):
        if "head" in gates:
            def head_hook(_m, args, l=l):
                x = args[0]
                g = _row_gate(gates["head"], l, x.shape[0]).to(x)
                return (x.view(*x.shape[:-1], lay.num_heads, lay.head_dim).mul(g[:, None, :, None]).view_as(x),)
            handles.append(layer.self_attn.o_proj.register_forward_pre_hook(head_hook))
        if "neuron" in gates:
            def neuron_hook(_m, args, l=l):
                x = args[0]
                return (x * _row_gate(gates["neuron"], l, x.shape[0]).to(x)[:, None, :],)
            handles.append(layer.mlp.down_proj.register_forward_pre_hook(neuron_hook))
        if "shared" in gates:
            def shared_hook(_m, _inp, out, l=l):
                b = state["batch"]
                g = _row_gate(gates["shared"], l, b).to(out)
                return (out.view(b, -1, out.shape[-1]) * g[:, None, :]).view_as(out)
            handles.append(layer.mlp.shared_expert.register_forward_hook(shared_hook))
        if "expert" in gates or blocked is not None:
            def router_hook(router, inp, out, l=l):
                logits, scores, idx = out
                if blocked is not None and bool(blocked[l].any()):
                    probs = torch.softmax(logits, dim=-1, dtype=torch.float)
                    probs = probs.masked_fill(blocked[l].to(probs.device), float("-inf"))
                    top, idx = torch.topk(probs, router.top_k, dim=-1)
                    if getattr(router, "norm_topk_prob", False):
                        top = top / top.sum(-1, keepdim=True)
                    scores = top.to(logits.dtype)
                if "expert" in gates:
                    b = state["batch"]
                    g = _row_gate(gates["expert"], l, b).to(scores)
                    g = g.repeat_interleave(scores.shape[0] // b, dim=0)
                    scores = scores * torch.gather(g, 1, idx)
                return logits, scores, idx
            handles.append(layer.mlp.gate.register_forward_hook(router_hook))
    try:
        yield lay
    finally:
        for h in handles:
            h.remove()
