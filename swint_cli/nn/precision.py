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
``bf16``), the compiled kernels and oneDNN's bf16 GEMM: ``backend.unavailable("bf16")``
(:mod:`.kernels.backend`) says which is missing, and where one is the products stay float32.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .kernels import backend

PRECISIONS = ("fp32", "bf16")

_active = ["fp32"]


def effective(precision: str) -> str:
    """The precision the products will run in when ``precision`` is asked for."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return "bf16" if precision == "bf16" and backend.unavailable("bf16") is None else "fp32"


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
