# DEPN (logic/papers/depn.yaml). Rules only wire entry points: code/arx/experiments/depn.py. depn_base trains the
# private-corpus GPT-2 models (save_pretrained dirs + checkpoints in its evidence); the others read them.

DEPN_MODELS = [f"{arx_evidence('depn', 'depn_base')}/{m}/model.safetensors" for m in ("gpt2_private_small", "gpt2_private", "gpt2_private_large")]

rule depn_base:
    output: arx_metrics("depn_base", paper="depn"), DEPN_MODELS
    threads: arx_threads("depn_base")
    resources: **arx_resources("depn_base")
    shell:  arx_run("depn_base", paper="depn")

rule depn_edit:
    input:  arx_inputs("depn_edit", paper="depn")
    output: arx_metrics("depn_edit", paper="depn")
    threads: arx_threads("depn_edit")
    resources: **arx_resources("depn_edit")
    shell:  arx_run("depn_edit", paper="depn")

rule depn_dynamics:
    input:  arx_inputs("depn_dynamics", paper="depn")
    output: arx_metrics("depn_dynamics", paper="depn")
    threads: arx_threads("depn_dynamics")
    resources: **arx_resources("depn_dynamics")
    shell:  arx_run("depn_dynamics", paper="depn")

# Pretrained scale: knowledge neurons on real facts (reads the pretrained_model rule's model and probe.jsonl).
rule knowledge_neurons:
    input:  arx_inputs("knowledge_neurons", paper="depn")
    output: arx_metrics("knowledge_neurons", paper="depn")
    threads: arx_threads("knowledge_neurons")
    resources: **arx_resources("knowledge_neurons")
    shell:  arx_run("knowledge_neurons", paper="depn")

# Pretrained scale: DEPN on a copy of SmolLM2 fine-tuned on synthetic private records.
rule pretrained_depn:
    input:  arx_inputs("pretrained_depn", paper="depn")
    output: arx_metrics("pretrained_depn", paper="depn")
    threads: arx_threads("pretrained_depn")
    resources: **arx_resources("pretrained_depn")
    shell:  arx_run("pretrained_depn", paper="depn")
