"""The MoE attribution experiments end to end on a tiny config: every metric key a claim reads exists."""

from __future__ import annotations

import copy

import pytest
import torch
import yaml

from arx.experiments import moe_attribution as X

torch.set_num_threads(1)

CLAIM_KEYS = {"moe_attribution_blocking": ["summary.olmoe_minus_qwen2moe_mrr_drop", "summary.top_over_random_min"],
              "moe_attribution_cross": ["coordination.r", "coordination.p", "head_masking.dense_minus_moe_hit10_drop",
                                        "efficiency.ratio_min"],
              "moe_attribution_lpi": ["backbone.moe_top_share", "backbone.dense_top_share"]}


def _get(d, dotted):
    for k in dotted.split("."):
        d = d[k]
    return d


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    small = yaml.safe_load(open("workflows/config/moe_attribution.yaml"))["small"]
    world = {"n_name_tokens": 4, "n_subjects": 12, "n_relations": 2, "n_objects_per_relation": 4}
    cfgs = copy.deepcopy(small)
    base = cfgs["moe_attribution_base"]
    base.update(world=world, train={"steps": 6, "batch_size": 8, "lr": 0.003, "ckpt_every": 2})
    for m in base["models"].values():
        m.update(hidden_size=16, num_heads=2, num_layers=2)
    out = tmp_path_factory.mktemp("moe")
    metrics = {"moe_attribution_base": X.base(base, out / "base")}
    for name in CLAIM_KEYS:
        cfg = {**cfgs[name], "world": world, "models_dir": str(out / "base" / "models"), "n_facts": 16,
               "permutations": 20, "ig_steps": 2}
        if name == "moe_attribution_blocking":
            cfg.update(k=2, curve_k=[1, 2], random_draws=1)
        metrics[name] = X.__dict__[{"moe_attribution_cross": "cross", "moe_attribution_blocking": "block",
                                    "moe_attribution_lpi": "lpi"}[name]](cfg, out / name)
    return out, metrics


def test_claim_keys_exist_and_are_numbers(run):
    _, metrics = run
    for name, keys in CLAIM_KEYS.items():
        for key in keys:
            assert isinstance(_get(metrics[name], key), float), (name, key)


def test_plots_and_checkpoints_are_written(run):
    out, metrics = run
    assert metrics["moe_attribution_base"]["olmoe"]["checkpoints"] == [2, 4, 6]
    for name, plot in [("moe_attribution_cross", "layer_profiles.png"), ("moe_attribution_blocking",
                       "blocking_curves.png"), ("moe_attribution_lpi", "concentration_curves.png")]:
        assert (out / name / plot).stat().st_size > 1000


def test_fact_world_is_deterministic_and_well_formed():
    cfg = {"world": {"n_name_tokens": 5, "n_subjects": 10, "n_relations": 3, "n_objects_per_relation": 4}, "seed": 3}
    (a, vocab), (b, _) = X.fact_world(cfg), X.fact_world(cfg)
    assert torch.equal(a.ids, b.ids) and torch.equal(a.target, b.target)
    assert len(a) == 30 and int(a.target.max()) < vocab
    obj0 = 2 + 2 * 5 + 3
    for r in range(3):  # each relation type has its own object vocabulary
        t = a.target[a.relation == r]
        assert bool(((t >= obj0 + 4 * r) & (t < obj0 + 4 * (r + 1))).all())


def test_missing_model_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="moe_attribution_base"):
        X.load({"models_dir": str(tmp_path)}, "olmoe")
    with pytest.raises(FileNotFoundError, match="huggingface-cli download allenai/OLMoE-1B-7B-0924"):
        X.load({"checkpoints": {"olmoe": "allenai/OLMoE-1B-7B-0924"}, "checkpoints_root": str(tmp_path)}, "olmoe")


def test_paper_scale_path_runs_on_local_checkpoints(tmp_path):
    """Paper scale = the same experiments on checkpoints loaded with from_pretrained from checkpoints_root and facts
    from a JSONL file; here the 'published' checkpoints are tiny ones saved by the zoo (no hub)."""
    import json

    from arx.data import train_tokenizer
    from arx.models import build_model, save_model

    names, rels = ["anna", "ben", "carla", "dmitri", "elena", "farid"], {"lives in": ["lindau", "orvik"],
                                                                          "works as": ["baker", "pilot"]}
    facts = [{"prompt": f"{n} {r}", "object": objs[i % 2], "relation": r}
             for i, n in enumerate(names) for r, objs in rels.items()]
    tok = train_tokenizer([f"{f['prompt']} {f['object']}" for f in facts], vocab_size=60)
    paper = yaml.safe_load(open("workflows/config/moe_attribution.yaml"))["paper"]
    for family, repo in paper["moe_attribution_cross"]["checkpoints"].items():
        model = build_model({"qwen2moe": "qwen2_moe"}.get(family, family), "tiny", len(tok), seed=1)
        d = save_model(model, tmp_path / repo.split("/")[-1], tok)
        for step in (1, 2, 3):  # intermediate checkpoints for Gated-LPI
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(0.01 * torch.randn_like(p))
            model.save_pretrained(d / "checkpoints" / f"step_{step}")
    (tmp_path / "facts.jsonl").write_text("".join(json.dumps(f) + "\n" for f in facts))
    local = {"checkpoints_root": str(tmp_path), "facts_jsonl": str(tmp_path / "facts.jsonl"), "n_facts": 12,
             "permutations": 20, "ig_steps": 2}
    cross = X.cross({**paper["moe_attribution_cross"], **local, "mask_heads": 2}, tmp_path / "cross")
    block = X.block({**paper["moe_attribution_blocking"], **local, "k": 2, "curve_k": [1, 2], "random_draws": 1},
                    tmp_path / "block")
    lpi = X.lpi({**paper["moe_attribution_lpi"], **local, "steps": 2}, tmp_path / "lpi")
    assert cross["qwen2moe"]["ranking"]["n"] == 12 and -1 <= cross["coordination"]["r"] <= 1
    assert set(block["qwen2moe"]["relations"]) == {"0", "1"}
    assert len(lpi["olmoe"]["pairs"]) == 2 and lpi["backbone"]["dense_top_share"] > 0
