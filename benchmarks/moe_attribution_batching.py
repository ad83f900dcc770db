"""Batched MoE attribution vs the obvious per-fact / per-unit loops (same numbers, fewer passes).

    python benchmarks/moe_attribution_batching.py [--facts 64] [--steps 16] [--threads 2]

Uses the zoo's small-scale qwen2_moe_facts model and its facts when present (`snakemake
evidence/zoo/small/qwen2_moe_facts/metrics.json`), else a random small qwen2_moe model on random 6-token prompts.
Prints facts/s and the speed-up of (a) IG with facts batched vs one fact per pass, (b) ablation with all units of a
layer batched as rows vs one unit gated to 0 per pass, and the max abs difference between the two (must be ~1e-6).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from arx.experiments import moe_attribution as X
from arx.methods.attribution import moe
from arx.methods.attribution.prompts import FactBatch, target_logprob
from arx.models import build_model, get_adapter

ZOO = X.ModelSource(zoo_dir="evidence/zoo/small", zoo_models={"qwen2_moe": "qwen2_moe_facts"})


def timed(fn, repeats: int = 3):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


@torch.no_grad()
def ablation_loop(model, facts):
    lay = get_adapter(model)
    clean = target_logprob(model, facts)
    res = torch.zeros(len(facts), lay.num_layers, lay.num_experts)
    for l in range(lay.num_layers):
        for e in range(lay.num_experts):
            g = torch.ones(lay.num_layers, lay.num_experts)
            g[l, e] = 0
            with lay.gated({"expert": g}):
                res[:, l, e] = clean - target_logprob(model, facts)
    return res


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--facts", type=int, default=64)
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if (Path(ZOO.zoo_dir) / "qwen2_moe_facts" / "config.json").exists():
        model, facts = X.load(ZOO, "qwen2_moe"), X.facts_for(ZOO, "qwen2_moe").take(torch.arange(a.facts))
    else:
        model = build_model("qwen2_moe", "s", 1000, seed=0)
        ids = torch.randint(0, 1000, (a.facts, 6), generator=torch.Generator().manual_seed(0))
        facts = FactBatch(ids, torch.ones_like(ids), torch.full((a.facts,), 5), ids[:, 0], torch.zeros_like(ids[:, 0]))
    t_b, ig_b = timed(lambda: moe.attribute(model, facts, "expert", "ig", a.steps, batch_size=a.facts))
    t_l, ig_l = timed(lambda: moe.attribute(model, facts, "expert", "ig", a.steps, batch_size=1), repeats=1)
    print(f"IG ({a.steps} steps, {a.facts} facts): batched {a.facts / t_b:.1f} facts/s, per-fact loop "
          f"{a.facts / t_l:.1f} facts/s, speed-up {t_l / t_b:.1f}x, max|diff| {float((ig_b - ig_l).abs().max()):.2e}")
    t_b, ab_b = timed(lambda: moe.attribute(model, facts, "expert", "ablation", batch_size=a.facts))
    t_l, ab_l = timed(lambda: ablation_loop(model, facts), repeats=1)
    lay = get_adapter(model)
    print(f"ablation ({lay.num_layers}x{lay.num_experts} experts): batched {a.facts / t_b:.1f} "
          f"facts/s, per-unit loop {a.facts / t_l:.1f} facts/s, speed-up {t_l / t_b:.1f}x, "
          f"max|diff| {float((ab_b - ab_l).abs().max()):.2e}")


if __name__ == "__main__":
    main()
