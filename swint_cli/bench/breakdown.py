"""Where a measured training step goes, for ``swint bench --calls`` and ``--profile``: the
time of each call into the compiled kernels and oneDNN, and Paddle's operator table."""

from __future__ import annotations

import io
import statistics
from collections.abc import Callable
from contextlib import redirect_stdout

from paddle import profiler

from ..nn.kernels import backend
from .compiled_calls import timed_calls
from .timing import time_steps


def compiled_call_table(step: Callable[[], object], repeat: int) -> str:
    """``repeat`` runs of ``step`` with every compiled call timed: ms and calls per step of
    each kernel (GEMMs by shape), largest first, and the rest of the mean step (Paddle's ops
    and Python); or one line saying why there are no compiled calls."""
    reason = backend.unavailable("kernels")
    if reason is not None:
        return f"no compiled calls: {reason}"
    with timed_calls() as calls:
        times = time_steps(step, repeat, 0)
    return calls.table(steps=repeat, step_ms=statistics.fmean(times))


def operator_table(step: Callable[[], object], steps: int) -> str:
    """Paddle's CPU operator summary of ``steps`` runs of ``step`` (after one untimed),
    the most expensive first."""
    run = profiler.Profiler(targets=[profiler.ProfilerTarget.CPU], scheduler=(1, 1 + steps))
    text = io.StringIO()
    with redirect_stdout(text):  # the profiler prints its tables
        run.start()
        for _ in range(steps + 2):
            step()
            run.step()
        run.stop()
        run.summary(sorted_by=profiler.SortedKeys.CPUTotal, op_detail=False, time_unit="ms")
    return text.getvalue().strip()
