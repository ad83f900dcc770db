# Zoo models (issue 4): one trained model per model_id and seed, loaded downstream with arx.models.load_model(dir),
# next to the corpus it was trained on (corpus.jsonl) and its intermediate checkpoints (checkpoints/step_<n>/).
# ZOO = evidence/zoo/<SCALE>/seed_{seed}.
rule zoo_model:
    output: arx_metrics("zoo_train", paper="zoo", out=f"{ZOO}/{{model_id}}"), f"{ZOO}/{{model_id}}/model.safetensors", f"{ZOO}/{{model_id}}/corpus.jsonl"
    shell: arx_run("zoo_train", paper="zoo", out=f"{ZOO}/{{model_id}}", model_id="{wildcards.model_id}")
