# Zoo models (issue 4): one trained model per model_id, loaded downstream with arx.models.load_model(dir).
rule zoo_model:
    output: arx_metrics("zoo_train", paper="zoo", out=f"evidence/zoo/{SCALE}/{{model_id}}"), f"evidence/zoo/{SCALE}/{{model_id}}/model.safetensors"
    shell: arx_run("zoo_train", paper="zoo", out=f"evidence/zoo/{SCALE}/{{model_id}}", model_id="{wildcards.model_id}")
