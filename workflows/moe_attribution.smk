# MoE knowledge attribution (logic/papers/moe_{knowledge_attribution,pretraining_dynamics}.yaml). Rules only wire
# entry points: code/arx/experiments/moe_attribution.py. moe_attribution_base trains the three fact models
# (save_pretrained dirs + checkpoints in its evidence) at small/medium scale; at paper scale the analyses read the
# published checkpoints (workflows/config/moe_attribution.yaml).

MOE_ATTR_MODELS = [] if SCALE == "paper" else [
    f"evidence/moe_attribution/moe_attribution_base/models/{m}/model.safetensors" for m in ("qwen2moe", "olmoe", "llama")]

rule moe_attribution_base:
    output: arx_metrics("moe_attribution_base", paper="moe_attribution"),
            [f"evidence/moe_attribution/moe_attribution_base/models/{m}/model.safetensors"
             for m in ("qwen2moe", "olmoe", "llama")]
    shell:  arx_run("moe_attribution_base", paper="moe_attribution")

rule moe_attribution_cross:
    input:  MOE_ATTR_MODELS
    output: arx_metrics("moe_attribution_cross", paper="moe_attribution")
    shell:  arx_run("moe_attribution_cross", paper="moe_attribution")

rule moe_attribution_blocking:
    input:  MOE_ATTR_MODELS
    output: arx_metrics("moe_attribution_blocking", paper="moe_attribution")
    shell:  arx_run("moe_attribution_blocking", paper="moe_attribution")

rule moe_attribution_lpi:
    input:  MOE_ATTR_MODELS
    output: arx_metrics("moe_attribution_lpi", paper="moe_attribution")
    shell:  arx_run("moe_attribution_lpi", paper="moe_attribution")
