"""``softmax(q k^T + bias) v`` for every window and head, read straight from the packed q/k/v.

The q/k/v projection gives ``(B*nW, N, 3C)`` tokens with each head's ``q``, ``k`` and ``v``
as ``hd``-wide column blocks. Paddle's ``matmul`` needs each head's matrices contiguous, so
the plain path permutes the whole projection to ``(3, B*nW, nH, N, hd)`` and the result back
to ``(B*nW, N, C)``, in forward and again in backward. Here the GEMMs (oneDNN's, and for
the float32 products with B not transposed a small AVX-512 kernel in the compiled kernels)
read every head's block in place (row stride ``3C``) and write the output, and in backward
the q/k/v gradients, into token-major tensors (row strides ``C`` and ``3C``): no permutes.
Scores, softmax and their gradients are float32; the products run in the autocast
precision (:mod:`.precision`).
"""

from __future__ import annotations

import math

import paddle
from paddle.autograd import PyLayer

from . import kernels, products
from .kernels import backend
from .kernels.onednn import Matrices, batched_gemm


def applies(qkv: paddle.Tensor, dropout_active: bool) -> bool:
    """True when :func:`window_attention` can compute for this projection: float32 on the
    CPU in dynamic mode with the compiled kernels and oneDNN, and no attention dropout."""
    return not dropout_active and backend.enabled("onednn", qkv)


def _packed(qkv: paddle.Tensor, heads: int, part: int) -> Matrices:
    """q (0), k (1) or v (2) heads of a ``(W, N, 3C)`` projection."""
    _, n, width = qkv.shape
    c = width // 3
    return Matrices(qkv, n * width, c // heads, width, offset=part * c)


def _square(t: paddle.Tensor) -> Matrices:
    """The ``(N, N)`` matrices of a contiguous ``(W, nH, N, N)`` tensor."""
    _, heads, n, _ = t.shape
    return Matrices(t, heads * n * n, n * n, n)


def _attend(
    qkv: paddle.Tensor, bias: paddle.Tensor, mask: paddle.Tensor | None, heads: int
) -> tuple[paddle.Tensor, paddle.Tensor, paddle.Tensor]:
    """(output ``(W, N, C)``, probabilities ``(W, nH, N, N)``, the probabilities as the
    product with v took them) for a projection as the products keep it (float32 or
    bfloat16)."""
    windows, n, width = qkv.shape
    c = width // 3
    hd, batch = c // heads, (windows, heads)
    scores = paddle.empty([windows, heads, n, n], dtype=paddle.float32)
    batched_gemm(
        _packed(qkv, heads, 0),
        _packed(qkv, heads, 1),
        _square(scores),
        batch,
        (n, n, hd),
        transpose_b=True,
    )  # q k^T
    bf16 = qkv.dtype == paddle.bfloat16
    probs, probs_bf16 = kernels.bias_softmax_pair(scores, bias, bf16, mask)
    probs_kept = probs_bf16 if probs_bf16 is not None else probs
    out = paddle.empty([windows, n, c], dtype=paddle.float32)
    out_heads = Matrices(out, n * c, hd, c)
    batched_gemm(_square(probs_kept), _packed(qkv, heads, 2), out_heads, batch, (n, hd, n))
    return out, probs, probs_kept


class _WindowAttention(PyLayer):
    @staticmethod
    def forward(ctx, qkv, bias, mask, heads):
        qkv_kept = products.lowered(qkv)
        out, probs, probs_kept = _attend(qkv_kept, bias, mask, heads)
        ctx.save_for_backward(qkv_kept, probs, probs_kept)
        ctx.heads, ctx.bias_shape, ctx.masked = heads, bias.shape, mask is not None
        ctx.needed = (not qkv.stop_gradient, not bias.stop_gradient)
        return out

    @staticmethod
    def backward(ctx, dout):
        qkv, probs, probs_kept = ctx.saved_tensor()
        heads = ctx.heads
        windows, n, width = qkv.shape
        c = width // 3
        hd, batch = c // heads, (windows, heads)
        dout = products.like(kernels.contiguous(dout), qkv)  # (W, N, C)
        dout_heads = Matrices(dout, n * c, hd, c)
        dprobs = paddle.empty(probs.shape, dtype=paddle.float32)
        batched_gemm(
            dout_heads, _packed(qkv, heads, 2), _square(dprobs), batch, (n, n, hd), transpose_b=True
        )  # dout v^T
        dscores = kernels.softmax_backward(probs, dprobs)  # (W, nH, N, N)
        # one pass: dscores as the products take it, and summed over the bias' repeats
        size = math.prod(ctx.bias_shape)
        bf16 = qkv.dtype == paddle.bfloat16
        dscores_kept, dbias = kernels.output_grad(
            dscores.reshape([-1, size]), None, bf16, ctx.needed[1]
        )
        dscores_kept = dscores_kept.reshape(dscores.shape)
        dbias = dbias.reshape(ctx.bias_shape) if dbias is not None else None
        dqkv = None
        if ctx.needed[0]:
            dqkv = paddle.empty([windows, n, width], dtype=paddle.float32)
            dq, dk, dv = (_packed(dqkv, heads, part) for part in range(3))
            batched_gemm(_square(dscores_kept), _packed(qkv, heads, 1), dq, batch, (n, hd, n))
            batched_gemm(
                _square(dscores_kept),
                _packed(qkv, heads, 0),
                dk,
                batch,
                (n, hd, n),
                transpose_a=True,
            )
            batched_gemm(_square(probs_kept), dout_heads, dv, batch, (n, hd, n), transpose_a=True)
        return (dqkv, dbias, None) if ctx.masked else (dqkv, dbias)  # the mask has none


@paddle.jit.not_to_static
def window_attention(
    qkv: paddle.Tensor, bias: paddle.Tensor, heads: int, mask: paddle.Tensor | None = None
) -> paddle.Tensor:
    """``(B*nW, N, C)`` attention output of a ``(B*nW, N, 3C)`` q/k/v projection (q already
    scaled), with the relative position ``bias`` ``(nH, N, N)`` added to every window's
    scores (or ``(G, nH, N, N)``, window ``w`` taking ``bias[w % G]``) and, when given, the
    shift ``mask`` ``(G, N, N)`` (no gradient) added to window ``w``'s as ``mask[w % G]``.
    Requires :func:`applies`."""
    qkv, bias = kernels.contiguous(qkv), kernels.contiguous(bias)
    if paddle.is_grad_enabled() and not (qkv.stop_gradient and bias.stop_gradient):
        return _WindowAttention.apply(qkv, bias, mask, heads)
    return _attend(products.lowered(qkv), bias, mask, heads)[0]
