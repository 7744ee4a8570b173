"""(Shifted) window partition and its inverse as one row gather each, on the CPU.

The plain path pads the ``(B, H, W, C)`` map, rolls it by ``-shift``, and permutes it into
windows, then undoes all three after attention: six copies forward and six backward. Each
direction is a fixed reordering of token rows (:func:`~.window_geometry.window_token_order`),
so here each is one pass of the compiled ``swint_gather_rows``, and each backward is the
gather with the inverse order. Where the kernels are unavailable callers use the plain path.
"""

from __future__ import annotations

import paddle
from paddle.autograd import PyLayer

from . import kernels
from .kernels import backend
from .window_geometry import map_token_order, window_token_order

_orders: dict[tuple[int, int, int, int], tuple[paddle.Tensor, paddle.Tensor]] = {}


def applies(x: paddle.Tensor) -> bool:
    """True when the compiled gather can run for ``x`` (float32 CPU, dynamic mode)."""
    return backend.enabled("kernels", x)


def _orders_for(
    height: int, width: int, window: int, shift: int
) -> tuple[paddle.Tensor, paddle.Tensor]:
    """(window order, map order) of a geometry as int64 CPU tensors, cached."""
    key = (height, width, window, shift)
    if key not in _orders:
        _orders[key] = (
            paddle.to_tensor(window_token_order(*key)),
            paddle.to_tensor(map_token_order(*key)),
        )
    return _orders[key]


class _GatherRows(PyLayer):
    @staticmethod
    def forward(ctx, x, order, inverse):
        ctx.inverse, ctx.rows = inverse, x.shape[1]
        return kernels.gather_rows(x, order, order.shape[0])

    @staticmethod
    def backward(ctx, dy):
        return kernels.gather_rows(dy, ctx.inverse, ctx.rows)


def _gather(x: paddle.Tensor, order: paddle.Tensor, inverse: paddle.Tensor) -> paddle.Tensor:
    if paddle.is_grad_enabled() and not x.stop_gradient:
        return _GatherRows.apply(x, order, inverse)
    return kernels.gather_rows(x, order, order.shape[0])


@paddle.jit.not_to_static
def to_windows(x: paddle.Tensor, height: int, width: int, window: int, shift: int) -> paddle.Tensor:
    """``(B, H*W, C)`` tokens -> ``(B*nW, M*M, C)`` windows of the padded map rolled by
    ``-shift`` (zeros in the padding)."""
    order, inverse = _orders_for(height, width, window, shift)
    windows = _gather(x, order, inverse)  # (B, Hp*Wp, C)
    return windows.reshape([-1, window * window, x.shape[-1]])


@paddle.jit.not_to_static
def from_windows(
    windows: paddle.Tensor, height: int, width: int, window: int, shift: int
) -> paddle.Tensor:
    """The inverse of :func:`to_windows`: ``(B*nW, M*M, C)`` -> ``(B, H*W, C)`` (rolled back
    by ``shift``, padding dropped)."""
    order, inverse = _orders_for(height, width, window, shift)
    c = windows.shape[-1]
    per_image = windows.reshape([-1, order.shape[0], c])  # (B, Hp*Wp, C)
    return _gather(per_image, inverse, order)
