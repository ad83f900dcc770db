import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from arx.methods.privacy.audit import audit_epsilon, epsilon_lower_bound
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


def test_audit_epsilon_conservative():
    rng = np.random.default_rng(1)
    same = audit_epsilon(rng.normal(size=500), rng.normal(size=500))
    assert same < 0.35  # no signal: only the maximisation over thresholds leaves a little
    perfect = audit_epsilon(np.arange(500) + 1000.0, np.arange(500.0))
    # all 500 members above all non-members: TPR_lo = (0.025)^(1/500), FPR_hi = 1 − (0.025)^(1/500) -> ≈ log(135)
    lo = 0.025 ** (1 / 500)
    assert perfect == pytest.approx(math.log((lo - 1e-5) / (1 - lo)), rel=1e-9)  # default δ = 1e-5
    assert perfect < math.log(500)
