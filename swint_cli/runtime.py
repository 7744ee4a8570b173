"""Process-level CPU settings: thread count and MKL's code path.

Paddle's CPU kernels use one thread unless told otherwise, and the MKL bundled with Paddle
takes a slow code path on AMD CPUs unless ``MKL_DEBUG_CPU_TYPE=5`` is in the environment
before Paddle is imported.
"""

from __future__ import annotations

import os
import sys
import warnings

MKL_CPU_TYPE_VAR = "MKL_DEBUG_CPU_TYPE"


def prepare_environment() -> None:
    """Set ``MKL_DEBUG_CPU_TYPE=5`` unless the user set it; must run before ``import paddle``."""
    if "paddle" not in sys.modules:
        os.environ.setdefault(MKL_CPU_TYPE_VAR, "5")
    # Paddle warns about a missing ccache on import, which concerns only C++ extension builds.
    warnings.filterwarnings("ignore", message="No ccache found")


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
    core = paddle.base.core if hasattr(paddle, "base") else paddle.fluid.core
    core.set_num_threads(threads)
    return threads


def mkl_cpu_type() -> str | None:
    """The MKL code path forced through the environment, if any."""
    return os.environ.get(MKL_CPU_TYPE_VAR)
