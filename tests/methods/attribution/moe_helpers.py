"""Tiny transformers models and fact batches for the MoE attribution tests (built from configs, random weights)."""

from __future__ import annotations

import torch
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    OlmoeConfig,
    OlmoeForCausalLM,
    Qwen2MoeConfig,
    Qwen2MoeForCausalLM,
)

from arx.methods.attribution.prompts import FactBatch

VOCAB = 40
COMMON = dict(vocab_size=VOCAB, hidden_size=32, num_attention_heads=4, num_key_value_heads=4,
              max_position_embeddings=32, tie_word_embeddings=False)


def tiny(kind: str, seed: int = 0, layers: int = 2) -> torch.nn.Module:
    torch.manual_seed(seed)
    if kind == "qwen2_moe":
        cfg = Qwen2MoeConfig(num_hidden_layers=layers, num_experts=6, num_experts_per_tok=2, moe_intermediate_size=16,
                             shared_expert_intermediate_size=16, intermediate_size=32, decoder_sparse_step=1,
                             mlp_only_layers=[], **COMMON)
        model = Qwen2MoeForCausalLM(cfg)
    elif kind == "olmoe":
        cfg = OlmoeConfig(num_hidden_layers=layers, num_experts=6, num_experts_per_tok=2, intermediate_size=16,
                          **COMMON)
        model = OlmoeForCausalLM(cfg)
    else:
        model = LlamaForCausalLM(LlamaConfig(num_hidden_layers=layers, intermediate_size=24, **COMMON))
    with torch.no_grad():  # transformers zero-inits some router weights; random routers exercise routing
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.15)
    return model.eval()


def facts(n: int = 6, seed: int = 1) -> FactBatch:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (n, 5), generator=g)
    lengths = torch.randint(3, 6, (n,), generator=g)
    mask = (torch.arange(5)[None] < lengths[:, None]).long()
    return FactBatch(ids * mask, mask, lengths - 1, torch.randint(3, VOCAB, (n,), generator=g),
                     torch.arange(n) % 2)
