"""The LoTA-QAF experiments end to end on a tiny world (seconds): keys the claims read exist, the merge is
lossless on the real pipeline and the LoRA re-quantized merge is not."""

import math
from pathlib import Path

import pytest
import torch

from arx.experiments import lotaqaf as L

TINY = {
    "seed": 0,
    "world": {"n_subjects": 64, "n_relations": 2, "n_objects": 16, "n_aliases": 2},
    "model": {"hidden_size": 32, "intermediate_size": 64, "num_layers": 1, "num_heads": 2},
    "train": {"steps": 60, "batch_size": 32, "lr": 0.01},
    "candidate_bits": [4, 3],
    "group_size": 16,
    "batch_size": 16,
    "lota": {"rank": 8, "omega": 4, "steps": 8, "sigma0": 0.95, "sigma1": 0.999, "sigma2": 0.9999},
    "lora": {"rank": 4, "alpha": 8, "lr": 0.01, "steps": 8},
    "bits": 4,
}


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("base")
    metrics = L.base_model(dict(TINY), out)
    assert metrics["n_params"] > 0 and math.isfinite(metrics["loss_last"])
    return out / "model"


def test_world_splits_are_disjoint_and_deterministic():
    w1, w2 = L.world_from(TINY), L.world_from(TINY)
    assert torch.equal(w1.objects, w2.objects)
    sets = [set(w1.train_subjects.tolist()), set(w1.val_subjects.tolist()), set(w1.test_subjects.tolist())]
    assert sum(len(s) for s in sets) == 64 and len(set.union(*sets)) == 64
    prompts, options = w1.mc_questions(w1.test_subjects)
    assert options.shape[1] == 4 and bool((options[:, :1] != options[:, 1:]).all())


def test_mmlu_and_task_experiments_produce_claim_keys(base_dir, tmp_path):
    cfg = dict(TINY, base_dir=str(base_dir))
    m = L.mmlu_recovery(cfg, tmp_path)
    assert m["lossless_merge"]["lota_max_abs_logit_diff"] == 0.0
    assert m["lossless_merge"]["qlora_requant_max_abs_logit_diff"] > 0.0
    assert m["chosen_bits"] in (3, 4) and math.isfinite(m["recovery"]["fraction_recovered"])
    assert "lota_minus_qlora_requant" in m["vs_lora_merged"]
    t = L.task_specific(cfg, tmp_path)
    assert math.isfinite(t["task_specific"]["lota_minus_lora16"])


def test_missing_base_model_names_the_rule(tmp_path):
    with pytest.raises(FileNotFoundError, match="lotaqaf_base"):
        L.load_base({"base_dir": str(tmp_path / "nope")})


@pytest.mark.parametrize("scale", ["small", "medium"])
def test_config_loads_through_the_artifact_loader(scale):
    """The strict loader of arx.run (duplicate keys are errors) accepts every experiment of every scale."""
    from arx.artifact.config import build_config

    root = Path(__file__).parents[3]
    for name in ("lotaqaf_base", "lotaqaf_mmlu", "lotaqaf_task"):
        cfg = build_config(root, scale, name, "workflows/config/lotaqaf.yaml", [])
        assert cfg["world"]["n_subjects"] > 0
