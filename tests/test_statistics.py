"""compare's statistics against their definitions: scipy's tests, the t intervals written
out by hand, and the power of the t-test estimated by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from swint_cli.compare.statistics import (
    ALPHA,
    NO_DIFFERENCE,
    NO_TEST,
    PAIRED,
    POWER,
    WELCH,
    compare_to_baseline,
    describe,
    min_detectable_difference,
    power,
)

BASE = [0.412, 0.398, 0.431, 0.405, 0.420]
GROUP = [0.425, 0.401, 0.452, 0.433, 0.429]


def t_half_width(sd: float, n: int, df: float) -> float:
    """Half the 95% interval of a mean: t_{0.975, df} * sd / sqrt(n)."""
    return float(stats.t.ppf(1 - ALPHA / 2, df)) * sd / math.sqrt(n)


def test_a_groups_interval_is_the_t_interval_of_its_mean() -> None:
    spread = describe(BASE)
    mean, sd = float(np.mean(BASE)), float(np.std(BASE, ddof=1))
    half = t_half_width(sd, len(BASE), len(BASE) - 1)
    assert (spread.n, spread.mean, spread.std) == (5, pytest.approx(mean), pytest.approx(sd))
    assert (spread.ci_low, spread.ci_high) == (
        pytest.approx(mean - half),
        pytest.approx(mean + half),
    )
    one = describe([0.5])
    assert (one.n, one.mean, one.std, one.ci_low, one.ci_high) == (1, 0.5, None, None, None)


def test_the_paired_test_is_scipys_with_its_interval_and_cohens_dz() -> None:
    deltas = np.subtract(GROUP, BASE)
    diff, sd = float(deltas.mean()), float(deltas.std(ddof=1))
    result = compare_to_baseline(dict(enumerate(BASE)), dict(enumerate(GROUP)))
    assert (result.test, result.pairs) == (PAIRED, 5)
    assert result.diff_mean == pytest.approx(diff)
    assert result.p_value == pytest.approx(stats.ttest_rel(GROUP, BASE).pvalue)
    half = t_half_width(sd, 5, 4)
    assert result.diff_ci_low == pytest.approx(diff - half)
    assert result.diff_ci_high == pytest.approx(diff + half)
    assert result.effect_size == pytest.approx(diff / sd)  # d_z: the mean over the SD of pairs
    assert result.verdict == ("better" if result.p_value < ALPHA else NO_DIFFERENCE)


def test_welchs_test_is_scipys_with_welch_satterthwaite_degrees_of_freedom() -> None:
    base, group = BASE, [0.43, 0.47, 0.41]
    result = compare_to_baseline(dict(enumerate(base)), {10 + i: v for i, v in enumerate(group)})
    va, vb = np.var(base, ddof=1) / len(base), np.var(group, ddof=1) / len(group)
    df = (va + vb) ** 2 / (va**2 / (len(base) - 1) + vb**2 / (len(group) - 1))
    diff = float(np.mean(group) - np.mean(base))
    half = float(stats.t.ppf(1 - ALPHA / 2, df)) * math.sqrt(va + vb)
    assert (result.test, result.pairs) == (WELCH, 8)
    assert result.p_value == pytest.approx(stats.ttest_ind(group, base, equal_var=False).pvalue)
    assert (result.diff_ci_low, result.diff_ci_high) == (
        pytest.approx(diff - half),
        pytest.approx(diff + half),
    )
    pooled_sd = math.sqrt((np.var(base, ddof=1) + np.var(group, ddof=1)) / 2)
    assert result.effect_size == pytest.approx(diff / pooled_sd)


def test_a_group_of_one_gets_no_test() -> None:
    result = compare_to_baseline(dict(enumerate(BASE)), {0: 0.5})
    assert (result.test, result.p_value, result.diff_ci_low) == (NO_TEST, None, None)
    assert result.diff_mean == pytest.approx(0.5 - np.mean(BASE))


def test_runs_that_agree_exactly_are_no_difference_with_p_1() -> None:
    result = compare_to_baseline({0: 0.4, 1: 0.5}, {0: 0.4, 1: 0.5})
    assert (result.verdict, result.p_value, result.min_detectable_diff) == (NO_DIFFERENCE, 1.0, 0)


@pytest.mark.parametrize("df", [20, 60])
def test_power_is_the_noncentral_t_where_scipy_computes_it(df: int) -> None:
    critical = stats.t.ppf(1 - ALPHA / 2, df)
    for shift in (0.5, 2.0, 3.5):
        expected = stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift)
        assert power(shift, df) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("pairs", [3, 5, 8])
def test_the_detectable_difference_is_found_with_80_percent_power_by_simulation(
    pairs: int,
) -> None:
    """Simulated paired experiments whose true difference is the detectable one reject at
    p < 0.05 in 80% of cases (within the simulation's error)."""
    sd = 1.0
    detectable = min_detectable_difference(sd / math.sqrt(pairs), pairs - 1)
    rng = np.random.default_rng(3)
    trials = 40_000
    deltas = rng.normal(detectable, sd, size=(trials, pairs))
    t = deltas.mean(axis=1) / (deltas.std(axis=1, ddof=1) / math.sqrt(pairs))
    rejected = np.mean(np.abs(t) > stats.t.ppf(1 - ALPHA / 2, pairs - 1))
    assert rejected == pytest.approx(POWER, abs=3 * math.sqrt(POWER * (1 - POWER) / trials) + 0.005)
