"""The timing loop the benchmark scripts share (swint's and the PyTorch references alike):
it imports neither Paddle nor torch."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def step_times(step: Callable[[], object], warmup: int, repeat: int) -> list[float]:
    """Run ``step`` ``warmup`` times untimed, then ``repeat`` times timed; returns the timed
    runs' milliseconds, sorted."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)


def time_step(step: Callable[[], object], warmup: int, repeat: int) -> str:
    """:func:`step_times` as ``"median M ms (p10 A, p90 B)"``."""
    times = step_times(step, warmup, repeat)
    p10, p90 = times[len(times) // 10], times[(len(times) * 9) // 10]
    return f"median {statistics.median(times):.0f} ms (p10 {p10:.0f}, p90 {p90:.0f})"
