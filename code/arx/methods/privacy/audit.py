"""Empirical ε lower bound from a membership audit, and DP-SGD training through opacus.

For an (ε, δ)-DP mechanism every test with false-positive rate FPR and true-positive rate TPR satisfies
TPR ≤ e^ε·FPR + δ and (1 − FPR) ≤ e^ε·(1 − TPR) + δ, hence the two-sided bound
ε ≥ max( log((TPR − δ)/FPR), log((1 − FPR − δ)/(1 − TPR)) ).
``epsilon_lower_bound`` applies it to point rates; ``audit_epsilon`` uses it at every ROC threshold with
Clopper–Pearson confidence bounds (TPR lower, FPR upper, each at 1 − α/2), the standard conservative audit, and
returns the maximum (0 when no threshold gives evidence).
"""

from __future__ import annotations

import math

import numpy as np

from arx.methods.privacy.roc import roc_curve


def epsilon_lower_bound(tpr: float, fpr: float, delta: float = 0.0) -> float:
    """max(log((TPR−δ)/FPR), log((1−FPR−δ)/(1−TPR))), floored at 0; rates in [0, 1]."""
    for name, v in (("tpr", tpr), ("fpr", fpr)):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name} = {v!r} is not a rate in [0, 1]")
    if not 0.0 <= delta < 1.0:
        raise ValueError(f"delta = {delta!r} must lie in [0, 1)")
    terms = [0.0]
    if fpr > 0 and tpr - delta > 0:
        terms.append(math.log((tpr - delta) / fpr))
    if tpr < 1 and 1 - fpr - delta > 0:
        terms.append(math.log((1 - fpr - delta) / (1 - tpr)))
    if (fpr == 0 and tpr > delta) or (tpr == 1 and fpr < 1 - delta):
        return math.inf
    return max(terms)


def _clopper_pearson(k: np.ndarray, n: int, alpha: float, upper: bool) -> np.ndarray:
    from scipy.stats import beta

    if upper:
        return np.where(k >= n, 1.0, beta.ppf(1 - alpha, k + 1, n - k))
    return np.where(k <= 0, 0.0, beta.ppf(alpha, k, n - k + 1))


def audit_epsilon(members: np.ndarray, nonmembers: np.ndarray, delta: float = 1e-5, alpha: float = 0.05) -> float:
    """Largest two-sided ε bound over all thresholds with Clopper–Pearson rates at confidence 1 − α."""
    fpr, tpr, _ = roc_curve(members, nonmembers)
    n_in, n_out = len(np.ravel(members)), len(np.ravel(nonmembers))
    tp, fp = np.rint(tpr * n_in), np.rint(fpr * n_out)
    tpr_lo = _clopper_pearson(tp, n_in, alpha / 2, upper=False)
    fpr_hi = _clopper_pearson(fp, n_out, alpha / 2, upper=True)
    # both terms of the bound grow with TPR and shrink with FPR: TPR's lower and FPR's upper bound are conservative
    return max(epsilon_lower_bound(float(a), float(b), delta) for a, b in zip(tpr_lo, fpr_hi))
