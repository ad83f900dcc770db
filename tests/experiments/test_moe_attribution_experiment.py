"""The MoE attribution experiments end to end on tiny local checkpoints: every metric key a claim reads exists, at
small scale (zoo layout: model + tokenizer + corpus.jsonl + checkpoints) and at paper scale (checkpoints_root); the
YAML validates against the typed Configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from pydantic import ValidationError

import arx.experiments as registry
from arx.data import train_tokenizer
from arx.experiments import RUNTIME_KEYS, RunContext
from arx.experiments import moe_attribution as X
from arx.methods.attribution.fact_files import jsonl_facts
from arx.models import build_model, save_model

torch.set_num_threads(1)

ROOT = Path(__file__).parents[2]
CONFIG_PATH = "workflows/config/moe_attribution.yaml"
EXPERIMENTS = ("moe_attribution_cross", "moe_attribution_blocking", "moe_attribution_lpi")
# keys whose value may be undefined (None) by design: a ratio over a random control that did nothing
MAY_BE_NONE = {"summary.top_over_random_min", "in_sample.top_over_random_min", "efficiency.ratio_min",
               "refinement.routed_minus_shared_geographic_share"}
CLAIM_KEYS = {"moe_attribution_blocking": ["summary.olmoe_minus_qwen2_moe_mrr_drop", "summary.top_over_random_min",
                                           "in_sample.top_over_random_min", "task_sensitivity.geographic_minus_attribute_min",
                                           "refinement.routed_minus_shared_geographic_share",
                                           "refinement.shared_drop_min"],
              "moe_attribution_cross": ["coordination.r", "coordination.p", "head_masking.dense_minus_moe_hit10_drop",
                                        "efficiency.ratio_min"],
              "moe_attribution_lpi": ["backbone.moe_top_share", "backbone.dense_top_share",
                                      "consolidation.early_moe_minus_dense", "consolidation.mean_moe_minus_dense"]}
CONFIG = yaml.safe_load((ROOT / CONFIG_PATH).read_text())
NAMES = ["anna", "ben", "carla", "dmitri", "elena", "farid"]
RELATIONS = {"lives in": ["lindau", "orvik"], "works as": ["baker", "pilot"]}
KINDS = {"lives in": "geographic", "works as": "attribute"}
FACTS = [{"prompt": f"{n} {r}", "object": objs[i % 2], "relation": r, "kind": KINDS[r], "split": "train"}
         for i, n in enumerate(NAMES) for r, objs in RELATIONS.items()]


def registered() -> dict:
    """This module's registered experiments (importing it registered them)."""
    return {name: registry._REGISTRY[name] for name in EXPERIMENTS}


def _get(d, dotted):
    for k in dotted.split("."):
        d = d[k]
    return d


def _tiny_checkpoint(directory, family, tok):
    """A tiny model saved like the zoo saves one: save_pretrained + tokenizer + corpus + 3 checkpoints."""
    model = build_model(family, "xs", len(tok), seed=1)
    save_model(model, directory, tok)
    probe = {"prompt": "ben lives in", "object": "zzz", "relation": "lives in", "split": "probe"}  # never trained
    (directory / "corpus.jsonl").write_text("".join(json.dumps(f) + "\n" for f in [*FACTS, probe]))
    for step in (1, 2, 3):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * torch.randn_like(p))
        model.save_pretrained(directory / "checkpoints" / f"step_{step}")


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    tok = train_tokenizer([f"{f['prompt']} {f['object']}" for f in FACTS], vocab_size=60)
    for family, reg in (("qwen2_moe", "qwen2_moe"), ("olmoe", "olmoe"), ("llama", "llama")):
        _tiny_checkpoint(root / f"{family}_facts", reg, tok)
    return root


def _run(cfgs, extra, out):
    exps = registered()
    small = {"n_facts": 12, **extra}  # each Config rejects keys it does not read: overrides go where they apply
    runs = {"moe_attribution_cross": ({**cfgs["moe_attribution_cross"], **small, "ig_steps": 2, "permutations": 20,
                                       "mask_heads": 2}, "c"),
            "moe_attribution_blocking": ({**cfgs["moe_attribution_blocking"], **small, "ig_steps": 2, "k": 2,
                                          "curve_k": [1, 2], "random_draws": 1}, "b"),
            "moe_attribution_lpi": ({**cfgs["moe_attribution_lpi"], **small, "steps": 2, "max_steps": 8}, "l")}
    metrics = {}
    for name, (raw, sub) in runs.items():
        cfg = exps[name].config.model_validate(raw)
        metrics[name] = exps[name].run(cfg, RunContext(out=out / sub, seed=0)).model_dump(mode="json")
    return metrics


def test_small_scale_reads_zoo_models_and_reports_every_claim_key(zoo, tmp_path):
    metrics = _run(CONFIG["small"], {"zoo_dir": str(zoo)}, tmp_path)
    for name, keys in CLAIM_KEYS.items():
        for key in keys:
            value = _get(metrics[name], key)
            assert isinstance(value, float) or (key in MAY_BE_NONE and value is None), (name, key, value)
    cross, block, lpi = (metrics[k] for k in EXPERIMENTS)
    assert cross["qwen2_moe"]["ranking"]["n"] == 12  # the probe line (never trained) is skipped
    assert set(block["qwen2_moe"]["relations"]) == {"0", "1"}
    assert len(lpi["olmoe"]["pairs"]) == 2 and lpi["backbone"]["dense_top_share"] > 0
    for family in ("olmoe", "llama"):  # adaptive quadrature: within budget, and the count of pairs that met rtol
        evals, shares = lpi[family]["evaluations_per_pair"], lpi[family]["residual_share_per_pair"]
        assert all(2 <= e <= 8 for e in evals)
        assert lpi[family]["pairs_within_rtol"] == sum(x <= 0.05 for x in shares)
        assert all(e == 8 or x <= 0.05 for e, x in zip(evals, shares))  # stopped early only once within rtol
    refinement = block["refinement"]
    assert refinement["model"] == "qwen2_moe"  # the one model with a shared expert
    assert refinement["routed_drop"]["geographic"] == pytest.approx(block["qwen2_moe"]["relations"]["0"]["drop_top"]["mrr"])
    summary = block["summary"]
    ratios = summary["top_over_random"]
    for f, r in ratios.items():  # a ratio is defined exactly when the random control's drop is positive
        rnd = summary["mrr_drop_random"][f]
        assert (r is None) == (rnd <= 0)
        if r is not None:
            assert r == pytest.approx(summary["mrr_drop_top"][f] / rnd)
    defined = [r for r in ratios.values() if r is not None]
    assert summary["top_over_random_min"] == (min(defined) if len(defined) == len(ratios) else None)
    assert block["curves"]["k"] == [1, 2]
    for name, plot in [("c", "layer_profiles.png"), ("b", "blocking_curves.png"), ("l", "concentration_curves.png")]:
        assert (tmp_path / name / plot).stat().st_size > 1000


def test_paper_scale_path_runs_on_local_checkpoints(zoo, tmp_path):
    """Paper scale = the same experiments on checkpoints from checkpoints_root and facts from a JSONL file."""
    paper = CONFIG["paper"]
    for family, repo in paper["moe_attribution_cross"]["checkpoints"].items():
        (tmp_path / repo.split("/")[-1]).symlink_to(zoo / f"{family}_facts", target_is_directory=True)
    (tmp_path / "facts.jsonl").write_text("".join(json.dumps(f) + "\n" for f in FACTS))
    metrics = _run(paper, {"checkpoints_root": str(tmp_path), "facts_jsonl": str(tmp_path / "facts.jsonl")},
                   tmp_path / "out")
    assert -1 <= metrics["moe_attribution_cross"]["coordination"]["r"] <= 1
    top_min = metrics["moe_attribution_blocking"]["summary"]["top_over_random_min"]
    assert top_min is None or isinstance(top_min, float)


def test_blocking_summary_ratio_is_undefined_when_the_random_control_did_nothing():
    means = {"qwen2_moe": {"drop_top_mrr": 0.4, "drop_random_mrr": 0.2},
             "olmoe": {"drop_top_mrr": 0.3, "drop_random_mrr": 0.0}}
    s = X._blocking_summary(means, 4)
    assert s["top_over_random"] == {"qwen2_moe": pytest.approx(2.0), "olmoe": None}
    assert s["top_over_random_min"] is None
    means["olmoe"]["drop_random_mrr"] = 0.1
    assert X._blocking_summary(means, 4)["top_over_random_min"] == pytest.approx(2.0)


def test_missing_inputs_name_the_fix(tmp_path, zoo):
    src = X.ModelSource
    with pytest.raises(FileNotFoundError, match="rule zoo_model"):
        X.load(src(zoo_dir=str(tmp_path), zoo_models={"olmoe": "olmoe_facts"}), "olmoe")
    with pytest.raises(ValueError, match="zoo_models.olmoe to a model_id"):
        X.load(src(zoo_dir=str(tmp_path), zoo_models={}), "olmoe")
    with pytest.raises(ValueError, match="set zoo_dir"):
        X.load(src(zoo_models={"olmoe": "olmoe_facts"}), "olmoe")
    with pytest.raises(FileNotFoundError, match="huggingface-cli download allenai/OLMoE-1B-7B-0924"):
        X.load(src(checkpoints={"olmoe": "allenai/OLMoE-1B-7B-0924"}, checkpoints_root=str(tmp_path)), "olmoe")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "anna lives in", "object": "lindau"}\n')
    with pytest.raises(ValueError, match="lines \\[1\\] lack prompt/object/relation"):
        jsonl_facts(bad, None)


@pytest.mark.parametrize("scale", list(CONFIG))
def test_every_yaml_section_validates_against_its_config(scale):
    """Every experiment of every scale section of moe_attribution.yaml validates (runtime keys dropped)."""
    from arx.artifact.config import build_config

    exps = registered()
    for name in EXPERIMENTS:
        cfg = build_config(ROOT, scale, name, CONFIG_PATH, [])
        typed = exps[name].config.model_validate({k: v for k, v in cfg.items() if k not in RUNTIME_KEYS})
        assert typed.n_facts is not None and typed.n_facts > 0


def test_unknown_key_is_rejected():
    base = dict(CONFIG["small"]["moe_attribution_blocking"])
    X.BlockingConfig.model_validate(base)
    with pytest.raises(ValidationError):
        X.BlockingConfig.model_validate({**base, "mask_heads": 2})
    with pytest.raises(ValidationError):
        X.CrossConfig.model_validate({**CONFIG["small"]["moe_attribution_cross"], "ig_step": 16})
    with pytest.raises(ValidationError):
        X.LpiConfig.model_validate({**CONFIG["small"]["moe_attribution_lpi"], "top_frac": 0.01})


def test_held_out_split_is_a_disjoint_cover_fixed_by_the_seed():
    """Why: units chosen on the facts they are judged on fit their noise; the split must not overlap, must use every
    fact once, and must be the same for every model of a seed (so the MoE and the dense model see the same halves)."""
    from arx.methods.attribution.prompts import FactBatch

    n = 11
    batch = FactBatch(torch.arange(n)[:, None], torch.ones(n, 1, dtype=torch.long), torch.zeros(n, dtype=torch.long),
                      torch.arange(n), torch.zeros(n, dtype=torch.long))
    sel, held, idx = X.split_facts(batch, 0.5, seed=3)
    assert sorted(sel.target.tolist() + held.target.tolist()) == list(range(n)) and len(sel) == 6
    assert sel.target.tolist() == idx.tolist() == X.split_facts(batch, 0.5, seed=3)[2].tolist()
    assert X.split_facts(batch, 0.5, seed=4)[2].tolist() != idx.tolist()
    with pytest.raises(ValueError, match="empty split"):
        X.split_facts(batch, 0.01, seed=0)


def test_consolidation_and_task_sensitivity_by_hand():
    got = X._consolidation([0.2, 0.4, 0.9], [0.0, 0.1, 0.8])  # early = the first 2 of 3 stabilities
    assert got["moe_early"] == pytest.approx(0.3) and got["dense_early"] == pytest.approx(0.05)
    assert got["early_moe_minus_dense"] == pytest.approx(0.25) and got["mean_moe_minus_dense"] == pytest.approx(0.2)
    rel = {"0": {"drop_top": {"mrr": 0.8}}, "1": {"drop_top": {"mrr": 0.2}}, "2": {"drop_top": {"mrr": 0.6}}}
    res = {"olmoe": {"relations": rel}, "qwen2_moe": {"relations": {k: {"drop_top": {"mrr": 0.5}} for k in rel}}}
    kinds = {0: "geographic", 1: "attribute", 2: "geographic"}
    ts = X._task_sensitivity(res, {"qwen2_moe": kinds, "olmoe": kinds})
    assert ts["geographic"]["olmoe"] == pytest.approx(0.7) and ts["attribute"]["olmoe"] == pytest.approx(0.2)
    assert ts["geographic_minus_attribute"] == pytest.approx({"olmoe": 0.5, "qwen2_moe": 0.0})
    assert ts["geographic_minus_attribute_min"] == pytest.approx(0.0)
    assert X._task_sensitivity(res, {"qwen2_moe": None, "olmoe": kinds}) is None


def test_refinement_by_hand():
    shared = {"0": {"drop": {"mrr": 0.3}}, "1": {"drop": {"mrr": 0.3}}, "2": {"drop": {"mrr": 0.1}}}
    routed = {"0": {"drop_top": {"mrr": 0.6}}, "1": {"drop_top": {"mrr": 0.2}}, "2": {"drop_top": {"mrr": 0.2}}}
    kinds = {0: "geographic", 1: "attribute", 2: "geographic"}
    got = X._refinement("qwen2_moe", shared, routed, kinds)
    assert got["shared_drop"] == pytest.approx({"geographic": 0.2, "attribute": 0.3})
    assert got["routed_drop"] == pytest.approx({"geographic": 0.4, "attribute": 0.2})
    assert got["shared_geographic_share"] == pytest.approx(0.4) and got["routed_geographic_share"] == pytest.approx(2 / 3)
    assert got["routed_minus_shared_geographic_share"] == pytest.approx(2 / 3 - 0.4)
    assert got["shared_drop_min"] == pytest.approx(0.2)
    nothing = {k: {"drop": {"mrr": 0.0}} for k in shared}  # no drop at all: the share is undefined, not 0 or 1
    assert X._refinement("qwen2_moe", nothing, routed, kinds)["routed_minus_shared_geographic_share"] is None
    assert X._refinement("qwen2_moe", shared, routed, None) is None


def test_selection_fraction_outside_zero_one_is_a_config_error():
    """Why: a fraction of 0 or 1 leaves one split empty; the typed config rejects it before anything runs."""
    base = {**CONFIG["small"]["moe_attribution_blocking"]}
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValidationError, match="selection_fraction"):
            X.BlockingConfig.model_validate({**base, "selection_fraction": bad})
    assert X.BlockingConfig.model_validate(base).selection_fraction == 0.5
