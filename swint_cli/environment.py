"""Facts about the running Paddle and machine, for `swint env`, run records and benchmarks."""

from __future__ import annotations

import platform
from datetime import datetime

from . import __version__
from .errors import UserError
from .nn.kernels import backend
from .runtime import available_cores, cpu_info


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    return cpu_info("model name") or platform.processor() or platform.machine()


def describe() -> dict[str, object]:
    """Paddle version and build, device, CPU cores, the compiled CPU kernels, oneDNN's GEMMs
    and convolutions, and whether bf16 products can run."""
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
        "cpu": cpu_model(),
        "cores": available_cores(),
        **backend.status(),
    }


def describe_session(device: str, runtime: dict[str, object]) -> dict[str, object]:
    """:func:`describe` plus what a run or benchmark records of its session: the CPU
    settings applied (``runtime``, from ``tune_cpu``), the device used and its name, and the
    start time."""
    import paddle

    from .runtime import threads_in_use

    gpu = device == "gpu"
    return {
        **describe(),
        "threads": threads_in_use(),
        **runtime,
        "device": device,
        "device_name": paddle.device.cuda.get_device_name() if gpu else cpu_model(),
        "start_time": datetime.now().isoformat(timespec="seconds"),
    }


def resolve_device(requested: str) -> str:
    """``auto`` -> ``gpu`` when this Paddle has CUDA and a GPU, else ``cpu``; UserError when
    ``gpu`` is asked of a Paddle that sees none."""
    import paddle

    has_gpu = paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
    if requested == "gpu" and not has_gpu:
        raise UserError("training.device: gpu requested, but this Paddle build sees no GPU")
    if requested == "auto":
        return "gpu" if has_gpu else "cpu"
    return requested
