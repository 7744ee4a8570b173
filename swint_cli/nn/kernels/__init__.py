"""Compiled CPU kernels for SwinT's elementwise and row-wise work, and their ctypes calls.

Paddle's CPU kernels for LayerNorm backward, GELU, softmax and bias adds run on one thread
and make a pass over memory per elementary operation; the fused C versions here take 5-8x
less time. They are an accelerator only: :mod:`swint_cli.nn.functional` uses them for
float32 CPU tensors in dynamic mode when :func:`.backend.enabled` says the ``kernels`` path
runs, and otherwise runs Paddle's ops, with results equal to within float rounding (about
1e-6). Kernels use as many OpenMP threads as :func:`swint_cli.runtime.threads_in_use`.
"""

from __future__ import annotations

import ctypes

import paddle

from ...runtime import threads_in_use
from . import backend

_P, _I64, _INT, _F32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_float
# the C functions of cpu_kernels.c called here: (argument types, result type)
SIGNATURES: backend.Signatures = {
    "swint_add": ([_P, _P, _P, _I64, _INT], None),
    "swint_add_row_bias": ([_P, _P, _I64, _I64, _INT], None),
    "swint_bias_gelu": ([_P, _P, _P, _P, _P, _I64, _I64, _INT], None),
    "swint_layer_norm_backward": ([_P, _P, _P, _P, _P, _P, _I64, _I64, _F32, _INT], None),
    "swint_bias_softmax": ([_P, _P, _P, _I64, _P, _P, _I64, _I64, _I64, _INT], None),
    "swint_softmax_backward": ([_P, _P, _P, _I64, _I64, _INT], None),
    "swint_to_bf16": ([_P, _P, _I64, _INT], None),
    "swint_output_grad": ([_P, _P, _P, _P, _P, _I64, _I64, _INT], None),
    "swint_gather_rows": ([_P, _P, _P, _I64, _I64, _I64, _I64, _INT], None),
    "swint_swap_last_axes": ([_P, _P, _I64, _I64, _I64, _INT], None),
}


def _lib() -> ctypes.CDLL:
    return backend.library("kernels", SIGNATURES)


def _ptr(t: paddle.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr())


def contiguous(t: paddle.Tensor) -> paddle.Tensor:
    """``t`` itself, or a dense copy of a strided view (kernels and dense ops refuse views)."""
    return t if t.is_contiguous() else t.contiguous()


def add(a: paddle.Tensor, b: paddle.Tensor) -> paddle.Tensor:
    """``a + b`` for same-shaped tensors, as a new tensor."""
    a, b = contiguous(a), contiguous(b)
    out = paddle.empty(a.shape, dtype=a.dtype)
    _lib().swint_add(_ptr(a), _ptr(b), _ptr(out), a.size, threads_in_use())
    return out


def add_row_bias_(x: paddle.Tensor, bias: paddle.Tensor) -> paddle.Tensor:
    """``x += bias`` in place over the last axis of a contiguous ``x``; returns ``x``."""
    cols, bias = bias.shape[-1], contiguous(bias)
    _lib().swint_add_row_bias(_ptr(x), _ptr(bias), x.size // cols, cols, threads_in_use())
    return x


def bias_gelu(h: paddle.Tensor, bias: paddle.Tensor | None) -> paddle.Tensor:
    """Adds ``bias`` to a contiguous ``h`` in place and returns exact ``gelu(h)``."""
    return _bias_gelu(h, bias, None, bfloat16=False)


def bias_gelu_with_grad(
    h: paddle.Tensor, bias: paddle.Tensor | None, bfloat16: bool = False
) -> tuple[paddle.Tensor, paddle.Tensor]:
    """``(gelu(h + bias), gelu'(h + bias))`` of a contiguous ``h`` (left as it is): the
    output (bfloat16, rounded to nearest even, with ``bfloat16``; else float32) and what the
    backward pass multiplies the output gradient by (float32)."""
    grad = paddle.empty(h.shape, dtype=h.dtype)
    return _bias_gelu(h, bias, grad, bfloat16), grad


def _bias_gelu(
    h: paddle.Tensor, bias: paddle.Tensor | None, grad: paddle.Tensor | None, bfloat16: bool
) -> paddle.Tensor:
    cols = h.shape[-1]
    y = paddle.empty(h.shape, dtype=paddle.bfloat16 if bfloat16 else h.dtype)
    bias = contiguous(bias) if bias is not None else None  # held until the call returns
    _lib().swint_bias_gelu(
        _ptr(h),
        _ptr(bias) if bias is not None else None,
        None if bfloat16 else _ptr(y),
        _ptr(y) if bfloat16 else None,
        _ptr(grad) if grad is not None else None,
        h.size // cols,
        cols,
        threads_in_use(),
    )
    return y


def output_grad(
    dy: paddle.Tensor, scale: paddle.Tensor | None, bfloat16: bool, sums: bool
) -> tuple[paddle.Tensor, paddle.Tensor | None]:
    """A Linear layer's output gradient as its products take it, in one pass over ``dy``:
    ``g = dy`` (or ``dy * scale`` elementwise, such as GELU's gradient from
    :func:`bias_gelu_with_grad`), as bfloat16 when ``bfloat16`` (else float32), and with
    ``sums`` its sums over all rows (the bias gradient, ``(cols,)``; else None)."""
    dy = contiguous(dy)
    scale = contiguous(scale) if scale is not None else None  # held until the call returns
    cols = dy.shape[-1]
    rows = dy.size // cols
    copy = bfloat16 or scale is not None
    g = paddle.empty(dy.shape, dtype=paddle.bfloat16 if bfloat16 else dy.dtype) if copy else dy
    total = paddle.empty([cols], dtype=dy.dtype) if sums else None
    _lib().swint_output_grad(
        _ptr(dy),
        _ptr(scale) if scale is not None else None,
        _ptr(g) if copy and not bfloat16 else None,
        _ptr(g) if bfloat16 else None,
        _ptr(total) if total is not None else None,
        rows,
        cols,
        threads_in_use(),
    )
    return g, total


def layer_norm_backward(
    x: paddle.Tensor, weight: paddle.Tensor, dy: paddle.Tensor, epsilon: float
) -> tuple[paddle.Tensor, paddle.Tensor, paddle.Tensor]:
    """``(dx, dweight, dbias)`` of LayerNorm over the last axis of ``x``."""
    x, weight, dy = contiguous(x), contiguous(weight), contiguous(dy)
    cols = x.shape[-1]
    dx = paddle.empty(x.shape, dtype=x.dtype)
    dweight = paddle.empty([cols], dtype=x.dtype)
    dbias = paddle.empty([cols], dtype=x.dtype)
    _lib().swint_layer_norm_backward(
        *map(_ptr, (x, weight, dy, dx, dweight, dbias)),
        x.size // cols,
        cols,
        epsilon,
        threads_in_use(),
    )
    return dx, dweight, dbias


def bias_softmax(scores: paddle.Tensor, bias: paddle.Tensor) -> paddle.Tensor:
    """``softmax(scores + bias, axis=-1)`` where ``bias`` repeats over leading rows of scores.

    ``bias.size`` must divide ``scores.size`` (the bias of one batch item).
    """
    return bias_softmax_pair(scores, bias, bfloat16=False)[0]


def bias_softmax_pair(
    scores: paddle.Tensor,
    bias: paddle.Tensor,
    bfloat16: bool,
    mask: paddle.Tensor | None = None,
) -> tuple[paddle.Tensor, paddle.Tensor | None]:
    """:func:`bias_softmax`, and with ``bfloat16`` also a bfloat16 copy of the result made
    in the same pass (else None). A ``mask`` ``(G, L, L)`` for scores whose last two axes
    are ``(L, L)`` is added too: to the blocks of batch item ``b`` (``bias.size`` scores),
    ``mask[b % G]``."""
    scores, bias = contiguous(scores), contiguous(bias)
    mask = contiguous(mask) if mask is not None else None  # held until the call returns
    out = paddle.empty(scores.shape, dtype=scores.dtype)
    low = paddle.empty(scores.shape, dtype=paddle.bfloat16) if bfloat16 else None
    batch, length = scores.size // bias.size, scores.shape[-1]
    _lib().swint_bias_softmax(
        _ptr(scores),
        _ptr(bias),
        _ptr(mask) if mask is not None else None,
        mask.shape[0] if mask is not None else 1,
        _ptr(out),
        _ptr(low) if low is not None else None,
        batch,
        bias.size,
        length,
        threads_in_use(),
    )
    return out, low


def softmax_backward(p: paddle.Tensor, dp: paddle.Tensor) -> paddle.Tensor:
    """Gradient of ``softmax`` (output ``p``, over the last axis) times ``dp``."""
    dp = contiguous(dp)
    ds = paddle.empty(p.shape, dtype=p.dtype)
    length = p.shape[-1]
    _lib().swint_softmax_backward(
        _ptr(p), _ptr(dp), _ptr(ds), p.size // length, length, threads_in_use()
    )
    return ds


def gather_rows(src: paddle.Tensor, index: paddle.Tensor, rows: int) -> paddle.Tensor:
    """Rows of each image of ``src`` ``(B, R_src, C)`` picked by int64 ``index`` ``(rows,)``
    into a new ``(B, rows, C)`` tensor; rows where ``index`` is -1 are zeros."""
    src = contiguous(src)
    batch, src_rows, cols = src.shape
    dst = paddle.empty([batch, rows, cols], dtype=src.dtype)
    _lib().swint_gather_rows(
        _ptr(src), _ptr(dst), _ptr(index), batch, src_rows, rows, cols, threads_in_use()
    )
    return dst


def swap_last_axes(x: paddle.Tensor) -> paddle.Tensor:
    """``x.transpose([0, 2, 1])`` of a 3-D ``x`` as a new contiguous tensor."""
    x = contiguous(x)
    batch, rows, cols = x.shape
    y = paddle.empty([batch, cols, rows], dtype=x.dtype)
    _lib().swint_swap_last_axes(_ptr(x), _ptr(y), batch, rows, cols, threads_in_use())
    return y


def to_bfloat16(x: paddle.Tensor) -> paddle.Tensor:
    """A bfloat16 copy of float32 ``x``, rounded to nearest even (NaNs stay NaN)."""
    x = contiguous(x)
    y = paddle.empty(x.shape, dtype=paddle.bfloat16)
    _lib().swint_to_bf16(_ptr(x), _ptr(y), x.size, threads_in_use())
    return y
