"""The LoTA-QAF experiments end to end on a tiny world (seconds): keys the claims read exist, the merge is
lossless on the real pipeline and the LoRA re-quantized merge is not; the YAML validates against the Configs."""

import math
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

import arx.experiments as registry
from arx.experiments import RUNTIME_KEYS, RunContext
from arx.experiments import lotaqaf as L

ROOT = Path(__file__).parents[2]
CONFIG = "workflows/config/lotaqaf.yaml"
EXPERIMENTS = ("lotaqaf_base", "lotaqaf_mmlu", "lotaqaf_task")


def registered() -> dict:
    """This module's registered experiments (importing it registered them; ``arx.experiments.registered()``
    imports every sibling module too, which this test does not need)."""
    return {name: registry._REGISTRY[name] for name in EXPERIMENTS}

WORLD = {"n_subjects": 64, "n_relations": 2, "n_objects": 16, "n_aliases": 2}
FINETUNE = {
    "world": WORLD,
    "group_size": 16,
    "batch_size": 16,
    "lota": {"rank": 8, "omega_grid": [2, 4], "steps": 8, "sigma0": 0.95, "sigma1": 0.999, "sigma2": 0.9999},
    "lora": {"rank": 4, "alpha": 8, "lr_grid": [0.001, 0.01], "steps": 8},
}
BASE = L.BaseConfig.model_validate({
    "world": WORLD,
    "model": {"hidden_size": 32, "intermediate_size": 64, "num_layers": 1, "num_heads": 2},
    "train": {"steps": 60, "batch_size": 32, "lr": 0.01},
})


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("base")
    metrics = L.BaseMetrics.model_validate(L.base_model(BASE, RunContext(out=out, seed=0)))
    assert metrics.n_params > 0 and math.isfinite(metrics.loss_last)
    return out / "model"


def test_world_splits_are_disjoint_and_deterministic():
    w1, w2 = L.world_from(BASE.world, 0), L.world_from(BASE.world, 0)
    assert torch.equal(w1.objects, w2.objects)
    sets = [set(w1.train_subjects.tolist()), set(w1.val_subjects.tolist()), set(w1.test_subjects.tolist())]
    assert sum(len(s) for s in sets) == 64 and len(set.union(*sets)) == 64
    prompts, options = w1.mc_questions(w1.test_subjects)
    assert options.shape[1] == 4 and bool((options[:, :1] != options[:, 1:]).all())


def test_mmlu_and_task_experiments_produce_claim_keys(base_dir, tmp_path):
    exps = registered()
    ctx = RunContext(out=tmp_path, seed=0)
    mcfg = L.MmluConfig.model_validate(dict(FINETUNE, base_dir=str(base_dir), candidate_bits=[4, 3], low_bits=2))
    m = exps["lotaqaf_mmlu"].run(mcfg, ctx)
    assert m.lossless_merge.lota_max_abs_logit_diff == 0.0
    # the width is chosen on the validation subjects: the one whose RTN loses more there (ties: fewer bits)
    fp_val = L.mc_accuracy(L.load_base(str(base_dir), ctx), L.world_from(L.BaseConfig.model_validate(
        BASE.model_dump()).world, 0), L.world_from(BASE.world, 0).val_subjects)
    drop = {int(b): fp_val - a for b, a in m.rtn_val_acc_by_bits.items()}
    assert m.chosen_bits == max(drop, key=lambda b: (drop[b], -b))
    sel = m.accuracy.selection
    assert set(sel.lota_val_acc_by_omega) == {"2", "4"} and set(sel.lora_val_acc_by_lr) == {"0.001", "0.01"}
    assert sel.lota_val_acc_by_omega[f"{sel.lota_omega:g}"] == max(sel.lota_val_acc_by_omega.values())
    assert sel.lora_val_acc_by_lr[f"{sel.lora_lr:g}"] == max(sel.lora_val_acc_by_lr.values())
    assert m.vs_lora_merged.lota_minus_lora16 == m.accuracy.lota_merged - m.accuracy.qlora_unmerged
    assert m.low_bit.accuracy.bits == 2 and m.low_bit.accuracy.lota_merge_max_abs_logit_diff == 0.0
    assert m.lossless_merge.qlora_requant_max_abs_logit_diff > 0.0
    assert m.chosen_bits in (3, 4) and math.isfinite(m.recovery.fraction_recovered)
    assert "lota_minus_qlora_requant" in m.vs_lora_merged.model_dump()
    items = m.accuracy.per_item["lota_merged"]
    assert len(items) == 16 * 2 and sum(items) / len(items) == m.accuracy.lota_merged
    tcfg = L.TaskConfig.model_validate(dict(FINETUNE, base_dir=str(base_dir), bits=4))
    t = exps["lotaqaf_task"].run(tcfg, ctx)
    assert math.isfinite(t.task_specific.lota_minus_lora16)
    assert len(t.accuracy.per_item["qlora_unmerged"]) == 16 * 2


def test_missing_base_model_names_the_rule(tmp_path):
    with pytest.raises(FileNotFoundError, match="lotaqaf_base"):
        L.load_base(str(tmp_path / "nope"), RunContext(out=tmp_path))


def _scales() -> list[str]:
    import yaml

    return list(yaml.safe_load((ROOT / CONFIG).read_text()))


@pytest.mark.parametrize("scale", _scales())
def test_every_yaml_section_validates_against_its_config(scale):
    """Every experiment of every scale section of lotaqaf.yaml validates (runtime keys dropped)."""
    from arx.artifact.config import build_config

    exps = registered()
    for name in EXPERIMENTS:
        cfg = build_config(ROOT, scale, name, CONFIG, [])
        typed = exps[name].config.model_validate({k: v for k, v in cfg.items() if k not in RUNTIME_KEYS})
        assert typed.world.n_subjects > 0


def test_unknown_key_is_rejected():
    with pytest.raises(ValidationError):
        L.TaskConfig.model_validate(dict(FINETUNE, base_dir="x", bits=4, ig_steps=16))
    with pytest.raises(ValidationError):
        L.BaseConfig.model_validate({**BASE.model_dump(), "model": {**BASE.model.model_dump(), "n_layer": 2}})


def test_best_on_validation_keeps_the_first_best_and_records_every_value():
    trained = []
    value, model, scores = L.best_on_validation([1.0, 2.0, 3.0], lambda v: trained.append(v) or v * 10,
                                                lambda m: {10.0: 0.5, 20.0: 0.7, 30.0: 0.7}[m])
    assert (value, model, trained) == (2.0, 20.0, [1.0, 2.0, 3.0]) and scores == {"1": 0.5, "2": 0.7, "3": 0.7}
    with pytest.raises(ValueError, match="empty"):
        L.best_on_validation([], lambda v: v, lambda m: 0.0)
