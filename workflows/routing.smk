# Language Routing Isolation / RISE (logic/papers/routing_isolation.yaml). Rules only wire entry points:
# code/arx/experiments/routing.py. At small/medium scale the base model and its corpus are the zoo's
# qwen2_moe_multilingual (rule zoo_model); at paper scale the published checkpoint (workflows/config/routing.yaml).

rule routing_isolation:
    input:  arx_inputs("routing_isolation", paper="routing")
    output: arx_metrics("routing_isolation", paper="routing")
    threads: arx_threads("routing_isolation")
    resources: **arx_resources("routing_isolation")
    shell:  arx_run("routing_isolation", paper="routing")

rule routing_rise:
    input:  arx_inputs("routing_rise", paper="routing")
    output: arx_metrics("routing_rise", paper="routing")
    threads: arx_threads("routing_rise")
    resources: **arx_resources("routing_rise")
    shell:  arx_run("routing_rise", paper="routing")
