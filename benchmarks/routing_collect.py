"""Routing statistics: one batched pass with router hooks (arx.methods.routing.collect_routing) vs the obvious
alternative, one forward per sequence with ``output_router_logits=True`` and counting top-k in Python.

    python benchmarks/routing_collect.py
"""

import time

import torch
from transformers import Qwen2MoeConfig, Qwen2MoeForCausalLM

from arx.methods.routing import collect_routing


def per_sequence(model, ids, mask, lang, n_lang, top_k):
    n_layers = model.config.num_hidden_layers
    counts = torch.zeros(n_layers, n_lang, model.config.num_experts, dtype=torch.float64)
    with torch.no_grad():
        for i in range(len(ids)):
            out = model(input_ids=ids[i:i + 1, mask[i].bool()], output_router_logits=True)
            for layer, logits in enumerate(out.router_logits):
                for e in logits.topk(top_k, dim=-1).indices.reshape(-1).tolist():
                    counts[layer, lang[i], e] += 1
    return counts


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = Qwen2MoeForCausalLM(Qwen2MoeConfig(
        vocab_size=200, hidden_size=64, intermediate_size=64, moe_intermediate_size=64, shared_expert_intermediate_size=32,
        num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=4, num_experts=8, num_experts_per_tok=2)).eval()
    ids = torch.randint(0, 200, (512, 12))
    mask = torch.ones_like(ids)
    lang = torch.arange(512) % 5
    t0 = time.perf_counter()
    stats = collect_routing(model, ids, mask, lang, [f"x{i}" for i in range(5)], batch_size=128)
    t_hook = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = per_sequence(model, ids, mask, lang, 5, 2)
    t_loop = time.perf_counter() - t0
    assert torch.equal(stats.counts, ref), "the two methods disagree"
    print(f"512 sequences x 12 tokens, 6 MoE layers: hooks+batched {t_hook:.2f}s, per-sequence {t_loop:.2f}s, "
          f"speed-up {t_loop / t_hook:.1f}x (identical counts)")


if __name__ == "__main__":
    main()
