import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import beta, binom
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from arx.methods.privacy.audit import (
    audit_epsilon,
    epsilon_lower_bound,
    one_run_epsilon,
    one_run_epsilon_from_counts,
)
from arx.methods.privacy.roc import auc, plot_roc, roc_curve, tpr_at_fpr


def test_hand_computed_roc():
    members = np.array([5.0, 4.0, 2.0, 0.5])
    nonmembers = np.array([3.0, 1.0, 0.0, -1.0])
    fpr, tpr, thr = roc_curve(members, nonmembers)
    # thresholds 5, 4, 3, 2, 1, .5, 0, -1
    assert tpr.tolist() == [0, .25, .5, .5, .75, .75, 1, 1, 1]
    assert fpr.tolist() == [0, 0, 0, .25, .25, .5, .5, .75, 1]
    assert auc(members, nonmembers) == pytest.approx(13 / 16)  # pairs member > non-member: 4+3+3+3 ... = 13 of 16
    assert tpr_at_fpr(members, nonmembers, 0.01) == 0.5
    assert tpr_at_fpr(members, nonmembers, 0.25) == 0.75
    assert tpr_at_fpr(members, nonmembers, 0.6) == 1.0


def test_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    m = np.round(rng.normal(0.5, 1, 1500), 1)
    n = np.round(rng.normal(0.0, 1, 1200), 1)
    y = np.r_[np.ones(len(m)), np.zeros(len(n))]
    s = np.r_[m, n]
    sk_fpr, sk_tpr, _ = sk_roc_curve(y, s, drop_intermediate=False)
    fpr, tpr, _ = roc_curve(m, n)
    assert np.allclose(fpr, sk_fpr) and np.allclose(tpr, sk_tpr)
    assert auc(m, n) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    for a in [0.01, 0.001, 0.1]:
        assert tpr_at_fpr(m, n, a) == pytest.approx(sk_tpr[sk_fpr <= a].max())


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="empty member set"):
        auc([], [1.0])
    with pytest.raises(ValueError, match="empty non-member set"):
        tpr_at_fpr([1.0], [], 0.01)
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"outside \(0, 1\)"):
            tpr_at_fpr([1.0], [0.0], bad)
    with pytest.raises(ValueError, match="NaN"):
        auc([np.nan], [0.0])
    plot_roc({"a": (np.array([1.0, 2.0]), np.array([0.0, 1.5]))}, tmp_path / "roc.png")
    assert (tmp_path / "roc.png").stat().st_size > 1000


def test_epsilon_bound_formula():
    assert epsilon_lower_bound(0.5, 0.05) == pytest.approx(math.log(10))
    assert epsilon_lower_bound(0.5, 0.05, delta=0.1) == pytest.approx(math.log(8))
    # the other side: (1 − FPR)/(1 − TPR) = 0.5/0.1 beats TPR/FPR = 1.8
    assert epsilon_lower_bound(0.9, 0.5) == pytest.approx(math.log(5))
    assert epsilon_lower_bound(0.3, 0.3) == 0.0
    assert epsilon_lower_bound(0.5, 0.0) == math.inf
    with pytest.raises(ValueError, match="tpr"):
        epsilon_lower_bound(1.2, 0.1)
    with pytest.raises(ValueError, match="delta"):
        epsilon_lower_bound(0.5, 0.1, delta=1.0)


def _max_over_thresholds(members, nonmembers, delta=1e-5, alpha=0.05):
    """The estimator the artifact used before: the two-sided bound with Clopper-Pearson rates, maximised over every
    ROC threshold of the same scores (a multiple comparison). Only the negative control of the null test."""
    fpr, tpr, _ = roc_curve(members, nonmembers)
    n_in, n_out = len(members), len(nonmembers)
    tp, fp = np.rint(tpr * n_in), np.rint(fpr * n_out)
    lo = np.where(tp <= 0, 0.0, beta.ppf(alpha / 2, tp, n_in - tp + 1))
    hi = np.where(fp >= n_out, 1.0, beta.ppf(1 - alpha / 2, fp + 1, n_out - fp))
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where((hi > 0) & (lo - delta > 0), np.log((lo - delta) / hi), 0.0)
        b = np.where((lo < 1) & (1 - hi - delta > 0), np.log((1 - hi - delta) / (1 - lo)), 0.0)
    return max(0.0, float(np.nanmax(a)), float(np.nanmax(b)))


def _slack(n_audits: int) -> float:
    return 2.5 * math.sqrt(0.05 * 0.95 / n_audits)  # binomial noise of a simulated rate near 5%


def test_null_calibration_split_and_one_run_stay_below_nominal():
    """No signal (members and non-members scored identically): a valid audit reports eps > 0 in at most 5% of
    audits (500 + 500 items; one-run: 1000 canaries, 100 + 100 guesses)."""
    rng = np.random.default_rng(7)
    n_audits, split, one_run = 400, 0, 0
    for k in range(n_audits):
        split += audit_epsilon(rng.normal(size=500), rng.normal(size=500), seed=k) > 0
        scores, included = rng.normal(size=1000), rng.random(1000) < 0.5
        one_run += one_run_epsilon(scores, included, k_plus=100, k_minus=100, delta=1e-5).epsilon > 0
    assert split / n_audits <= 0.05 + _slack(n_audits) and one_run / n_audits <= 0.05 + _slack(n_audits)


def test_null_calibration_fails_the_max_over_thresholds_estimator():
    """Negative control: the same null test rejects the estimator that maximises over thresholds (so it can fail)."""
    rng = np.random.default_rng(7)
    n_audits = 1500
    naive = sum(_max_over_thresholds(rng.normal(size=500), rng.normal(size=500)) > 0 for _ in range(n_audits))
    assert naive / n_audits > 0.05 + _slack(n_audits), naive / n_audits


def test_one_run_epsilon_matches_scipy_root_when_every_guess_is_right():
    # delta = 0 and v = r: the p-value is q^r, so eps = logit(0.05 ** (1 / r)); brentq on scipy's tail independently
    for r in (10, 50, 200):
        want = brentq(lambda e: binom.sf(r - 1, r, 1 / (1 + math.exp(-e))) - 0.05, 1e-9, 50)
        assert one_run_epsilon_from_counts(1000, r, r, delta=0.0) == pytest.approx(want, rel=1e-6)
        q = 0.05 ** (1 / r)
        assert want == pytest.approx(math.log(q / (1 - q)), rel=1e-6)
    # 30 of 50 right is what eps = 0 (coin flips) gives with p = 0.10 > 0.05: no evidence
    assert one_run_epsilon_from_counts(1000, 50, 30, delta=0.0) == 0.0
    # delta > 0 only lowers the bound, and more canaries (larger 2m*delta term) lower it further
    a = one_run_epsilon_from_counts(1000, 100, 90, delta=0.0)
    b = one_run_epsilon_from_counts(1000, 100, 90, delta=1e-5)
    c = one_run_epsilon_from_counts(100000, 100, 90, delta=1e-5)
    assert a > b > c > 0


def test_one_run_audit_counts_guesses_and_rejects_bad_input():
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    included = np.array([1, 1, 0, 1, 0, 0], dtype=bool)
    res = one_run_epsilon(scores, included, k_plus=2, k_minus=2, delta=0.0)
    assert (res.canaries, res.guesses, res.correct) == (6, 4, 4)  # top 2 both in, bottom 2 both out
    res = one_run_epsilon(scores, included, k_plus=3, k_minus=0, delta=0.0)
    assert res.correct == 2
    with pytest.raises(ValueError, match="one bit per canary"):
        one_run_epsilon(scores, included[:3], 1, 1, 0.0)
    with pytest.raises(ValueError, match="k_plus"):
        one_run_epsilon(scores, included, 4, 4, 0.0)


def test_split_audit_finds_a_clear_separation():
    m, n = np.arange(500) + 1000.0, np.arange(500.0)  # every member above every non-member
    eps = audit_epsilon(m, n)
    # evaluation half: 250 vs 250 separated -> TPR_lo = 0.025^(1/250), FPR_hi = 1 - 0.025^(1/250)
    lo = 0.025 ** (1 / 250)
    assert eps == pytest.approx(math.log((lo - 1e-5) / (1 - lo)), rel=1e-9)
