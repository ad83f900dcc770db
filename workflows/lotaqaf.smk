# LoTA-QAF (logic/papers/lotaqaf.yaml). Rules only wire entry points: code/arx/experiments/lotaqaf.py.
# lotaqaf_base trains the dense base model (zoo-style rule: save_pretrained dir under its evidence folder).

LOTAQAF_BASE = f"{arx_evidence('lotaqaf', 'lotaqaf_base')}/model/model.safetensors"

rule lotaqaf_base:
    output: arx_metrics("lotaqaf_base", paper="lotaqaf"),
            LOTAQAF_BASE
    threads: arx_threads("lotaqaf_base")
    resources: **arx_resources("lotaqaf_base")
    shell:  arx_run("lotaqaf_base", paper="lotaqaf")

rule lotaqaf_mmlu:
    input:  arx_inputs("lotaqaf_mmlu", paper="lotaqaf")
    output: arx_metrics("lotaqaf_mmlu", paper="lotaqaf")
    threads: arx_threads("lotaqaf_mmlu")
    resources: **arx_resources("lotaqaf_mmlu")
    shell:  arx_run("lotaqaf_mmlu", paper="lotaqaf")

rule lotaqaf_task:
    input:  arx_inputs("lotaqaf_task", paper="lotaqaf")
    output: arx_metrics("lotaqaf_task", paper="lotaqaf")
    threads: arx_threads("lotaqaf_task")
    resources: **arx_resources("lotaqaf_task")
    shell:  arx_run("lotaqaf_task", paper="lotaqaf")
