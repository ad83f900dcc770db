# Language Routing Isolation / RISE (logic/papers/routing_isolation.yaml). Rules only wire entry points:
# code/arx/experiments/routing.py. At small/medium scale the base model and its corpus are the zoo's
# qwen2_moe_multilingual (rule zoo_model); at paper scale the published checkpoint (workflows/config/routing.yaml).

ROUTING_BASE = [] if SCALE == "paper" else [
    f"{ZOO}/qwen2_moe_multilingual/{f}" for f in ("model.safetensors", "corpus.jsonl")]

rule routing_isolation:
    input:  ROUTING_BASE
    output: arx_metrics("routing_isolation", paper="routing")
    shell:  arx_run("routing_isolation", paper="routing")

rule routing_rise:
    input:  ROUTING_BASE
    output: arx_metrics("routing_rise", paper="routing")
    shell:  arx_run("routing_rise", paper="routing")
