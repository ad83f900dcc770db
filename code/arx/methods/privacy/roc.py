"""ROC of a membership score (higher score = "member"), TPR at fixed FPR, AUC, log-log plot.

Thresholds sweep every distinct score (as scikit-learn's ``roc_curve`` with ``drop_intermediate=False``):
a point (FPR, TPR) = (#non-members ≥ t / N_out, #members ≥ t / N_in). TPR@FPR=α is the largest TPR over points
with FPR ≤ α (the attacker picks the threshold knowing the non-member distribution).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _check(members: np.ndarray, nonmembers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(members, dtype=np.float64).ravel()
    n = np.asarray(nonmembers, dtype=np.float64).ravel()
    if m.size == 0:
        raise ValueError("empty member set: a ROC needs at least one member score (pass the scores of training items)")
    if n.size == 0:
        raise ValueError("empty non-member set: a ROC needs at least one non-member score (pass held-out items)")
    if not (np.isfinite(m).all() and np.isfinite(n).all()):
        raise ValueError("membership scores contain NaN or inf: fix the score before computing a ROC")
    return m, n


def roc_curve(members: np.ndarray, nonmembers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), thresholds descending, starting at (0, 0) with threshold +inf."""
    m, n = _check(members, nonmembers)
    t = np.unique(np.concatenate([m, n]))[::-1]
    ms, ns = np.sort(m), np.sort(n)
    tpr = (m.size - np.searchsorted(ms, t, side="left")) / m.size
    fpr = (n.size - np.searchsorted(ns, t, side="left")) / n.size
    return np.r_[0.0, fpr], np.r_[0.0, tpr], np.r_[np.inf, t]


def auc(members: np.ndarray, nonmembers: np.ndarray) -> float:
    """Area under the ROC (trapezoid; equals P(member score > non-member score) + ½ P(tie))."""
    fpr, tpr, _ = roc_curve(members, nonmembers)
    return float(np.trapezoid(tpr, fpr))


def tpr_at_fpr(members: np.ndarray, nonmembers: np.ndarray, fpr: float) -> float:
    """Largest TPR among thresholds with FPR ≤ ``fpr``; ``fpr`` must lie in (0, 1)."""
    if not 0.0 < fpr < 1.0:
        raise ValueError(f"target FPR {fpr!r} is outside (0, 1): pass e.g. 0.01 for 1% FPR")
    f, t, _ = roc_curve(members, nonmembers)
    return float(t[f <= fpr + 1e-12].max())


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str = "") -> None:
    """Log-log ROC of several attacks: ``{name: (member_scores, nonmember_scores)}``."""
    from arx.plots import saved_figure

    with saved_figure(path, (4.5, 4.5), dpi=100) as (_, ax):
        lo = 1.0
        for name, (m, n) in curves.items():
            f, t, _ = roc_curve(m, n)
            lo = min(lo, 1.0 / len(n))
            ax.plot(np.maximum(f, 1e-5), np.maximum(t, 1e-5), label=f"{name} (AUC {auc(m, n):.3f})")
        ax.plot([lo, 1], [lo, 1], "k:", lw=0.8)
        ax.set(xscale="log", yscale="log", xlim=(lo / 2, 1), ylim=(lo / 2, 1.05), xlabel="FPR", ylabel="TPR",
               title=title)
        ax.legend(fontsize=7)
