"""Every privacy experiment end to end on a tiny config: the claim keys exist and the quantities are consistent."""

import json

import numpy as np
import pytest

from arx.experiments import RunContext, registered
from arx.methods.privacy import roc

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
    assert set(r["mean_exposure"]) == {"0", "1", "4"} and "monotone_non_decreasing" not in r  # no flags
    assert r["ratio_max_to_min_repeats"] == pytest.approx(r["mean_exposure"]["4"] / r["mean_exposure"]["1"])
    assert all(0 <= e <= r["max_exposure_bits"] + 1e-9 for g in r["by_repeats"].values() for e in g["exposures"])
    assert r["mean_exposure"]["1"] == pytest.approx(np.mean(r["by_repeats"]["1"]["exposures"]))


def test_mia_writes_item_scores_that_reproduce_its_aucs(tmp_path):
    r = run("privacy_mia", {"n_members": 1000, "min_k": 0.1, "train": {**FAST, "epochs": 0.03}}, tmp_path)
    assert {"loss", "zlib", "min_k", "reference"} <= set(r) and (tmp_path / "roc.png").exists()
    items = np.load(tmp_path / r["item_scores"])
    for attack in ("loss", "zlib", "min_k", "reference"):
        assert items[f"{attack}_members"].shape == (1000,)
        assert roc.auc(items[f"{attack}_members"], items[f"{attack}_nonmembers"]) == r[attack]["auc"]
    with pytest.raises(ValueError, match="1000 members"):
        run("privacy_mia", {"n_members": 10, "min_k": 0.1, "train": FAST}, tmp_path)


def test_canaries_report_tpr_with_its_interval_and_false_positives(tmp_path):
    r = run("privacy_canaries", {"kinds": ["random", "designed"], "n_members": 30, "n_nonmembers": 200, "length": 6,
                                 "n_pretrain": 20, "n_finetune": 20, "delta": 1e-5, "pretrain": FAST,
                                 "finetune": FAST}, tmp_path)
    items = np.load(tmp_path / r["item_scores"])
    for kind in ("random", "designed"):
        a = r[kind]
        m, n = items[f"{kind}_members"], items[f"{kind}_nonmembers"]
        assert m.shape == (30,) and n.shape == (200,)
        assert a["tpr_at_0.01"] == roc.tpr_at_fpr(m, n, 0.01)
        lo, hi = a["tpr_interval"]
        assert lo <= a["tpr_at_0.01"] <= hi and a["false_positives"] <= 2  # 1% of 200 non-members
        assert a["epsilon_lower_bound"] >= 0
    if r["random"]["tpr_at_0.01"] > 0:
        assert r["designed_over_random_tpr"] == pytest.approx(r["designed"]["tpr_at_0.01"] / r["random"]["tpr_at_0.01"])
    else:
        assert r["designed_over_random_tpr"] is None  # undefined, never a sentinel


def test_dp_audit_sweeps_epsilon_with_one_run_audits(tmp_path):
    r = run("privacy_dp_audit", {"n_canaries": 60, "length": 6, "n_pretrain": 20, "n_finetune": 20,
                                 "epsilons": [2.0, 8.0], "reference_epsilon": 8.0, "delta": 1e-5,
                                 "max_grad_norm": 1.0, "k_plus": 5, "k_minus": 5, "pretrain": FAST,
                                 "finetune": FAST}, tmp_path)
    assert set(r["by_epsilon"]) == {"2", "8"} and r["empirical_epsilon"] == r["by_epsilon"]["8"]["empirical_epsilon"]
    items = np.load(tmp_path / r["item_scores"])
    assert items["included"].sum() == r["n_included"] and items["scores_eps_2"].shape == (60,)
    for a in r["by_epsilon"].values():
        assert a["guesses"] == 10 and 0 <= a["correct"] <= 10 and a["empirical_epsilon"] >= 0
        assert a["train"]["epsilon_spent"] == pytest.approx(a["theoretical_epsilon"], rel=0.1)
    with pytest.raises(ValueError, match="reference_epsilon"):
        run("privacy_dp_audit", {"n_canaries": 60, "length": 6, "n_pretrain": 20, "n_finetune": 20,
                                 "epsilons": [2.0], "reference_epsilon": 4.0, "delta": 1e-5, "max_grad_norm": 1.0,
                                 "k_plus": 5, "k_minus": 5, "pretrain": FAST, "finetune": FAST}, tmp_path)


def test_phishing_arms_share_data_and_report_per_secret_hits(tmp_path):
    r = run("privacy_phishing", {"digits": 3, "n_secrets": 4, "secret_repeats": 1, "n_poison": 4,
                                 "poison_counts": [0, 2, 4], "repeat_counts": [1, 2], "poison_repeats": 1,
                                 "n_pretrain": 20, "n_finetune": 10, "beams": 2, "pretrain": FAST,
                                 "finetune": FAST}, tmp_path)
    from arx.methods.ratios import safe_ratio

    assert set(r["by_poison"]) == {"0", "2", "4"} and set(r["by_repeats"]) == {"1", "2"}
    assert r["by_poison"]["0"] == r["no_poison"] and r["by_poison"]["4"] == r["poison"] == r["by_repeats"]["1"]
    for arm in [*r["by_poison"].values(), *r["by_repeats"].values()]:
        assert len(arm["greedy_hits"]) == 4 and arm["greedy"] == np.mean(arm["greedy_hits"])
    assert r["success_rate"] == r["poison"]["greedy"]
    # no sentinel: undefined (None) when the unpoisoned baseline extracts nothing
    assert r["poison_over_no_poison"] == safe_ratio(r["poison"]["greedy"], r["no_poison"]["greedy"])
