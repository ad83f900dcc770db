"""The experiment's data paths (zoo corpus, JSONL prompt/answer sets), answer-only loss, token F1, and both
experiments end to end on a tiny zoo model."""

import json
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

import arx.experiments as registry
from arx.experiments import RUNTIME_KEYS, RunContext
from arx.experiments import routing as X
from arx.experiments.routing import CorpusWorld, JsonlWorld, answer_loss, parallel, task_f1, token_f1
from arx.experiments.zoo import ZooConfig, zoo_train

torch.set_num_threads(1)  # 2 cores shared by the team
ROOT = Path(__file__).parents[2]
CONFIG = "workflows/config/routing.yaml"


def word_tokenizer() -> PreTrainedTokenizerFast:
    words = ["<pad>", "capital", "of", "fr", "is", "paris", "hauptstadt", "von", "ist", "new", "york", "city"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>")


def test_token_f1_by_hand():
    assert token_f1([5, 6], [5, 6]) == 1.0
    assert token_f1([5, 7], [5, 6]) == pytest.approx(0.5)  # p = r = 1/2
    assert token_f1([5], [5, 6, 7]) == pytest.approx(0.5)  # p = 1, r = 1/3
    assert token_f1([8], [5]) == 0.0


def test_jsonl_world_marks_multi_token_answers(tmp_path):
    rows = {"en": [{"prompt": "capital of fr is", "answer": "paris"},
                   {"prompt": "capital of fr is", "answer": "new york city"}],
            "de": [{"prompt": "hauptstadt von fr ist", "answer": "paris"}]}
    for lang, rs in rows.items():
        (tmp_path / f"{lang}.test.jsonl").write_text("\n".join(json.dumps(r) for r in rs))
    world = JsonlWorld(str(tmp_path), ["en"], ["de"], word_tokenizer())
    en = world.task("en", "test")
    assert en.ids[1].tolist() == [1, 2, 3, 4, 9, 10, 11]
    assert en.answer[1].tolist() == [False] * 4 + [True] * 3
    assert en.answer[0].tolist() == [False] * 4 + [True] + [False] * 2 and en.mask[0].tolist() == [1] * 5 + [0] * 2
    data, lang = parallel(world, "test")
    assert lang.tolist() == [0, 0, 1] and data.ids.shape == (3, 7)
    with pytest.raises(FileNotFoundError, match="sw.test.jsonl is missing.*'prompt' and 'answer'"):
        JsonlWorld(str(tmp_path), ["en"], ["sw"], word_tokenizer()).task("sw", "test")


@pytest.fixture(scope="module")
def zoo_model(tmp_path_factory):
    """A tiny multilingual Qwen2-MoE trained by the zoo (model, tokenizer, corpus.jsonl), as the small scale reads."""
    out = tmp_path_factory.mktemp("qwen2_moe_multilingual")
    zoo_train(ZooConfig.model_validate(
        {"model_id": "m", "size": "xs", "models": {"m": dict(family="qwen2_moe", data="multilingual", vocab_size=300,
                                               data_args=dict(n_countries=4, n_landmarks=6, n_objects=6,
                                                              low_fraction=0.25, shared_names=True,
                                                              loan_fraction=0.2, code_switch_fraction=0.2),
                                               overrides={"num_hidden_layers": 3},  # RISE: shallow/middle/deep
                                               train=dict(steps=20, batch_size=8, seq_len=10, lr=0.01, warmup=5))}}),
              RunContext(out=out, seed=0, scale="small"))
    return out


def test_corpus_world_splits_unseen_target_facts_and_aligns_languages(zoo_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(zoo_model)
    w = CorpusWorld(zoo_model / "corpus.jsonl", tok, target="lang2", adapt_fraction=0.4, seed=0)
    assert w.high == ["lang0", "lang1"] and w.low == ["lang2", "lang3"]
    lines = [json.loads(x) for x in (zoo_model / "corpus.jsonl").read_text().splitlines()]
    seen = {d["fact"] for d in lines if d["language"] == "lang2" and d["split"] == "train"}
    adapt, val, test = (set(w.split[k]) for k in ("adapt", "val", "test"))
    assert not (adapt | val | test) & seen  # RISE adapts, chooses its rate and tests on facts lang2 never saw
    assert not adapt & val and not adapt & test and not val & test and len(w.split["all"]) == len(w.facts)
    assert len(adapt | val | test) == len(w.facts) - len(seen) and len(val) == round(0.1 * len(adapt | val | test))
    with pytest.raises(ValueError, match="leave an empty split"):
        CorpusWorld(zoo_model / "corpus.jsonl", tok, target="lang2", adapt_fraction=0.5, val_fraction=0.5)
    a0, a1 = w.task("lang0", "test"), w.task("lang1", "test")
    assert len(a0) == len(a1) == len(w.split["test"]) and bool(a0.answer.any(1).all())
    with pytest.raises(ValueError, match="low-resource languages"):
        CorpusWorld(zoo_model / "corpus.jsonl", tok, target="lang0")
    with pytest.raises(ValueError, match="adapt/test need a target"):
        CorpusWorld(zoo_model / "corpus.jsonl", tok).task("lang0", "adapt")
    with pytest.raises(FileNotFoundError, match="rule zoo_model"):
        CorpusWorld(zoo_model / "missing.jsonl", tok)
    bad = zoo_model.parent / "bad_corpus.jsonl"
    bad.write_text(json.dumps(lines[0]) + "\n" + json.dumps({"prompt": "x", "object": "y"}) + "\n")
    with pytest.raises(ValueError, match=r"lines \[2\] lack some of"):
        CorpusWorld(bad, tok)


def test_answer_loss_and_f1_use_only_answer_tokens(zoo_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(zoo_model).eval()
    world = CorpusWorld(zoo_model / "corpus.jsonl", AutoTokenizer.from_pretrained(zoo_model))
    data = world.task("lang0", "all")
    logits = model(input_ids=data.ids, attention_mask=data.mask).logits
    target = data.answer[:, 1:]
    expected = torch.nn.functional.cross_entropy(logits[:, :-1][target], data.ids[:, 1:][target])
    assert answer_loss(model, data).item() == pytest.approx(expected.item(), rel=1e-5)
    pred = logits[:, :-1].argmax(-1)
    f1 = [token_f1(p[t].tolist(), g[t].tolist()) for p, g, t in zip(pred, data.ids[:, 1:], target)]
    assert task_f1(model, world, "all")["lang0"] == pytest.approx(100 * sum(f1) / len(f1))


def test_isolation_and_rise_run_end_to_end_on_the_zoo_model(zoo_model, tmp_path):
    (tmp_path / "iso").mkdir(), (tmp_path / "rise").mkdir()  # arx.run creates the output directory
    exps = registry._REGISTRY
    iso = exps["routing_isolation"].run(X.IsolationConfig(base_dir=str(zoo_model), n_top=2),
                                        RunContext(out=tmp_path / "iso")).model_dump(mode="json")
    assert iso["languages"] == ["lang0", "lang1", "lang2", "lang3"] and (tmp_path / "iso/overlap_curves.png").exists()
    assert 0 <= iso["isolation"]["fraction_layers_isolated"] <= 1 and len(iso["isolation"]["layers"]) == 3
    assert isinstance(iso["isolation"]["interior_peak_margin"], float)  # 3 layers: one interior layer
    cfg = X.RiseConfig.model_validate(
        {"base_dir": str(zoo_model), "target": "lang2", "adapt_fraction": 0.4,
         "rise": {"experts_per_layer": 2, "shallow_frac": 0.334, "deep_frac": 0.334, "random_draws": 1},
         "finetune": {"steps": 3, "batch_size": 4, "lr_grid": [0.002, 0.05]}})
    rise = exps["routing_rise"].run(cfg, RunContext(out=tmp_path / "rise")).model_dump(mode="json")
    for key in ("target_gain_f1", "others_change_f1", "gain_over_random_f1"):
        assert isinstance(rise["rise"][key], float)
    assert rise["runs"]["rise"]["trainable_parameters"] < rise["runs"]["full"]["trainable_parameters"]
    for method in ("rise", "full"):  # each method keeps its own best rate on validation (the first of a tie)
        run = rise["runs"][method]
        scores = run["val_f1_by_lr"]
        assert set(scores) == {"0.002", "0.05"}
        assert run["lr"] == next(lr for lr in (0.002, 0.05) if scores[f"{lr:g}"] == max(scores.values()))
    assert len(rise["runs"]["random"]["lr"]) == 1
    for before, items in ((rise["f1_before"], rise["per_item_f1_before"]),
                          (rise["runs"]["rise"]["f1"], rise["runs"]["rise"]["per_item_f1"])):
        assert set(items) == set(before)  # the per-fact F1s average to the reported F1 of each language
        assert all(before[l] == pytest.approx(sum(v) / len(v)) for l, v in items.items())


@pytest.mark.parametrize("scale", ["small", "medium", "paper"])
@pytest.mark.parametrize("name", ["routing_isolation", "routing_rise"])
def test_routing_yaml_validates_at_every_scale(scale, name):
    from arx.artifact.config import build_config, scale_defaults
    from arx.run import typed_config

    cfg = build_config(ROOT, scale, name, CONFIG, [])
    exp = registry._REGISTRY[name]
    c, _ = typed_config(exp, cfg, scale_defaults(ROOT, scale), CONFIG)  # as arx.run: undeclared scale defaults out
    assert c == exp.config.model_validate({k: v for k, v in cfg.items()
                                           if k not in RUNTIME_KEYS and k != "checkpoints_root"})
    assert (c.data_dir is None) == (scale != "paper") and not c.base_dir.startswith("~")


def test_routing_configs_reject_unknown_keys():
    with pytest.raises(ValidationError, match="ntop"):
        X.IsolationConfig.model_validate({"base_dir": "x", "n_top": 2, "ntop": 2})
    rise = {"base_dir": "x", "target": "lang2", "finetune": {"steps": 1, "batch_size": 1, "lr_grid": [0.1]},
            "rise": {"experts_per_layer": 2, "shallow_frac": 0.3, "deep_frac": 0.3, "random_draws": 1}}
    X.RiseConfig.model_validate(rise)
    with pytest.raises(ValidationError, match="step"):
        X.RiseConfig.model_validate(dict(rise, finetune={"step": 1, "batch_size": 1, "lr_grid": [0.1]}))
    with pytest.raises(ValidationError, match="lr_grid"):  # an empty grid chooses nothing
        X.RiseConfig.model_validate(dict(rise, finetune={"steps": 1, "batch_size": 1, "lr_grid": []}))
