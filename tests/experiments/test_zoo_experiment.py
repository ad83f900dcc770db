"""The zoo_train experiment on every data kind at tiny scale; expert load hand-checked on known top-k choices; the
zoo YAML validates against its Config."""

import json
import math
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

import arx.experiments as registry
from arx.data import train_tokenizer
from arx.experiments import RUNTIME_KEYS, RunContext
from arx.experiments.zoo import ZooConfig, load_metrics, routing_stats, zoo_train
from arx.methods.routing import RoutingStats
from arx.models import build_model, get_adapter, load_model

torch.set_num_threads(1)
ROOT = Path(__file__).parents[2]
CONFIG = "workflows/config/zoo.yaml"


def test_expert_load_hand_checked():
    """Two layers, 4 experts, top-2, 4 tokens: load = share of tokens whose top-2 includes the expert."""
    topk = [torch.tensor([[0, 1], [0, 2], [0, 1], [3, 0]]), torch.tensor([[1, 2], [3, 2], [0, 1], [2, 3]])]
    counts = torch.stack([torch.bincount(t.flatten(), minlength=4) for t in topk]).double()[:, None, :]
    stats = RoutingStats(["all"], [0, 1], counts, torch.tensor([4.0], dtype=torch.float64), 2)
    assert stats.expert_load()[0].tolist() == [1.0, 0.5, 0.25, 0.25]  # expert 0 gets every token of layer 0
    assert stats.distribution()[0, 0].tolist() == [0.5, 0.25, 0.125, 0.125]  # share of routing assignments
    m = load_metrics(stats)
    assert m["max_expert_load_by_layer"] == [1.0, 0.75] and m["max_expert_load"] == 1.0
    assert m["uniform_expert_load"] == 0.5 and m["tokens"] == 4 and m["top_k"] == 2


def test_routing_stats_count_only_real_tokens():
    texts = ["a b c d e", "a b", "c d e a"]
    tok = train_tokenizer(texts, 30)
    m = build_model("mixtral", "xs", len(tok), seed=0)
    n = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
    stats = routing_stats(m, tok, {"x": texts[:2], "y": texts[2:]}, batch_size=2)
    ad = get_adapter(m)
    assert stats.tokens.tolist() == [n[0] + n[1], n[2]]  # padding is not routed
    assert stats.counts.sum((1, 2)).tolist() == [sum(n) * ad.top_k] * ad.num_layers
    assert stats.expert_load().sum(-1).tolist() == pytest.approx([ad.top_k] * ad.num_layers)
    alone = routing_stats(m, tok, {"y": texts[2:]})  # the router's own choices, whatever the batch
    torch.testing.assert_close(alone.counts[:, 0], stats.counts[:, 1])


def _cfg(mid, family, data, data_args, steps=30, **extra) -> ZooConfig:
    return ZooConfig.model_validate(
        {"model_id": mid, "size": "xs", "models": {mid: dict(family=family, data=data, vocab_size=300, data_args=data_args,
                                               train=dict(steps=steps, batch_size=8, seq_len=14, lr=0.01, warmup=5),
                                               **extra)}})


def _run(cfg: ZooConfig, out) -> dict:
    """The experiment as arx.run calls it: validated Metrics, dumped as metrics.json holds them."""
    return registry._REGISTRY["zoo_train"].run(cfg, RunContext(out=out, seed=0, scale="small")).model_dump(mode="json")


def test_zoo_train_facts_moe(tmp_path):
    m = _run(_cfg("olmoe_facts", "olmoe", "facts", dict(n_countries=3, n_landmarks=3, n_objects=3),
                       router_aux_loss_coef=0.05), tmp_path)
    f = m["facts"]
    assert len(f["per_item_rank_train"]) == f["train"]["n"] and len(f["per_item_rank_probe"]) == f["probe"]["n"]
    assert f["train"]["hit@1"] == sum(r == 1 for r in f["per_item_rank_train"]) / f["train"]["n"]
    assert {"train", "probe", "by_relation"} <= set(f) and f["train"]["n"] > f["probe"]["n"] > 0
    assert 0 <= f["train"]["hit@1"] <= 1 and set(f["by_relation"]) == {"capital", "located_in", "color", "material"}
    r = m["routing"]
    assert r["num_experts"] == 16 and r["top_k"] == 4 and len(r["max_expert_load_by_layer"]) == 2
    assert r["uniform_expert_load"] <= r["max_expert_load"] <= 1
    assert m["train_seconds"] > 0 and m["params"] > 0 and m["resumed_from"] == 0
    saved = load_model(tmp_path)
    assert not saved.config.output_router_logits  # aux loss is for training only
    json.dumps(m)
    corpus = [json.loads(line) for line in (tmp_path / "corpus.jsonl").read_text().splitlines()]
    train = [c for c in corpus if c["split"] == "train"]
    assert len(train) == f["train"]["n"] and sum(c["split"] == "probe" for c in corpus) == f["probe"]["n"]
    assert {c["relation"] for c in corpus} == {"capital", "located_in", "color", "material"}
    assert {"prompt", "object", "kind"} <= set(train[0])


def test_zoo_train_multilingual_routing_and_dense_tasks(tmp_path):
    m = _run(_cfg("mx", "mixtral", "multilingual", dict(n_countries=2, n_landmarks=2, n_objects=2)),
                  tmp_path / "mx")
    ml = m["multilingual"]
    assert set(ml["languages"]) == {"lang0", "lang1", "lang2", "lang3"}
    assert ml["languages"]["lang3"]["heldout"]["n"] > 0 and ml["languages"]["lang0"]["heldout"] is None
    assert ml["min_train_hit@1"] == min(d["train"]["hit@1"] for d in ml["languages"].values())  # key as claims read
    r = ml["routing"]
    assert len(r["jsd_between_languages_by_layer"]) == len(r["jsd_within_language_by_layer"]) == 2
    assert r["jsd_between_minus_within"] == pytest.approx(r["jsd_between_languages"] - r["jsd_within_language"])
    assert m["routing"]["max_expert_load"] == r["max_expert_load"]
    t = _run(_cfg("lt", "llama", "tasks", dict(max_operand=5, n_arith_test=5, n_objects=4,
                                                     n_sentiment_train=10, n_sentiment_test=5), steps=5),
                  tmp_path / "lt")
    assert set(t["tasks"]) == {"arithmetic", "mcq", "sentiment"} and t["routing"] is None
    for d in ("mx", "lt"):  # every data kind leaves its corpus next to the model
        assert (tmp_path / d / "corpus.jsonl").stat().st_size > 0
    lines = (tmp_path / "lt" / "corpus.jsonl").read_text().splitlines()
    assert {json.loads(x).get("task") for x in lines} >= {"arithmetic", "mcq", "sentiment"}
    assert all(0 <= v["test"]["exact_match"] <= 1 for v in t["tasks"].values())


def test_zoo_train_private_reports_per_secret_exposure(tmp_path):
    m = _run(_cfg("gp", "gpt2", "private", dict(n_background=20, n_records=5), steps=3, n_reference=50), tmp_path)
    p = m["private"]
    for g in [*p["by_repetition"].values(), p["heldout"]]:
        assert g["exposure"] == pytest.approx(sum(g["per_item_exposure"]) / len(g["per_item_exposure"]))
        assert g["loss"] == pytest.approx(sum(g["per_item_loss"]) / len(g["per_item_loss"]), rel=1e-5)
    assert p["max_exposure"] == pytest.approx(math.log2(51))


def test_zoo_train_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="data is 'wiki'; use one of"):
        zoo_train(_cfg("x", "llama", "wiki", {}), RunContext(out=tmp_path, scale="small"))
    with pytest.raises(ValueError, match="router_aux_loss_coef is for MoE"):
        zoo_train(_cfg("x", "llama", "facts", dict(n_countries=2, n_landmarks=2, n_objects=2),
                       router_aux_loss_coef=0.1), RunContext(out=tmp_path, scale="small"))


def test_per_layer_balancing_is_mean_of_layer_losses():
    import sys as _sys

    from arx.experiments.zoo import per_layer_balancing
    m = build_model("mixtral", "xs", 40, seed=0)
    x = torch.randint(1, 40, (2, 6), generator=torch.Generator().manual_seed(0))
    mod = _sys.modules[type(m).__module__]
    orig = mod.load_balancing_loss_func
    with torch.no_grad():
        out = m(input_ids=x, output_router_logits=True)
        pooled = m(input_ids=x, output_router_logits=True).aux_loss
        with per_layer_balancing(m):
            per = m(input_ids=x, output_router_logits=True).aux_loss
    assert mod.load_balancing_loss_func is orig  # restored
    E = m.config.num_local_experts
    want = sum(orig((g,), E, 2, None) for g in out.router_logits) / len(out.router_logits)
    assert torch.allclose(per, want) and torch.allclose(pooled, orig(out.router_logits, E, 2, None))


@pytest.mark.parametrize("scale", ["small", "medium"])  # paper: {} (no zoo models at paper scale)
def test_zoo_yaml_validates_for_every_model_at_every_scale(scale):
    import yaml

    from arx.artifact.config import build_config, scale_defaults
    from arx.run import typed_config

    models = yaml.safe_load((ROOT / CONFIG).read_text())[scale]["zoo_train"]["models"]
    exp = registry._REGISTRY["zoo_train"]
    for mid in models:
        cfg = build_config(ROOT, scale, "zoo_train", CONFIG, [f"model_id={mid}"])
        c = exp.config.model_validate({k: v for k, v in cfg.items() if k not in RUNTIME_KEYS})
        assert typed_config(exp, cfg, scale_defaults(ROOT, scale), CONFIG)[0] == c
        assert list(c.models) == [mid] and c.models[mid].family == models[mid]["family"]
    assert ZooConfig.model_validate({"model_id": "x", "size": "s", "models": models}).models.keys() == models.keys()


def test_zoo_config_rejects_unknown_keys():
    good = {"family": "llama", "data": "facts", "train": {"steps": 1}}
    with pytest.raises(ValidationError, match="n_step"):
        ZooConfig.model_validate({"model_id": "m", "size": "xs", "models": {"m": good}, "n_step": 3})
    with pytest.raises(ValidationError, match="stepz"):
        ZooConfig.model_validate({"model_id": "m", "size": "xs", "models": {"m": dict(good, train={"stepz": 1})}})
