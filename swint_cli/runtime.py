"""Process-level CPU settings for Paddle: threads, MKL's code path and the allocator.

Paddle's CPU kernels use one thread unless told otherwise; the MKL bundled with Paddle takes
a generic code path on AMD CPUs unless ``MKL_DEBUG_CPU_TYPE=5`` is in the environment before
Paddle is imported (on Intel the same setting caps MKL at its AVX2 path, so it is set on AMD
only); and glibc's malloc returns the 10-40 MB activation buffers of a training step to the
OS after each use, so every step page-faults them in again.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import warnings

# Before Paddle: 2.6's libpaddle exports its own zlib, which would otherwise serve Python's
# zlib module too (PNG plots, scipy) and crash it.
import zlib  # noqa: F401

MKL_CPU_TYPE_VAR = "MKL_DEBUG_CPU_TYPE"

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4

AMD_VENDOR = "AuthenticAMD"

_applied: dict[str, object] = {}
_threads: list[int] = []  # the last count given to Paddle by this module
_mkl_reason: list[str] = []  # why MKL_DEBUG_CPU_TYPE is what it is, once decided


def cpu_info(field: str) -> str:
    """The first value of ``field`` (``vendor_id``, ``model name``) in /proc/cpuinfo, or ""."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() == field:
                    return value.strip()
    except OSError:
        pass
    return ""


def choose_mkl_cpu_type(vendor: str, current: str | None) -> tuple[str | None, str]:
    """The ``MKL_DEBUG_CPU_TYPE`` value for a CPU of ``vendor`` (a cpuinfo ``vendor_id``) when
    the environment already holds ``current``, and the reason, for env records.

    A value the user set is kept. On AMD, 5 sends MKL to its AVX2 path instead of its generic
    one; elsewhere the variable stays unset, since MKL picks its best path (AVX-512, AMX) on
    Intel by itself and 5 would cap it at AVX2.
    """
    if current is not None:
        return current, "set before swint started"
    if vendor == AMD_VENDOR:
        return "5", f"{AMD_VENDOR} CPU: MKL's AVX2 path instead of its generic one"
    return None, f"{vendor or 'unknown'} CPU: MKL picks its own path"


GLOG_LEVEL_VAR = "GLOG_minloglevel"  # Paddle's C++ logging: 0 INFO, 1 WARNING, 2 ERROR


def prepare_environment(verbose: bool = False) -> None:
    """Choose ``MKL_DEBUG_CPU_TYPE`` by CPU vendor (:func:`choose_mkl_cpu_type`) and, unless
    ``verbose``, hide Paddle's own INFO and WARNING log lines (``GLOG_minloglevel=2``, where
    not set already); must run before ``import paddle`` to take effect, and decides once per
    process."""
    if not _mkl_reason and not verbose and "paddle" not in sys.modules:  # the first call
        os.environ.setdefault(GLOG_LEVEL_VAR, "2")
    if not _mkl_reason:
        if "paddle" in sys.modules:
            _mkl_reason.append(
                "left as found: Paddle was imported before swint's CPU settings"
                if mkl_cpu_type() is None
                else "set before swint started"
            )
        else:
            value, reason = choose_mkl_cpu_type(cpu_info("vendor_id"), mkl_cpu_type())
            if value is not None:
                os.environ[MKL_CPU_TYPE_VAR] = value
            _mkl_reason.append(reason)
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


def set_cpu_threads(threads: int | None = None, paddle: bool = True) -> int:
    """Let Paddle's CPU kernels use ``threads`` threads (all available cores when None);
    with ``paddle`` False only return the count, leaving Paddle unloaded."""
    threads = threads or available_cores()
    if threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads}")
    if paddle:
        from paddle.base import core

        core.set_num_threads(threads)
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


def tune_cpu(
    threads: int | None = None, malloc: bool = True, paddle: bool = True
) -> dict[str, object]:
    """Apply the CPU settings that pay off for Paddle training, once per process.

    - ``threads``: Paddle's CPU thread count (all available cores when None).
    - ``MKL_DEBUG_CPU_TYPE``: 5 on AMD CPUs unless the user set it (:func:`prepare_environment`);
      takes effect only if set before Paddle was imported (the ``swint`` command does that);
      reported as ``mkl_debug_cpu_type`` with ``mkl_choice`` (why) and ``mkl_took_effect``.
    - ``malloc``: :func:`keep_heap_memory` (glibc only); False leaves the allocator alone.
    - ``paddle``: False sets no thread count, so that Paddle stays unloaded (a command that
      runs no Paddle code, or ``--help``).

    Returns what was applied. Later calls change only the thread count.
    """
    if not _applied:
        mkl_before_import = "paddle" not in sys.modules
        prepare_environment()
        _applied["mkl_debug_cpu_type"] = mkl_cpu_type()
        _applied["mkl_choice"] = _mkl_reason[0]
        _applied["mkl_took_effect"] = mkl_before_import and mkl_cpu_type() is not None
        _applied["malloc_tuned"] = keep_heap_memory() if malloc else False
    _applied["threads"] = set_cpu_threads(threads, paddle)
    return dict(_applied)
