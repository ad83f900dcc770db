"""The statistics behind verdicts, checked against known answers on synthetic data (arx.artifact.stats)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from arx.artifact.schema import Condition
from arx.artifact.stats import SeedSample, estimate, percentile_interval, t_quantile

LEVEL = 0.95


def _seeds(values, items=None):
    return [SeedSample(float(v), None if items is None else items[i]) for i, v in enumerate(values)]


def _interval_verdict(lo: float, threshold: float) -> bool:
    """'>=' threshold reproduced under the interval rule: the whole interval at or above it."""
    return lo >= threshold


@pytest.mark.parametrize("seed_sd, n_items", [(0.0, 200), (0.1, 200)])
def test_interval_covers_the_true_value_at_the_nominal_rate(seed_sd, n_items):
    """5 seeds x binary items around p = 0.6, item noise dominating or seed noise dominating: coverage within
    3 standard errors of 95% over 400 simulated experiments."""
    rng = np.random.default_rng(7)
    trials, covered = 400, 0
    for r in range(trials):
        ps = np.clip(0.6 + rng.normal(0, seed_sd, 5), 0, 1)
        items = [(rng.random(n_items) < p).astype(float) for p in ps]
        e = estimate(_seeds([a.mean() for a in items], items), level=LEVEL, resamples=1000, bootstrap_seed=r)
        covered += e.lo <= 0.6 <= e.hi
    se = np.sqrt(LEVEL * (1 - LEVEL) / trials)
    assert abs(covered / trials - LEVEL) <= 3 * se + 0.01, covered / trials


def test_seeds_only_interval_is_the_student_t_interval():
    """Without items the widened percentile interval of 5 seeds matches the t interval of their mean."""
    values = np.array([0.31, 0.52, 0.44, 0.60, 0.38])
    e = estimate(_seeds(values), level=LEVEL, resamples=20000, bootstrap_seed=0)
    lo, hi = sps.t.interval(LEVEL, len(values) - 1, loc=values.mean(), scale=sps.sem(values))
    assert e.estimate == pytest.approx(values.mean())
    assert e.lo == pytest.approx(lo, abs=0.02) and e.hi == pytest.approx(hi, abs=0.02)


def test_false_reproduced_rate_on_the_threshold_is_at_most_one_sided_alpha():
    """True value exactly on the threshold: '>=' is called reproduced (interval entirely above) in at most
    about 2.5% of simulated experiments (one side of a 95% interval)."""
    rng = np.random.default_rng(11)
    trials, passed = 600, 0
    for r in range(trials):
        values = rng.normal(1.0, 0.5, 5)
        e = estimate(_seeds(values), level=LEVEL, resamples=1000, bootstrap_seed=r)
        passed += _interval_verdict(e.lo, 1.0)
    se = np.sqrt(0.025 * 0.975 / trials)
    assert passed / trials <= 0.025 + 3 * se, passed / trials


def test_a_real_effect_is_found():
    """The same test can pass: a true effect of 4 standard errors is reproduced in most experiments."""
    rng = np.random.default_rng(12)
    wins = sum(_interval_verdict(estimate(_seeds(rng.normal(1.0 + 4 * 0.5 / np.sqrt(5), 0.5, 5)), level=LEVEL,
                                          resamples=1000, bootstrap_seed=r).lo, 1.0) for r in range(200))
    assert wins / 200 > 0.5


def test_paired_items_give_a_narrower_interval_than_unpaired_on_correlated_items():
    """One seed, two methods scored on the same 400 items, strongly correlated: the paired interval of the
    difference is much narrower than the unpaired one, and both contain the true difference 0.05."""
    rng = np.random.default_rng(3)
    difficulty = rng.random(400)
    a = (difficulty < 0.65).astype(float)
    b = (difficulty < 0.60).astype(float)
    sample = [SeedSample(float(a.mean() - b.mean()), a, b)]
    paired = estimate(sample, level=LEVEL, resamples=4000, bootstrap_seed=0, paired=True)
    unpaired = estimate(sample, level=LEVEL, resamples=4000, bootstrap_seed=0, paired=False)
    assert (paired.hi - paired.lo) < 0.5 * (unpaired.hi - unpaired.lo)
    for e in (paired, unpaired):
        assert e.lo <= a.mean() - b.mean() <= e.hi


def test_bootstrap_is_deterministic_and_depends_on_its_seed():
    values = [0.2, 0.5, 0.4, 0.9, 0.1]
    one = estimate(_seeds(values), level=LEVEL, resamples=500, bootstrap_seed=5)
    two = estimate(_seeds(values), level=LEVEL, resamples=500, bootstrap_seed=5)
    other = estimate(_seeds(values), level=LEVEL, resamples=500, bootstrap_seed=6)
    assert one == two and one != other


def test_percentile_interval_matches_scipy_bootstrap():
    """Item-level percentile bootstrap of one seed against scipy.stats.bootstrap(method='percentile')."""
    rng = np.random.default_rng(0)
    x = rng.exponential(1.0, 300)
    ours = estimate([SeedSample(float(x.mean()), x)], level=LEVEL, resamples=20000, bootstrap_seed=1)
    ref = sps.bootstrap((x,), np.mean, confidence_level=LEVEL, n_resamples=20000, method="percentile",
                        random_state=1).confidence_interval
    assert ours.lo == pytest.approx(ref.low, abs=0.01) and ours.hi == pytest.approx(ref.high, abs=0.01)
    draws = np.arange(1001, dtype=float)
    assert percentile_interval(draws, 0.9) == pytest.approx((50.0, 950.0))


def test_pooled_estimate_is_the_mean_over_all_items():
    items = [np.array([1.0, 0.0, 1.0, 1.0]), np.array([0.0, 0.0])]
    e = estimate(_seeds([0.75, 0.0], items), level=LEVEL, resamples=500, bootstrap_seed=0, pooled=True)
    assert e.estimate == pytest.approx(3 / 6) and e.n_items == 6
    plain = estimate(_seeds([0.75, 0.0], items), level=LEVEL, resamples=500, bootstrap_seed=0)
    assert plain.estimate == pytest.approx(0.375)


def test_one_seed_without_items_has_no_interval():
    e = estimate(_seeds([0.4]), level=LEVEL, resamples=500, bootstrap_seed=0)
    assert e.estimate == 0.4 and e.lo is None and e.hi is None


def test_condition_rejects_pooled_without_items():
    with pytest.raises(ValueError, match="pooled needs items"):
        Condition(key="acc", comparator=">=", threshold=0.5, pooled=True)


@pytest.mark.parametrize("df", [1, 2, 4, 9, 30])
def test_t_quantile_matches_scipy(df):
    for q in (0.6, 0.9, 0.975, 0.995):
        assert t_quantile(q, df) == pytest.approx(sps.t.ppf(q, df), rel=1e-9)
