# Zoo models (issue 4): one trained model per model_id, loaded downstream with arx.models.load_model(dir), next to
# the corpus it was trained on (corpus.jsonl) and its intermediate checkpoints (checkpoints/step_<n>/).
rule zoo_model:
    output: arx_metrics("zoo_train", paper="zoo", out=f"evidence/zoo/{SCALE}/{{model_id}}"), f"evidence/zoo/{SCALE}/{{model_id}}/model.safetensors", f"evidence/zoo/{SCALE}/{{model_id}}/corpus.jsonl"
    shell: arx_run("zoo_train", paper="zoo", out=f"evidence/zoo/{SCALE}/{{model_id}}", model_id="{wildcards.model_id}")
