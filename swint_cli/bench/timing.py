"""A timing loop and its summary, shared by the benchmarks (no Paddle import)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np


def time_steps(
    step: Callable[[], object],
    repeat: int,
    warmup: int,
    sync: Callable[[], object] | None = None,
) -> list[float]:
    """Run ``step`` ``warmup`` times untimed, then ``repeat`` times timed; milliseconds each.

    ``sync`` (``paddle.device.cuda.synchronize`` on a GPU) is called after every step and
    before the first timed one, so the clock is read only once the device has finished.
    """
    if repeat < 1 or warmup < 0:
        raise ValueError(f"need repeat >= 1 and warmup >= 0, got {repeat} and {warmup}")
    for _ in range(warmup):
        step()
    if sync is not None:
        sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        if sync is not None:
            sync()
        times.append((time.perf_counter() - start) * 1000)
    return times


def summarize(times_ms: Sequence[float]) -> dict[str, float]:
    """Median, 10th and 90th percentile (linear interpolation, as ``numpy.percentile``)."""
    if not times_ms:
        raise ValueError("no times to summarize")
    p10, median, p90 = np.percentile(np.asarray(times_ms, dtype=float), [10, 50, 90])
    return {"median": float(median), "p10": float(p10), "p90": float(p90)}
