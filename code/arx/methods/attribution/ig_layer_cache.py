"""Per-layer integrated gradients of FFN neurons, each layer's rows started from that layer's cached hidden state.

The knowledge-neuron / DEPN path scales the neurons of one layer ``l`` at the prompt's last position by α and runs
every other layer normally. Below ``l`` nothing depends on α, and the prefix positions never see the last one, so
a row of layer ``l`` only has to run the last token through layers ``l .. L-1``, attending to the clean prefix's
keys and values. One clean pass computes both: the prefix's keys and values at every layer, and the last token's
hidden state entering every layer. Then one "staircase" pass runs all rows at once: at layer ``j`` the ``m`` rows
of layer ``j`` join the batch (their hidden state is the cached one), and only they are scaled at ``j``'s
neurons. A row costs ``L - l`` one-token layer steps instead of ``L`` steps over the whole prompt. For 30 layers
that is half the layer steps of a KV-cached decode and a prompt-length fraction of captum's per-layer runs. The
numbers are those of :func:`arx.methods.attribution.ig.attribute_ig` with ``path="layer"``, up to float rounding
(tested).

Rotary dense families only (Llama, Mistral, Qwen2: the same decoder-layer call); GPT-2 and the MoE families keep
the general path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from arx.methods.attribution.ig import alphas, check_layers
from arx.methods.attribution.prompts import AttributionError, FactBatch
from arx.models.adapters import get_adapter

#: Families whose causal LM is ``model.model.{embed_tokens, rotary_emb, layers, norm}`` + ``model.lm_head`` and whose
#: decoder layer takes ``(hidden, position_embeddings=, position_ids=, cache=)``.
ROTARY_DENSE = ("llama", "mistral", "qwen2")


class _PrefixKV:
    """The clean prefix's keys and values per layer, shared by every row: a layer's attention appends the rows' own
    last-token keys/values to it (``update`` is the one cache method a decoder layer calls)."""

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor]):
        self.keys, self.values = keys, values

    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int, *args, **kwargs):
        rows = key.shape[0]
        k, v = self.keys[layer_idx], self.values[layer_idx]
        return (torch.cat([k.expand(rows, *k.shape[1:]), key], dim=2),
                torch.cat([v.expand(rows, *v.shape[1:]), value], dim=2))


def attribute_ig_from_layers(model: nn.Module, batch: FactBatch, *, layers: Sequence[int] | None = None,
                             steps: int = 20, rule: str = "left",
                             objective: Literal["logprob", "prob"] = "logprob") -> torch.Tensor:
    """``[N, len(layers), ffn_dim]`` per-layer IG of each prompt's target w.r.t. the FFN neurons at its last token."""
    adapter = get_adapter(model)
    if adapter.family not in ROTARY_DENSE:
        raise AttributionError(f"layer-cached IG supports {ROTARY_DENSE}; a {adapter.family} model takes "
                               "attribute_ig(..., path='layer')")
    if objective not in ("logprob", "prob"):
        raise AttributionError(f"unknown objective {objective!r}; use 'logprob' or 'prob'")
    chosen = check_layers(layers, adapter.num_layers)
    if len(batch) == 0:
        raise AttributionError("no prompts to attribute (empty batch)")
    device = next(model.parameters()).device
    a = alphas(steps, rule).to(device, torch.float32)
    was_training = model.training
    model.eval()
    try:
        out = []
        for i in range(len(batch)):
            n_tok = int(batch.pos[i]) + 1
            if n_tok < 2:
                raise AttributionError(f"prompt {i} has one token: layer-cached IG needs a prefix before it")
            ids = batch.ids[i, :n_tok].to(device)
            out.append(_one_prompt(model, adapter, ids, int(batch.target[i]), chosen, a, objective).cpu())
        return torch.stack(out)
    finally:
        model.train(was_training)


def _one_prompt(model, adapter, ids: torch.Tensor, target: int, chosen: list[int], a: torch.Tensor,
                objective: str) -> torch.Tensor:
    core = model.model
    m, n, t = len(a), adapter.ffn_dim, ids.numel() - 1
    with torch.no_grad():
        cache = model(ids[None, :-1], use_cache=True).cache
        prefix = _PrefixKV([layer.keys for layer in cache.layers], [layer.values for layer in cache.layers])
        position_ids = torch.tensor([[t]], device=ids.device)
        hidden = core.embed_tokens(ids[None, -1:])
        position_embeddings = core.rotary_emb(hidden, position_ids=position_ids)
        entering = []  # the clean last-token hidden state entering each layer
        for layer in core.layers:
            entering.append(hidden)
            hidden = layer(hidden, position_embeddings=position_embeddings, position_ids=position_ids, cache=prefix)
    gates = {l: a[:, None].expand(m, n).clone().requires_grad_(True) for l in chosen}
    running: torch.Tensor | None = None
    handles = []

    def scale(rows_before: int, gate: torch.Tensor):
        def hook(_module, args):
            x = args[0]  # [rows, 1, ffn_dim]: earlier groups unscaled, this layer's group by its gate
            ones = torch.ones(rows_before, n, dtype=x.dtype, device=x.device)
            return (x * torch.cat([ones, gate.to(x.dtype)])[:, None, :],)
        return hook

    try:
        with torch.enable_grad():
            for l, layer in enumerate(core.layers):
                if l in gates:
                    start = entering[l].expand(m, -1, -1)
                    before = 0 if running is None else running.shape[0]
                    running = start if running is None else torch.cat([running, start])
                    handles.append(adapter.ffn_out(l).register_forward_pre_hook(scale(before, gates[l])))
                if running is not None:
                    running = layer(running, position_embeddings=position_embeddings, position_ids=position_ids,
                                    cache=prefix)
            assert running is not None
            logits = model.lm_head(core.norm(running))[:, -1]
            logp = torch.log_softmax(logits.float(), dim=-1)[:, target]
            value = logp if objective == "logprob" else logp.exp()
            grads = torch.autograd.grad(value.sum(), [gates[l] for l in chosen])
    finally:
        for h in handles:
            h.remove()
    return torch.stack([g.sum(0) / m for g in grads]).detach()
