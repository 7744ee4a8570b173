"""The precision of the layer library's matrix products and convolutions on the CPU:
``fp32`` or ``bf16``.

Under ``autocast("bf16")`` the products of :mod:`swint_cli.nn.products` (SwinT's Linear
layers and attention, the Linear layers and small convolutions of converted backbones) take
bfloat16 copies of their inputs and accumulate and return float32, through oneDNN's
``dnnl_gemm_bf16bf16f32``, and so do the convolutions of :mod:`swint_cli.nn.convolution`
(oneDNN's primitives). Everything else stays float32: the weights the optimizer updates,
its state, LayerNorm, softmax, BatchNorm, the loss and the gradients handed back to Paddle.
A product's or convolution's backward runs in the precision its forward ran in.

bfloat16 needs the CPU's bfloat16 instructions (x86 ``avx512_bf16`` or ``amx_bf16``, ARM
``bf16``) and oneDNN's bf16 GEMM: :func:`bf16_unavailable` says which is missing, and where
one is the products stay float32.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..runtime import cpu_info
from . import kernels
from .kernels import onednn

PRECISIONS = ("fp32", "bf16")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")

_active = ["fp32"]


def cpu_bf16_flags() -> list[str]:
    """This CPU's bfloat16 instruction flags (from /proc/cpuinfo), empty when it has none."""
    flags = (cpu_info("flags") or cpu_info("Features")).split()
    return [flag for flag in BF16_CPU_FLAGS if flag in flags]


def bf16_unavailable() -> str | None:
    """Why bfloat16 products cannot run on this machine, or None when they can."""
    if not cpu_bf16_flags():
        return f"this CPU has no bfloat16 instructions ({', '.join(BF16_CPU_FLAGS[:2])})"
    if not kernels.status()["built"]:
        return "the compiled CPU kernels are off or unavailable"
    if not onednn.has_gemm(onednn.BFLOAT16_GEMM):
        return f"oneDNN's {onednn.BFLOAT16_GEMM} is off or unavailable"
    return None


def effective(precision: str) -> str:
    """The precision the products will run in when ``precision`` is asked for."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return "bf16" if precision == "bf16" and bf16_unavailable() is None else "fp32"


@contextmanager
def autocast(precision: str) -> Iterator[str]:
    """Run the enclosed products in ``precision`` where it is available (see :func:`effective`);
    yields the precision in effect."""
    chosen = effective(precision)
    previous = _active[0]
    _active[0] = chosen
    try:
        yield chosen
    finally:
        _active[0] = previous


def products_in_bf16() -> bool:
    """True inside ``autocast("bf16")`` on a machine that can run it."""
    return _active[0] == "bf16"
