"""One adapter for every family: sizes, activation capture, and multiplicative gates on units.

Why: methods must not know whether they run on GPT-2, Llama or an MoE. Every intervention a method needs
(scale or zero an FFN neuron, a routed expert, a shared expert or an attention head; block experts from routing)
is one gate per unit type pushed through the same forward hooks, here, and every method (IG, DEPN edits, expert
blocking, head masking, ablation) uses them:

* ``neuron`` ``i`` of layer ``l``: the FFN activation entering the down projection (dense models);
* ``head`` ``h``: its slice of the attention output entering the output projection;
* routed ``expert`` ``e``: the router's top-k weight of ``e`` is multiplied by the gate, i.e. the gate scales
  *expert output × router gate weight* (the quantity the MoE attribution papers attribute);
* ``shared`` expert (Qwen2-MoE): its sigmoid-gated output is multiplied by the gate;
* blocked experts are removed from the router's top-k choice (tokens go to the next experts, so a blocked expert
  receives no token and contributes exactly zero).

MoE routers in transformers 5 return ``(logits, scores, indices)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

UNIT_TYPES = ("expert", "shared", "head", "neuron")
SUPPORTED = ("gpt2", "llama", "mistral", "qwen2", "qwen2_moe", "olmoe", "mixtral")

#: A gate of one unit type: ``[L, n]`` or ``[B, L, n]`` (one set per batch row) for all layers, or a mapping
#: ``layer -> [n] | [B, n]`` for some layers (the others run ungated). Gates may require grad.
Gate = torch.Tensor | Mapping[int, torch.Tensor]


class AdapterError(ValueError):
    """A model or a gate the adapter cannot handle (unknown family, missing unit type, bad shape)."""


@dataclass
class ModelAdapter:
    """Uniform view of a causal LM built by :mod:`arx.models.registry` (or a compatible HF checkpoint)."""

    model: nn.Module
    family: str
    num_layers: int
    hidden_size: int
    ffn_dim: int
    num_heads: int
    head_dim: int
    is_moe: bool
    num_experts: int = 0
    top_k: int = 0
    has_shared_expert: bool = False
    expert_params: int = 0
    shared_params: int = 0
    ffn_params: int = 0
    layers: list = field(default_factory=list, repr=False)

    # ---- sizes ---------------------------------------------------------------------------------------------
    def units(self, kind: str) -> int:
        """Number of units of ``kind`` per layer; a kind the model lacks is an error naming what it has."""
        counts = {"expert": self.num_experts, "shared": int(self.has_shared_expert), "head": self.num_heads,
                  "neuron": self.ffn_dim}
        if kind not in counts:
            raise AdapterError(f"unknown unit type {kind!r}; use one of {UNIT_TYPES}")
        if counts[kind] == 0:
            have = [k for k, v in counts.items() if v]
            raise AdapterError(f"this {'MoE' if self.is_moe else 'dense'} {self.family} model has no {kind!r} units "
                               f"(it has {have}); {kind!r} analysis needs "
                               f"{'an MoE model' if kind in ('expert', 'shared') else 'a dense model'}")
        return counts[kind]

    def activated_ffn_params(self) -> int:
        """FFN parameters a token activates in one layer (top-k experts + shared expert, or the dense FFN)."""
        return self.top_k * self.expert_params + self.shared_params if self.is_moe else self.ffn_params

    def require_moe(self, what: str) -> None:
        if not self.is_moe:
            raise AdapterError(f"{what} needs an MoE model (qwen2_moe, olmoe, mixtral); got dense {self.family!r}")

    def check_layer(self, l: int) -> int:
        if isinstance(l, bool) or not isinstance(l, int) or not 0 <= l < self.num_layers:
            raise AdapterError(f"unknown layer {l!r}: this model has layers 0..{self.num_layers - 1}")
        return l

    # ---- module access -------------------------------------------------------------------------------------
    def ffn_out(self, l: int) -> nn.Module:
        """The dense FFN's down projection of layer ``l`` (its input holds the neurons)."""
        mlp = self.layers[l].mlp
        return mlp.c_proj if self.family == "gpt2" else mlp.down_proj

    def attn_out(self, l: int) -> nn.Module:
        """The attention output projection of layer ``l`` (its input holds the heads, concatenated)."""
        return self.layers[l].attn.c_proj if self.family == "gpt2" else self.layers[l].self_attn.o_proj

    def router(self, l: int) -> nn.Module:
        return self.layers[l].mlp.gate

    # ---- capture -------------------------------------------------------------------------------------------
    @contextmanager
    def capture(self, ffn: bool = False, router: bool = False, heads: bool = False) -> Iterator[dict]:
        """Record per layer: ``ffn`` [B,T,ffn_dim] (input of the down projection; dense only), ``router_logits``
        [B*T,E] and ``topk`` [B*T,k] (MoE), ``heads`` [B,T,H,head_dim] (input of the output projection by head)."""
        if ffn and self.is_moe:
            raise AdapterError("ffn capture is for dense models; use router=True for MoE models")
        if router:
            self.require_moe("router capture")
        rec: dict = {"ffn": {}, "router_logits": {}, "topk": {}, "heads": {}}
        hs = []
        for l in range(self.num_layers):
            if ffn:
                hs.append(self.ffn_out(l).register_forward_pre_hook(
                    lambda _m, a, l=l: rec["ffn"].__setitem__(l, a[0].detach())))
            if heads:
                hs.append(self.attn_out(l).register_forward_pre_hook(
                    lambda _m, a, l=l: rec["heads"].__setitem__(
                        l, a[0].detach().view(*a[0].shape[:-1], self.num_heads, self.head_dim))))
            if router:
                def rh(_m, _i, out, l=l):
                    rec["router_logits"][l] = out[0].detach()
                    rec["topk"][l] = out[2].detach()
                hs.append(self.router(l).register_forward_hook(rh))
        try:
            yield rec
        finally:
            for h in hs:
                h.remove()

    # ---- gates ---------------------------------------------------------------------------------------------
    def _per_layer(self, kind: str, gate: Gate) -> dict[int, torch.Tensor]:
        n = self.units(kind)
        if isinstance(gate, Mapping):
            out = {self.check_layer(int(l)): g for l, g in gate.items()}
        elif gate.dim() in (2, 3) and tuple(gate.shape[-2:]) == (self.num_layers, n):
            out = {l: gate[..., l, :] for l in range(self.num_layers)}
        else:
            raise AdapterError(f"{kind} gates have shape {tuple(gate.shape)}; expected [L={self.num_layers}, n={n}], "
                               f"[batch, L, n] or a mapping layer -> [n] | [batch, n]")
        for l, g in out.items():
            if g.dim() not in (1, 2) or g.shape[-1] != n:
                raise AdapterError(f"{kind} gate of layer {l} has shape {tuple(g.shape)}; expected [n={n}] or "
                                   f"[batch, n={n}] ({kind} units per layer of this model)")
        return out

    def _check_blocked(self, blocked: torch.Tensor) -> None:
        self.require_moe("expert blocking")
        if tuple(blocked.shape) != (self.num_layers, self.num_experts):
            raise AdapterError(f"block mask has shape {tuple(blocked.shape)}; expected "
                               f"[{self.num_layers}, {self.num_experts}]")
        if bool((blocked.sum(-1) > self.num_experts - self.top_k).any()):
            raise AdapterError(f"cannot block more than num_experts - top_k = {self.num_experts - self.top_k} "
                               "experts in one layer: tokens need top_k unblocked experts")

    @contextmanager
    def gated(self, gates: Mapping[str, Gate] | None = None, blocked: torch.Tensor | None = None,
              at: torch.Tensor | int | None = None) -> Iterator[ModelAdapter]:
        """Within the block, multiply units by ``gates`` (``{unit_type: Gate}``) and keep the experts of the
        ``[L, E]`` bool mask ``blocked`` out of routing. ``at``: gate only this token position per batch row
        (``[B]`` or an int; negative counts from the end), e.g. the position that predicts the target; ``None``
        gates every position. Blocking always applies to every position."""
        per_layer = {kind: self._per_layer(kind, g) for kind, g in (gates or {}).items()}
        if blocked is not None:
            self._check_blocked(blocked)
        shape: dict[str, int] = {}

        def factor(g: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
            """``[B, T, n]`` multiplier from a ``[n] | [B, n]`` gate (1 off the gated position)."""
            b, t = shape["batch"], shape["seq"]
            g = g.to(like).expand(b, -1) if g.dim() == 1 else g.to(like)
            if g.shape[0] != b:
                raise AdapterError(f"per-row gates have {g.shape[0]} rows but the batch has {b}")
            if at is None:
                return g[:, None, :].expand(b, t, -1)
            pos = torch.as_tensor(at, device=like.device).expand(b) % t
            hit = torch.nn.functional.one_hot(pos, t).to(like)[:, :, None]
            return 1 + hit * (g[:, None, :] - 1)

        def record_shape(_m, args, kwargs):
            ids = kwargs.get("input_ids") if kwargs.get("input_ids") is not None else args[0]
            shape.update(batch=int(ids.shape[0]), seq=int(ids.shape[1]))

        handles = [self.model.register_forward_pre_hook(record_shape, with_kwargs=True)]

        def unit_hook(g: torch.Tensor, width: int):
            def hook(_m, args):
                x = args[0]
                f = factor(g, x).repeat_interleave(width, dim=-1)
                return (x * f.view_as(x),)
            return hook

        for l in range(self.num_layers):
            if l in per_layer.get("head", {}):
                handles.append(self.attn_out(l).register_forward_pre_hook(
                    unit_hook(per_layer["head"][l], self.head_dim)))
            if l in per_layer.get("neuron", {}):
                handles.append(self.ffn_out(l).register_forward_pre_hook(unit_hook(per_layer["neuron"][l], 1)))
            if l in per_layer.get("shared", {}):
                def shared_hook(_m, _inp, out, g=per_layer["shared"][l]):
                    return (out.view(shape["batch"], shape["seq"], -1) * factor(g, out)).view_as(out)
                handles.append(self.layers[l].mlp.shared_expert.register_forward_hook(shared_hook))
            expert_gate = per_layer.get("expert", {}).get(l)
            block = blocked[l] if blocked is not None and bool(blocked[l].any()) else None
            if expert_gate is not None or block is not None:
                def router_hook(router, _inp, out, g=expert_gate, block=block):
                    logits, scores, idx = out
                    if block is not None:
                        probs = torch.softmax(logits, dim=-1, dtype=torch.float)
                        probs = probs.masked_fill(block.to(probs.device), float("-inf"))
                        top, idx = torch.topk(probs, router.top_k, dim=-1)
                        if getattr(router, "norm_topk_prob", False):
                            top = top / top.sum(-1, keepdim=True)
                        scores = top.to(logits.dtype)
                    if g is not None:
                        scores = scores * torch.gather(factor(g, scores).reshape(-1, self.num_experts), 1, idx)
                    return logits, scores, idx
                handles.append(self.router(l).register_forward_hook(router_hook))
        try:
            yield self
        finally:
            for h in handles:
                h.remove()


@contextmanager
def gated(model: nn.Module, gates: Mapping[str, Gate] | None = None, blocked: torch.Tensor | None = None,
          at: torch.Tensor | int | None = None) -> Iterator[ModelAdapter]:
    """:meth:`ModelAdapter.gated` of ``model``'s adapter (yields the adapter)."""
    with get_adapter(model).gated(gates, blocked, at) as adapter:
        yield adapter


def _params(module: nn.Module | None) -> int:
    return sum(p.numel() for p in module.parameters()) if module is not None else 0


def get_adapter(model: nn.Module) -> ModelAdapter:
    """The :class:`ModelAdapter` of a gpt2 / llama / mistral / qwen2 / qwen2_moe / olmoe / mixtral causal LM."""
    cfg = getattr(model, "config", None)
    mt = getattr(cfg, "model_type", None)
    if mt == "gpt2":
        layers = list(model.transformer.h)
        ffn = int(layers[0].mlp.c_proj.weight.shape[0])  # Conv1D weight is [in, out]
        return ModelAdapter(model, "gpt2", cfg.n_layer, cfg.n_embd, ffn, cfg.n_head, cfg.n_embd // cfg.n_head,
                            False, ffn_params=_params(layers[0].mlp), layers=layers)
    if mt not in SUPPORTED:
        raise AdapterError(f"no adapter for {type(model).__name__} (model_type {mt!r}); supported model types: "
                           f"{', '.join(SUPPORTED)}")
    layers = list(model.model.layers)
    heads = int(cfg.num_attention_heads)
    hd = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // heads)
    mlp = layers[0].mlp
    experts = getattr(mlp, "experts", None)
    if experts is not None and hasattr(experts, "gate_up_proj"):
        shared = getattr(mlp, "shared_expert", None)
        return ModelAdapter(model, mt, len(layers), cfg.hidden_size, 0, heads, hd, True,
                            int(experts.gate_up_proj.shape[0]), int(mlp.gate.top_k), shared is not None,
                            expert_params=int(experts.gate_up_proj[0].numel() + experts.down_proj[0].numel()),
                            shared_params=_params(shared), layers=layers)
    if not hasattr(mlp, "down_proj"):
        raise AdapterError(f"unsupported FFN module {type(mlp).__name__}: need fused `experts` or `down_proj`")
    return ModelAdapter(model, mt, len(layers), cfg.hidden_size, int(mlp.down_proj.in_features), heads, hd, False,
                        ffn_params=_params(mlp), layers=layers)
