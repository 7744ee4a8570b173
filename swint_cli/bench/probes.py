"""Device probes for a measuring process: synchronisation, peak memory, a matmul reference."""

from __future__ import annotations

import resource
import sys
from collections.abc import Callable
from pathlib import Path

import paddle

from ..runs import summarize_times
from .timing import time_steps

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def synchronizer(device: str) -> Callable[[], object] | None:
    """What to call before reading the clock: the CUDA synchronisation on a GPU, else None."""
    return paddle.device.cuda.synchronize if device == "gpu" else None


def _max_rss_mb() -> float:
    kilo = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kilo / 2**20 if sys.platform == "darwin" else kilo / 2**10  # bytes on macOS


def _current_rss_mb() -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**10  # kB
    except OSError:
        pass
    return None


def _host_stat(name: str) -> Callable[..., int] | None:
    return getattr(paddle.base.core, f"host_memory_stat_{name}", None)


class PeakMemory:
    """Peak memory growth of this process between :meth:`start` and :meth:`peak_mb`.

    GPU: ``paddle.device.cuda.max_memory_allocated`` minus what was allocated at the start
    (the peak is reset first where Paddle can). CPU: the peak of what Paddle's host allocator
    holds for tensors minus what it held at the start, with the peak reset first (Paddle 3);
    the tensors' memory, as on a GPU. Where Paddle cannot reset that peak (2.6), the peak
    resident set size minus the resident size at the start (on Linux the kernel's peak is
    reset first by writing 5 to ``/proc/self/clear_refs``; elsewhere the growth over the
    earlier peak is a lower bound): it also counts what the C allocator keeps cached.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self.source = "gpu max_memory_allocated growth"
        self._base = 0.0
        self._allocator = False

    def start(self) -> None:
        if self.device == "gpu":
            cuda = paddle.device.cuda
            if hasattr(cuda, "reset_max_memory_allocated"):  # Paddle >= 3
                cuda.reset_max_memory_allocated()
            self._base = cuda.memory_allocated() / 2**20
            return
        current, reset = _host_stat("current_value"), _host_stat("reset_peak_value")
        if current is not None and reset is not None and _host_stat("peak_value") is not None:
            reset("Allocated", 0)
            self._allocator = True
            self.source = "cpu paddle allocator peak growth"
            self._base = current("Allocated", 0) / 2**20
            return
        rss = _current_rss_mb()
        try:
            _CLEAR_REFS.write_text("5")
            reset_rss = rss is not None
        except OSError:
            reset_rss = False
        self.source = "cpu peak RSS growth" if reset_rss else "cpu peak RSS growth (lower bound)"
        self._base = rss if reset_rss else _max_rss_mb()  # type: ignore[assignment]

    def peak_mb(self) -> float:
        if self.device == "gpu":
            return paddle.device.cuda.max_memory_allocated() / 2**20 - self._base
        if self._allocator:
            return max(_host_stat("peak_value")("Allocated", 0) / 2**20 - self._base, 0.0)  # type: ignore[misc]
        return max(_max_rss_mb() - self._base, 0.0)


def matmul_side(macs: float) -> int:
    """Side ``n`` of the square matmul with about ``macs`` multiply-accumulates (64..4096)."""
    return min(max(round(macs ** (1 / 3)), 64), 4096)


def matmul_rate(macs: float, device: str, amp: bool, repeat: int, warmup: int) -> tuple[float, int]:
    """Multiply-accumulates per second (in units of 1e9) of ``paddle.matmul`` on an ``n x n``
    pair with ``n**3`` about ``macs`` (:func:`matmul_side`), timed like the subject; and ``n``.
    """
    n = matmul_side(macs)
    a, b = paddle.randn([n, n]), paddle.randn([n, n])

    def step() -> None:
        with paddle.amp.auto_cast(enable=amp):
            paddle.matmul(a, b)

    with paddle.no_grad():
        times = time_steps(step, repeat, warmup, synchronizer(device))
    median = summarize_times(times).median  # type: ignore[union-attr]  # repeat >= 1
    return n**3 / (median / 1000) / 1e9, n
