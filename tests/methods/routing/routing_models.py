"""Tiny MoE models built straight from transformers configs (no zoo needed)."""

import torch
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    MixtralConfig,
    MixtralForCausalLM,
    OlmoeConfig,
    OlmoeForCausalLM,
    Qwen2MoeConfig,
    Qwen2MoeForCausalLM,
)


def tiny_qwen2_moe(layers: int = 4, experts: int = 8) -> Qwen2MoeForCausalLM:
    torch.manual_seed(0)
    return Qwen2MoeForCausalLM(Qwen2MoeConfig(
        vocab_size=40, hidden_size=32, intermediate_size=64, moe_intermediate_size=16,
        shared_expert_intermediate_size=32, num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
        num_experts=experts, num_experts_per_tok=2))


def tiny_olmoe(layers: int = 3) -> OlmoeForCausalLM:
    torch.manual_seed(0)
    return OlmoeForCausalLM(OlmoeConfig(
        vocab_size=40, hidden_size=32, intermediate_size=16, num_hidden_layers=layers, num_attention_heads=4,
        num_key_value_heads=4, num_experts=8, num_experts_per_tok=2))


def tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=4))


def tiny_mixtral(layers: int = 3) -> MixtralForCausalLM:
    torch.manual_seed(0)
    return MixtralForCausalLM(MixtralConfig(
        vocab_size=40, hidden_size=32, intermediate_size=16, num_hidden_layers=layers, num_attention_heads=4,
        num_key_value_heads=4, num_local_experts=8, num_experts_per_tok=2))
