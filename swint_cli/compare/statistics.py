"""Seeds into intervals, tests and verdicts: the statistics behind ``swint compare``'s groups.

A group is several runs of one configuration with different seeds; each run gives one figure
(the mean of its last epochs' validation metric). :func:`describe` gives a group's mean,
standard deviation and the 95% confidence interval of its mean (Student's t);
:func:`compare_to_baseline` tests a group against the baseline: a paired t-test over the seeds
both share, Welch's t-test when they share fewer than two, and with 80% power the smallest
difference this many seeds at this spread would detect. The intervals, tests and Welch's
degrees of freedom are scipy.stats'; the power of the t-test is integrated here, because
scipy's noncentral t (``stats.nct``) returns NaN at 1-8 degrees of freedom and
noncentrality 8-12, where few-seed power falls. Higher figures are better (accuracy, IoU).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE  # two-sided significance level of the tests
POWER = 0.8  # for the smallest detectable difference

PAIRED = "paired t-test"
WELCH = "Welch's t-test"
NO_TEST = "one run: no test"
BETTER, WORSE, NO_DIFFERENCE = "better", "worse", "no difference detected"


@dataclass(frozen=True)
class Spread:
    """A group's figures: ``n`` runs, their mean and standard deviation (ddof 1), and the
    95% confidence interval of the mean; std and interval are None for a group of one."""

    n: int
    mean: float
    std: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class Difference:
    """A group against the baseline: the difference of means (group - baseline) with its 95%
    interval, the test used (:data:`PAIRED`, :data:`WELCH` or :data:`NO_TEST`), the number of
    pairs or runs it used, p-value, effect size (Cohen's d: d_z for pairs), verdict and, for
    :data:`NO_DIFFERENCE`, the smallest difference detected with 80% power."""

    diff_mean: float
    diff_ci_low: float | None
    diff_ci_high: float | None
    test: str
    pairs: int
    p_value: float | None
    effect_size: float | None
    verdict: str
    min_detectable_diff: float | None


def _t_quantile(df: float) -> float:
    return float(stats.t.ppf(1 - ALPHA / 2, df))


def describe(values: Sequence[float]) -> Spread:
    """Mean, std and the t interval of the mean of ``values`` (at least one)."""
    data = np.asarray(values, dtype=float)
    n, mean = len(data), float(data.mean())
    if n < 2:
        return Spread(n, mean, None, None, None)
    std = float(data.std(ddof=1))
    if std == 0:  # scipy's interval needs a spread
        return Spread(n, mean, 0.0, mean, mean)
    low, high = stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=stats.sem(data))
    return Spread(n, mean, std, float(low), float(high))


def power(shift: float, df: float) -> float:
    """Power of the two-sided t-test at :data:`ALPHA` when the true difference is ``shift``
    standard errors: P(|T| > t_crit) for T = (Z + shift) / sqrt(V / df), V ~ chi2(df), the
    noncentral t integrated over V here, since ``stats.nct`` returns NaN at df 1-8 and
    noncentrality 8-12, where the power of a few seeds falls."""
    critical = _t_quantile(df)

    def given_v(v: float) -> float:
        scaled = critical * math.sqrt(v / df)
        return float(stats.norm.cdf(shift - scaled) + stats.norm.cdf(-scaled - shift))

    return float(stats.chi2(df).expect(given_v))


def min_detectable_difference(se: float, df: float) -> float:
    """The smallest true difference that a two-sided t-test at :data:`ALPHA`, with standard
    error ``se`` and ``df`` degrees of freedom, detects with probability :data:`POWER`.
    0 when ``se`` is 0: without spread, any difference shows."""
    if se == 0:
        return 0.0
    upper = 1.0
    while power(upper, df) < POWER:
        upper *= 2
    shift = optimize.brentq(lambda s: power(s, df) - POWER, 0.0, upper, xtol=1e-10)
    return float(shift) * se


def _verdict(diff: float, p_value: float) -> str:
    if p_value < ALPHA:
        return BETTER if diff > 0 else WORSE
    return NO_DIFFERENCE


def _difference(
    diff: float,
    interval: tuple[float, float],
    se: float,
    df: float,
    p_value: float,
    effect: float | None,
    test: str,
    pairs: int,
) -> Difference:
    verdict = _verdict(diff, p_value)
    detectable = min_detectable_difference(se, df) if verdict == NO_DIFFERENCE else None
    low, high = interval
    return Difference(diff, low, high, test, pairs, p_value, effect, verdict, detectable)


def _p_without_spread(diff: float) -> float:
    """Runs that agree exactly: no difference, or one every seed shows (scipy's tests are
    undefined at zero variance)."""
    return 1.0 if diff == 0 else 0.0


def paired_test(baseline: Sequence[float], group: Sequence[float]) -> Difference:
    """Paired t-test of ``group - baseline`` over matched seeds (at least two pairs), with
    Cohen's d_z (the mean difference over the pairs' standard deviation)."""
    deltas = np.asarray(group, dtype=float) - np.asarray(baseline, dtype=float)
    n, diff = len(deltas), float(deltas.mean())
    sd = float(deltas.std(ddof=1))
    se = sd / math.sqrt(n)
    if sd == 0:
        return _difference(diff, (diff, diff), 0.0, n - 1, _p_without_spread(diff), None, PAIRED, n)
    result = stats.ttest_rel(group, baseline)
    interval = result.confidence_interval(CONFIDENCE)
    bounds = (float(interval.low), float(interval.high))
    return _difference(diff, bounds, se, n - 1, float(result.pvalue), diff / sd, PAIRED, n)


def welch_test(baseline: Sequence[float], group: Sequence[float]) -> Difference:
    """Welch's t-test of the two groups' means (at least two runs each), with Cohen's d over
    the two groups' pooled standard deviation."""
    a, b = np.asarray(baseline, dtype=float), np.asarray(group, dtype=float)
    diff, runs = float(b.mean() - a.mean()), len(a) + len(b)
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    if se == 0:
        return _difference(diff, (diff, diff), 0.0, 1, _p_without_spread(diff), None, WELCH, runs)
    result = stats.ttest_ind(b, a, equal_var=False)
    interval = result.confidence_interval(CONFIDENCE)
    bounds = (float(interval.low), float(interval.high))
    effect = diff / math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    return _difference(
        diff, bounds, se, float(result.df), float(result.pvalue), effect, WELCH, runs
    )


def compare_to_baseline(baseline: dict[int, float], group: dict[int, float]) -> Difference:
    """``group`` against ``baseline``, each a figure per seed: paired over the shared seeds
    when there are at least two, else Welch's test over all runs; a group of one (either
    side) gets :data:`NO_TEST` and only the difference of means."""
    shared = sorted(set(baseline) & set(group))
    if len(shared) >= 2:
        return paired_test([baseline[s] for s in shared], [group[s] for s in shared])
    if len(baseline) >= 2 and len(group) >= 2:
        return welch_test(list(baseline.values()), list(group.values()))
    diff = float(np.mean(list(group.values())) - np.mean(list(baseline.values())))
    return Difference(diff, None, None, NO_TEST, 0, None, None, NO_TEST, None)
