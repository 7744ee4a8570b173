"""Process-level CPU settings for Paddle: threads, MKL's code path and the allocator.

Paddle's CPU kernels use one thread unless told otherwise; the MKL bundled with Paddle takes
a slow code path on AMD CPUs unless ``MKL_DEBUG_CPU_TYPE=5`` is in the environment before
Paddle is imported; and glibc's malloc returns the 10-40 MB activation buffers of a training
step to the OS after each use, so every step page-faults them in again.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import warnings

MKL_CPU_TYPE_VAR = "MKL_DEBUG_CPU_TYPE"

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4

_applied: dict[str, object] = {}
_threads: list[int] = []  # the last count given to Paddle by this module


def prepare_environment() -> None:
    """Set ``MKL_DEBUG_CPU_TYPE=5`` unless the user set it; must run before ``import paddle``."""
    if "paddle" not in sys.modules:
        os.environ.setdefault(MKL_CPU_TYPE_VAR, "5")
    # Paddle warns about a missing ccache on import, which concerns only C++ extension builds,
    # and on every BatchNorm call in training mode that it tracks global statistics.
    warnings.filterwarnings("ignore", message="No ccache found")
    warnings.filterwarnings("ignore", message="When training, we now always track global mean")


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def set_cpu_threads(threads: int | None = None) -> int:
    """Let Paddle's CPU kernels use ``threads`` threads (all available cores when None)."""
    import paddle

    threads = threads or available_cores()
    if threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads}")
    paddle.base.core.set_num_threads(threads)
    _threads[:] = [threads]
    return threads


def threads_in_use() -> int:
    """Paddle's CPU thread count as last set here (Paddle's own default is 1)."""
    return _threads[0] if _threads else 1


def mkl_cpu_type() -> str | None:
    """The MKL code path forced through the environment, if any."""
    return os.environ.get(MKL_CPU_TYPE_VAR)


def keep_heap_memory() -> bool:
    """Make glibc malloc keep freed memory for reuse instead of unmapping it.

    Large blocks come from the heap instead of fresh ``mmap``s, the heap is never trimmed
    and grows in 256 MB steps. Costs: freed memory is not returned to the OS while the
    process lives. Returns False (and does nothing) on a C library other than glibc.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL("libc.so.6")
    ok = libc.mallopt(_M_MMAP_MAX, 0) and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    return bool(ok and libc.mallopt(_M_TOP_PAD, 256 * 2**20))


def tune_cpu(threads: int | None = None, malloc: bool = True) -> dict[str, object]:
    """Apply the CPU settings that pay off for Paddle training, once per process.

    - ``threads``: Paddle's CPU thread count (all available cores when None).
    - ``MKL_DEBUG_CPU_TYPE=5``: takes effect only if set before Paddle was imported (the
      ``swint`` command does that); reported as ``mkl_debug_cpu_type`` with
      ``mkl_took_effect``.
    - ``malloc``: :func:`keep_heap_memory` (glibc only); False leaves the allocator alone.

    Returns what was applied. Later calls change only the thread count.
    """
    if not _applied:
        mkl_before_import = "paddle" not in sys.modules
        prepare_environment()
        _applied["mkl_debug_cpu_type"] = mkl_cpu_type()
        _applied["mkl_took_effect"] = mkl_before_import and mkl_cpu_type() is not None
        _applied["malloc_tuned"] = keep_heap_memory() if malloc else False
    _applied["threads"] = set_cpu_threads(threads)
    return dict(_applied)
