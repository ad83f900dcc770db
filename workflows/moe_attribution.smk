# MoE knowledge attribution (logic/papers/moe_{knowledge_attribution,pretraining_dynamics}.yaml). Rules only wire
# entry points: code/arx/experiments/moe_attribution.py. At small/medium scale the analyses read the zoo's fact models
# (rule zoo_model in workflows/zoo.smk builds them, with their corpus.jsonl and intermediate checkpoints); at paper
# scale the published checkpoints (workflows/config/moe_attribution.yaml).

MOE_ATTR_MODELS = [] if SCALE == "paper" else [
    f"{ZOO}/{m}/{f}" for m in ("qwen2_moe_facts", "olmoe_facts", "llama_facts")
    for f in ("model.safetensors", "corpus.jsonl")]

rule moe_attribution_cross:
    input:  MOE_ATTR_MODELS
    output: arx_metrics("moe_attribution_cross", paper="moe_attribution")
    shell:  arx_run("moe_attribution_cross", paper="moe_attribution")

rule moe_attribution_blocking:
    input:  MOE_ATTR_MODELS
    output: arx_metrics("moe_attribution_blocking", paper="moe_attribution")
    shell:  arx_run("moe_attribution_blocking", paper="moe_attribution")

rule moe_attribution_lpi:
    input:  MOE_ATTR_MODELS
    output: arx_metrics("moe_attribution_lpi", paper="moe_attribution")
    shell:  arx_run("moe_attribution_lpi", paper="moe_attribution")
