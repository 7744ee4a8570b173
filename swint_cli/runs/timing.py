"""Summaries of step times: one definition for training runs, comparisons and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True, kw_only=True)
class TimeSummary:
    """Median and 10th/90th percentiles (linear interpolation, as ``numpy.percentile``), ms."""

    median: float
    p10: float
    p90: float


def summarize_times(times_ms: Sequence[float] | np.ndarray) -> TimeSummary | None:
    """The :class:`TimeSummary` of ``times_ms``; None when there are none."""
    times = np.asarray(times_ms, dtype=float)
    if times.size == 0:
        return None
    p10, median, p90 = np.percentile(times, [10, 50, 90])
    return TimeSummary(median=float(median), p10=float(p10), p90=float(p90))


def timed_steps(batches: pd.DataFrame) -> np.ndarray:
    """``step_ms`` of the rows of a batches table not marked as warm-up (NaN rows left out)."""
    if batches.empty or not {"step_ms", "warmup"} <= set(batches.columns):
        return np.empty(0)
    return batches.loc[batches["warmup"] == 0, "step_ms"].dropna().to_numpy(dtype=float)
