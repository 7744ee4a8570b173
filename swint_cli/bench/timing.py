"""The benchmarks' timing loop (no Paddle import); :func:`swint_cli.runs.summarize_times`
summarises its times."""

from __future__ import annotations

import time
from collections.abc import Callable


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
