# Language Routing Isolation / RISE (logic/papers/routing_isolation.yaml). Rules only wire entry points:
# code/arx/experiments/routing.py. routing_base pre-trains the multilingual MoE (save_pretrained dir in its evidence)
# at small/medium scale; at paper scale the base model is the published checkpoint (workflows/config/routing.yaml).

ROUTING_BASE = [] if SCALE == "paper" else ["evidence/routing/routing_base/model/model.safetensors"]

rule routing_base:
    output: arx_metrics("routing_base", paper="routing"),
            "evidence/routing/routing_base/model/model.safetensors"
    shell:  arx_run("routing_base", paper="routing")

rule routing_isolation:
    input:  ROUTING_BASE
    output: arx_metrics("routing_isolation", paper="routing")
    shell:  arx_run("routing_isolation", paper="routing")

rule routing_rise:
    input:  ROUTING_BASE
    output: arx_metrics("routing_rise", paper="routing")
    shell:  arx_run("routing_rise", paper="routing")
