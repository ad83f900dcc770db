"""Every privacy experiment end to end on a tiny config: the claim keys exist and have the right types."""

import json

import pytest

from arx.experiments import RunContext, registered

TINY = {"n_layer": 1, "n_embd": 16, "n_head": 2, "n_inner": 32}
FAST = {"epochs": 1, "batch_size": 32, "lr": 0.003}


def run(name, cfg, tmp_path):
    exp = registered()[name]
    res = exp.run(exp.config.model_validate({"model": TINY, **cfg}), RunContext(out=tmp_path, seed=0))
    out = res.model_dump(mode="json")
    json.dumps(out)  # JSON-serialisable
    return out


def test_exposure(tmp_path):
    r = run("privacy_exposure", {"digits": 2, "repeats": [1, 4], "per_group": 2, "n_filler": 20,
                                 "n_references": 50, "train": FAST}, tmp_path)
    assert set(r["mean_exposure"]) == {"0", "1", "4"} and r["monotone_non_decreasing"] in (0, 1)
    assert r["ratio_max_to_min_repeats"] == pytest.approx(r["mean_exposure"]["4"] / r["mean_exposure"]["1"])
    assert all(0 <= e <= r["max_exposure_bits"] + 1e-9 for g in r["by_repeats"].values() for e in g["exposures"])


def test_mia(tmp_path):
    r = run("privacy_mia", {"n_members": 1000, "min_k": 0.1, "train": {**FAST, "epochs": 0.03}}, tmp_path)
    assert {"loss", "zlib", "min_k", "reference"} <= set(r) and 0 <= r["reference"]["auc"] <= 1
    assert (tmp_path / "roc.png").exists()
    with pytest.raises(ValueError, match="1000 members"):
        run("privacy_mia", {"n_members": 10, "min_k": 0.1, "train": FAST}, tmp_path)


@pytest.mark.parametrize("name,extra", [("privacy_canaries", {"kinds": ["random", "designed"]}),
                                        ("privacy_dp_audit", {"kinds": ["designed"],
                                                              "dp": {"epsilon": 4.0, "delta": 1e-5}})])
def test_canary_audits(tmp_path, name, extra):
    cfg = {"n_canaries": 40, "length": 6, "n_new_tokens": 8, "n_pretrain": 20, "n_finetune": 20, "delta": 1e-5,
           "pretrain": FAST, "finetune": FAST, **extra}
    r = run(name, cfg, tmp_path)
    assert r["designed"]["epsilon_lower_bound"] >= 0
    if name == "privacy_canaries":
        assert 0 <= r["designed_over_random_tpr"] <= 1e6
    else:
        assert r["empirical_epsilon"] == r["designed"]["epsilon_lower_bound"] and r["theoretical_epsilon"] == 4.0


def test_phishing(tmp_path):
    r = run("privacy_phishing", {"digits": 3, "n_secrets": 4, "secret_repeats": 1, "n_poison": 4,
                                 "poison_repeats": 1, "n_pretrain": 20, "n_finetune": 10, "beams": 2,
                                 "pretrain": FAST, "finetune": FAST}, tmp_path)
    from arx.methods.ratios import safe_ratio

    assert 0 <= r["success_rate"] <= 1
    # no sentinel: undefined (None) when the unpoisoned baseline extracts nothing
    assert r["poison_over_no_poison"] == safe_ratio(r["poison"]["greedy"], r["no_poison"]["greedy"])
