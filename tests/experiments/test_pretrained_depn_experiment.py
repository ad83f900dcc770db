"""DEPN at the pretrained scale, on a tiny Llama saved like the converted SmolLM2 (the same code path)."""

from __future__ import annotations

import math

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from arx.data import train_tokenizer
from arx.data.chars import name, zipf_sentences
from arx.experiments import RunContext
from arx.experiments import pretrained_depn as X
from arx.methods.attribution.prompts import target_logprob
from arx.models import build_model, get_adapter, load_model, save_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("depn_model")
    g = torch.Generator().manual_seed(0)
    texts = zipf_sentences(400, g) + [f"{name(g).capitalize()}'s phone number is {k:04d}." for k in range(300)]
    tok = train_tokenizer(texts, vocab_size=300)
    save_model(build_model("llama", "xs", len(tok), seed=3), out, tok)
    return out


def _cfg(model_dir, **kw):
    return X.PretrainedDepnConfig.model_validate({**dict(
        model_dir=str(model_dir), corpus=dict(n_secrets=12, digits=4, repeats=[8, 16], n_filler=60, n_heldout=40),
        train=dict(epochs=6, batch_size=16, lr=0.003), memorized_bits=3.0, min_items=4, max_items=6, ig_steps=4,
        select=dict(fraction=0.1, max_per_item=5), budgets=[4, 8], budget=8, random_draws=2), **kw})


@pytest.mark.slow
def test_edit_metrics_are_consistent_and_the_persistent_edit_equals_the_runtime_one(model_dir, tmp_path):
    m = X.pretrained_depn(_cfg(model_dir), RunContext(out=tmp_path, seed=0)).model_dump()
    assert m["n_memorized"] >= m["n_items"] == len(m["exposure_before_per_item"]) >= 4
    assert min(m["exposure_before_per_item"]) >= 3.0  # only memorised items are edited
    ad = get_adapter(load_model(model_dir))
    assert m["total_neurons"] == ad.num_layers * ad.ffn_dim
    for b, res in m["by_budget"].items():
        e = res["exposure"]
        assert res["n_neurons"] == sum(res["layer_distribution"]) <= int(b)  # the ranking may hold fewer
        assert e["max_bits"] == pytest.approx(4 * math.log2(10))
        assert e["relative_reduction"] == pytest.approx(1 - e["after_mean"] / e["before_mean"])
        assert e["after_mean"] == pytest.approx(sum(res["exposure_after_per_item"]) / m["n_items"])
        r = res["random"]
        assert r["mean_relative_reduction"] == pytest.approx(sum(r["relative_reductions"]) / 2)
        p = res["perplexity"]
        assert p["relative_increase"] == pytest.approx(p["after"] / p["before"] - 1)
    assert m["exposure"] == m["by_budget"]["8"]["exposure"] and m["n_neurons"] == m["by_budget"]["8"]["n_neurons"]
    # the phenomenon, with room to fail: zeroing the neurons IG ranks highest lowers the memorised digits' exposure
    assert m["exposure"]["relative_reduction"] > 0
    assert m["persistent_vs_runtime_max_abs_logit_diff"] < 1e-5


def test_digit_prompts_score_each_digit_given_the_ones_before(model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    secret, digit_ids = X.digit_secret(tok, "Ana's phone number is ", "4071")
    assert [secret.ids[p] for p in secret.positions] == [digit_ids[int(c)] for c in "4071"]
    batch = X.digit_prompts([secret], pad=0)
    assert batch.target.tolist() == [digit_ids[int(c)] for c in "4071"]
    model = build_model("llama", "xs", len(tok), seed=1).eval()
    with torch.no_grad():  # padded rows give the same log-probability as each prompt alone
        padded = target_logprob(model, batch)
        alone = [float(torch.log_softmax(model(torch.tensor([secret.ids[:p]])).logits[0, -1], -1)[secret.ids[p]])
                 for p in secret.positions]
    assert padded.tolist() == pytest.approx(alone, abs=1e-5)


def test_bad_config_and_a_tokenizer_that_merges_digits_are_clear_errors(model_dir, tmp_path):
    with pytest.raises(ValueError, match="not one of budgets"):
        X.pretrained_depn(_cfg(model_dir, budget=5), RunContext(out=tmp_path, seed=0))
    with pytest.raises(RuntimeError, match="min_items"):
        X.pretrained_depn(_cfg(model_dir, memorized_bits=13.0, train=dict(epochs=0.1, batch_size=16, lr=1e-6)),
                          RunContext(out=tmp_path, seed=0))
    merged = tmp_path / "merged"
    tok = train_tokenizer(["x"], vocab_size=60)
    vocab = {**tok.get_vocab(), **{f"{k:04d}": 1000 + k for k in range(10000)}}
    inner = Tokenizer(models.WordLevel({t: i for i, t in enumerate(sorted(vocab))}, unk_token="<unk>"))
    inner.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=inner, unk_token="<unk>", pad_token="<pad>")
    save_model(build_model("llama", "xs", len(fast), seed=3), merged, fast)
    with pytest.raises(ValueError, match="one token per digit"):
        X.pretrained_depn(_cfg(merged), RunContext(out=tmp_path, seed=0))
