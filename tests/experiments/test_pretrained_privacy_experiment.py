"""The pretrained-scale privacy experiment on a tiny Llama saved like the converted SmolLM2 (same code path)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import beta
from sklearn.metrics import roc_auc_score
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from arx.data import train_tokenizer
from arx.data.chars import name, zipf_sentences
from arx.experiments import RunContext
from arx.experiments import pretrained_privacy as X
from arx.models import build_model, save_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("privacy_model")
    g = torch.Generator().manual_seed(0)
    names = [name(g).capitalize() for _ in range(300)]
    texts = zipf_sentences(500, g) + [f"{nm}'s PIN is {k:02d}." for k, nm in enumerate(names)]
    tok = train_tokenizer(texts, vocab_size=300)
    save_model(build_model("llama", "xs", len(tok), seed=3), out, tok)
    return out


def _cfg(model_dir, **kw):
    return X.PretrainedPrivacyConfig.model_validate({
        **dict(model_dir=str(model_dir), digits=2, repeats=[1, 16], per_group=3, n_members=1000,
               train=dict(epochs=2, batch_size=32, lr=0.003)), **kw})


@pytest.mark.slow
def test_exposure_grows_with_insertions_and_attacks_match_an_independent_roc(model_dir, tmp_path):
    m = X.pretrained_privacy(_cfg(model_dir), RunContext(out=tmp_path, seed=0)).model_dump()
    top = 2 * math.log2(10)
    assert m["max_exposure_bits"] == pytest.approx(top) and set(m["by_repeats"]) == {"0", "1", "16"}
    for group in m["by_repeats"].values():
        assert len(group["exposures"]) == 3 and all(0 <= e <= top + 1e-9 for e in group["exposures"])
        assert group["mean_exposure"] == pytest.approx(np.mean(group["exposures"]))
    # the phenomenon, with room to fail: 16 insertions are memorised, never-inserted PINs are not
    assert m["mean_exposure"]["16"] > m["mean_exposure"]["0"] + 1.0
    assert m["ratio_max_to_min_repeats"] == (m["mean_exposure"]["16"] / m["mean_exposure"]["1"]
                                             if m["mean_exposure"]["1"] > 0 else None)
    scores = np.load(tmp_path / "mia_scores.npz")
    for attack, res in m["attacks"].items():
        mem, non = scores[f"{attack}_members"], scores[f"{attack}_nonmembers"]
        assert len(mem) == len(non) == 1000
        labels = np.r_[np.ones(len(mem)), np.zeros(len(non))]
        assert res["auc"] == pytest.approx(roc_auc_score(labels, np.r_[mem, non]), abs=1e-9)
        for key in ("tpr_at_1pct_fpr", "tpr_at_0_1pct_fpr"):
            k, n = round(res[key] * 1000), 1000  # Clopper-Pearson by its beta-quantile definition
            lo = 0.0 if k == 0 else beta.ppf(0.025, k, n - k + 1)
            hi = 1.0 if k == n else beta.ppf(0.975, k + 1, n - k)
            assert res[f"{key}_interval"] == pytest.approx([lo, hi], abs=1e-9)
    assert m["attacks"]["loss"]["auc"] > 0.5  # two epochs over the members leave a membership signal


def test_bad_config_and_a_tokenizer_without_digit_tokens_are_clear_errors(model_dir, tmp_path):
    with pytest.raises(ValueError, match="n_members"):
        _cfg(model_dir, n_members=10)
    with pytest.raises(ValueError, match="increasing"):
        X.pretrained_privacy(_cfg(model_dir, repeats=[16, 1]), RunContext(out=tmp_path, seed=0))
    merged = tmp_path / "merged"  # a tokenizer whose PIN digits merge into one token: no per-digit enumeration
    tok = train_tokenizer(["x"], vocab_size=60)
    vocab = {**tok.get_vocab(), **{f"{k:02d}": 1000 + k for k in range(100)}}
    inner = Tokenizer(models.WordLevel({t: i for i, t in enumerate(sorted(vocab))}, unk_token="<unk>"))
    inner.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=inner, unk_token="<unk>", pad_token="<pad>")
    save_model(build_model("llama", "xs", len(fast), seed=3), merged, fast)
    with pytest.raises(ValueError, match="one token per digit"):
        X.pretrained_privacy(_cfg(merged), RunContext(out=tmp_path, seed=0))
