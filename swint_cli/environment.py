"""Facts about the running Paddle and machine, for `swint env`, run records and benchmarks."""

from __future__ import annotations

import platform

from . import __version__
from .runtime import available_cores, mkl_cpu_type


def describe(threads: int) -> dict[str, object]:
    """Paddle version and build, device, CPU threads in use and the MKL setting."""
    import paddle

    cuda = paddle.is_compiled_with_cuda()
    gpus = paddle.device.cuda.device_count() if cuda else 0
    return {
        "swint": __version__,
        "python": platform.python_version(),
        "paddle": paddle.__version__,
        "paddle_build": "gpu" if cuda else "cpu",
        "device": paddle.device.get_device(),
        "gpus": gpus,
        "cpu": platform.processor() or platform.machine(),
        "cores": available_cores(),
        "threads": threads,
        "mkl_debug_cpu_type": mkl_cpu_type(),
    }
