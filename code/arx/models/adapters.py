"""One adapter for every family: sizes and activation capture (FFN activations, router logits/top-k, heads).

Why: methods must not know whether they run on GPT-2, Llama or an MoE. Interventions (multiplicative gates on
neurons, experts, shared experts, heads; expert blocking) live once in :mod:`arx.methods.attribution.units`;
this module does not duplicate them. MoE routers in transformers 5 return ``(logits, scores, indices)``.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn


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
    expert_ffn_dim: int = 0
    layers: list = field(default_factory=list, repr=False)

    # ---- module access -------------------------------------------------------------------------------------
    def _down(self, l: int) -> nn.Module:
        mlp = self.layers[l].mlp
        return mlp.c_proj if self.family == "gpt2" else mlp.down_proj

    def _o_proj(self, l: int) -> nn.Module:
        attn = self.layers[l].attn if self.family == "gpt2" else self.layers[l].self_attn
        return attn.c_proj if self.family == "gpt2" else attn.o_proj

    def _check_layer(self, l: int) -> None:
        if not isinstance(l, int) or not 0 <= l < self.num_layers:
            raise ValueError(f"layer {l!r} out of range: this model has layers 0..{self.num_layers - 1}")

    def _require_moe(self, what: str) -> None:
        if not self.is_moe:
            raise ValueError(f"{what} needs an MoE model (qwen2_moe, olmoe, mixtral); got dense {self.family!r}")

    # ---- capture -------------------------------------------------------------------------------------------
    @contextmanager
    def capture(self, ffn: bool = False, router: bool = False, heads: bool = False) -> Iterator[dict]:
        """Record per layer: ``ffn`` [B,T,ffn_dim] (input of the down projection; dense only), ``router_logits``
        [B*T,E] and ``topk`` [B*T,k] (MoE), ``heads`` [B,T,H,head_dim] (input of o_proj split by head)."""
        if ffn and self.is_moe:
            raise ValueError("ffn capture is for dense models; use router=True for MoE models")
        if router:
            self._require_moe("router capture")
        rec: dict = {"ffn": {}, "router_logits": {}, "topk": {}, "heads": {}}
        hs = []
        for l in range(self.num_layers):
            if ffn:
                hs.append(self._down(l).register_forward_pre_hook(
                    lambda _m, a, l=l: rec["ffn"].__setitem__(l, a[0].detach())))
            if heads:
                hs.append(self._o_proj(l).register_forward_pre_hook(
                    lambda _m, a, l=l: rec["heads"].__setitem__(
                        l, a[0].detach().view(*a[0].shape[:-1], self.num_heads, self.head_dim))))
            if router:
                def rh(_m, _i, out, l=l):
                    rec["router_logits"][l] = out[0].detach()
                    rec["topk"][l] = out[2].detach()
                hs.append(self.layers[l].mlp.gate.register_forward_hook(rh))
        try:
            yield rec
        finally:
            for h in hs:
                h.remove()


def get_adapter(model: nn.Module) -> ModelAdapter:
    """The :class:`ModelAdapter` of a gpt2 / llama / qwen2_moe / olmoe / mixtral causal LM."""
    cfg = model.config
    mt = cfg.model_type
    if mt == "gpt2":
        layers = list(model.transformer.h)
        return ModelAdapter(model, "gpt2", cfg.n_layer, cfg.n_embd, cfg.n_inner or 4 * cfg.n_embd, cfg.n_head,
                            cfg.n_embd // cfg.n_head, False, layers=layers)
    if mt not in ("llama", "mistral", "qwen2", "qwen2_moe", "olmoe", "mixtral"):
        raise ValueError(f"no adapter for model_type {mt!r}; supported: gpt2, llama, mistral, qwen2, qwen2_moe, "
                         "olmoe, mixtral")
    layers = list(model.model.layers)
    heads = cfg.num_attention_heads
    hd = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    mlp = layers[0].mlp
    if hasattr(mlp, "experts"):
        e = mlp.experts.gate_up_proj
        return ModelAdapter(model, mt, len(layers), cfg.hidden_size, 0, heads, hd, True, int(e.shape[0]),
                            int(mlp.gate.top_k), hasattr(mlp, "shared_expert"), int(mlp.experts.down_proj.shape[-1]
                            if mlp.experts.down_proj.shape[-1] != cfg.hidden_size else mlp.experts.down_proj.shape[-2]),
                            layers=layers)
    return ModelAdapter(model, mt, len(layers), cfg.hidden_size, mlp.down_proj.in_features, heads, hd, False,
                        layers=layers)
