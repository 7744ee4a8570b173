"""Where a step's time goes inside the compiled paths (``swint bench --calls``): every call
into the compiled kernels' library, timed and summed by kernel (GEMMs by shape and
transposes), so that the rest of the step is Paddle's own ops and Python. Paddle's profiler
cannot see inside these calls; this sees only them.

    with timed_calls() as calls:
        for _ in range(repeat):
            step()
    print(calls.table(steps=repeat, step_ms=...))
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..nn.kernels import backend


def _name(function: str, args: tuple[Any, ...]) -> str:
    """The kernel's name, with the shape and transposes for the GEMMs."""
    if function == "swint_gemm":  # function, transa, transb, m, n, k, ...
        return f"gemm {args[1].decode()}{args[2].decode()} m{args[3]} n{args[4]} k{args[5]}"
    if function == "swint_batched_gemm":  # ..., transa, transb, outer, inner, m, n, k, ...
        batch = args[4] * args[5]
        shape = f"m{args[6]} n{args[7]} k{args[8]}"
        return f"batched gemm {args[2].decode()}{args[3].decode()} {batch} x {shape}"
    return function


class _TimedLibrary:
    """The compiled library with every function call timed into ``totals``."""

    def __init__(self, library: Any, totals: dict[str, list[float]]) -> None:
        self._library, self._totals = library, totals

    def __getattr__(self, function: str) -> Callable[..., Any]:
        call = getattr(self._library, function)

        def timed(*args: Any) -> Any:
            start = time.perf_counter()
            result = call(*args)
            entry = self._totals[_name(function, args)]
            entry[0] += time.perf_counter() - start
            entry[1] += 1
            return result

        return timed


class CallTimes:
    """Calls into the compiled kernels, timed (seconds, count) by name: see :func:`timed_calls`."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])

    def table(self, steps: int, step_ms: float) -> str:
        """ms per step and calls per step of each kernel, largest first, then the step's
        time outside them (``step_ms``: the measured step)."""
        rows = sorted(self.totals.items(), key=lambda item: -item[1][0])
        inside = sum(seconds for seconds, _ in self.totals.values()) * 1000 / steps
        lines = [f"{'ms/step':>8} {'calls':>6}  compiled call"]
        lines += [
            f"{seconds * 1000 / steps:8.1f} {count // steps:6d}  {name}"
            for name, (seconds, count) in rows
        ]
        gemms = sum(seconds for name, (seconds, _) in rows if "gemm" in name) * 1000 / steps
        lines.append(f"{gemms:8.1f} {'':6}  of which matrix products (gemm)")
        lines.append(f"{inside:8.1f} {'':6}  all compiled calls")
        lines.append(f"{step_ms - inside:8.1f} {'':6}  the rest: Paddle's ops and Python")
        return "\n".join(lines)


@contextmanager
def timed_calls() -> Iterator[CallTimes]:
    """Within the block, every call into the compiled kernels is timed into the
    :class:`CallTimes` yielded. RuntimeError where the kernels do not run."""
    if not backend.enabled("kernels"):
        raise RuntimeError(f"{backend.unavailable('kernels')}: no compiled calls to time")
    calls = CallTimes()
    with backend.intercept("kernels", lambda library: _TimedLibrary(library, calls.totals)):
        yield calls
