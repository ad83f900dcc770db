# MoE knowledge attribution (logic/papers/moe_{knowledge_attribution,pretraining_dynamics}.yaml). Rules only wire
# entry points: code/arx/experiments/moe_attribution.py. At small/medium scale the analyses read the zoo's fact models
# (rule zoo_model in workflows/zoo.smk builds them, with their corpus.jsonl and intermediate checkpoints); at paper
# scale the published checkpoints (workflows/config/moe_attribution.yaml).

rule moe_attribution_cross:
    input:  arx_inputs("moe_attribution_cross", paper="moe_attribution")
    output: arx_metrics("moe_attribution_cross", paper="moe_attribution")
    threads: arx_threads("moe_attribution_cross")
    resources: **arx_resources("moe_attribution_cross")
    shell:  arx_run("moe_attribution_cross", paper="moe_attribution")

rule moe_attribution_blocking:
    input:  arx_inputs("moe_attribution_blocking", paper="moe_attribution")
    output: arx_metrics("moe_attribution_blocking", paper="moe_attribution")
    threads: arx_threads("moe_attribution_blocking")
    resources: **arx_resources("moe_attribution_blocking")
    shell:  arx_run("moe_attribution_blocking", paper="moe_attribution")

rule moe_attribution_lpi:
    input:  arx_inputs("moe_attribution_lpi", paper="moe_attribution")
    output: arx_metrics("moe_attribution_lpi", paper="moe_attribution")
    threads: arx_threads("moe_attribution_lpi")
    resources: **arx_resources("moe_attribution_lpi")
    shell:  arx_run("moe_attribution_lpi", paper="moe_attribution")
