"""The MoE attribution experiments end to end on tiny local checkpoints: every metric key a claim reads exists, at
small scale (zoo layout: model + tokenizer + corpus.jsonl + checkpoints) and at paper scale (checkpoints_root)."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from arx.data import train_tokenizer
from arx.experiments import moe_attribution as X
from arx.models import build_model, save_model

torch.set_num_threads(1)

CLAIM_KEYS = {"moe_attribution_blocking": ["summary.olmoe_minus_qwen2moe_mrr_drop", "summary.top_over_random_min"],
              "moe_attribution_cross": ["coordination.r", "coordination.p", "head_masking.dense_minus_moe_hit10_drop",
                                        "efficiency.ratio_min"],
              "moe_attribution_lpi": ["backbone.moe_top_share", "backbone.dense_top_share"]}
CONFIG = yaml.safe_load(open("workflows/config/moe_attribution.yaml"))
NAMES = ["anna", "ben", "carla", "dmitri", "elena", "farid"]
RELATIONS = {"lives in": ["lindau", "orvik"], "works as": ["baker", "pilot"]}
FACTS = [{"prompt": f"{n} {r}", "object": objs[i % 2], "relation": r, "split": "train"}
         for i, n in enumerate(NAMES) for r, objs in RELATIONS.items()]


def _get(d, dotted):
    for k in dotted.split("."):
        d = d[k]
    return d


def _tiny_checkpoint(directory, family, tok):
    """A tiny model saved like the zoo saves one: save_pretrained + tokenizer + corpus + 3 checkpoints."""
    model = build_model(family, "tiny", len(tok), seed=1)
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
    for family, registry in (("qwen2moe", "qwen2_moe"), ("olmoe", "olmoe"), ("llama", "llama")):
        _tiny_checkpoint(root / f"{family}_facts", registry, tok)
    return root


def _run(cfgs, extra, out):
    small = {"n_facts": 12, "permutations": 20, "ig_steps": 2, **extra}
    return {"moe_attribution_cross": X.cross({**cfgs["moe_attribution_cross"], **small, "mask_heads": 2}, out / "c"),
            "moe_attribution_blocking": X.block({**cfgs["moe_attribution_blocking"], **small, "k": 2,
                                                 "curve_k": [1, 2], "random_draws": 1}, out / "b"),
            "moe_attribution_lpi": X.lpi({**cfgs["moe_attribution_lpi"], **small, "steps": 2}, out / "l")}


def test_small_scale_reads_zoo_models_and_reports_every_claim_key(zoo, tmp_path):
    metrics = _run(CONFIG["small"], {"zoo_dir": str(zoo)}, tmp_path)
    for name, keys in CLAIM_KEYS.items():
        for key in keys:
            assert isinstance(_get(metrics[name], key), float), (name, key)
    cross, block, lpi = (metrics[k] for k in ("moe_attribution_cross", "moe_attribution_blocking",
                                              "moe_attribution_lpi"))
    assert cross["qwen2moe"]["ranking"]["n"] == 12  # the probe line (never trained) is skipped
    assert set(block["qwen2moe"]["relations"]) == {"0", "1"}
    assert len(lpi["olmoe"]["pairs"]) == 2 and lpi["backbone"]["dense_top_share"] > 0
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
    assert isinstance(metrics["moe_attribution_blocking"]["summary"]["top_over_random_min"], float)


def test_missing_inputs_name_the_fix(tmp_path, zoo):
    with pytest.raises(FileNotFoundError, match="rule zoo_model"):
        X.load({"zoo_dir": str(tmp_path), "zoo_models": {"olmoe": "olmoe_facts"}}, "olmoe")
    with pytest.raises(ValueError, match="zoo_models.olmoe to a model_id"):
        X.load({"zoo_dir": str(tmp_path), "zoo_models": {}}, "olmoe")
    with pytest.raises(ValueError, match="set zoo_dir"):
        X.load({"zoo_models": {"olmoe": "olmoe_facts"}}, "olmoe")
    with pytest.raises(FileNotFoundError, match="huggingface-cli download allenai/OLMoE-1B-7B-0924"):
        X.load({"checkpoints": {"olmoe": "allenai/OLMoE-1B-7B-0924"}, "checkpoints_root": str(tmp_path)}, "olmoe")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "anna lives in", "object": "lindau"}\n')
    with pytest.raises(ValueError, match="lines \\[1\\] lack prompt/object/relation"):
        X.jsonl_facts(bad, None)
