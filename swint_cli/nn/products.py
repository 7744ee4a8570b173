"""Matrix products of the layer library, through oneDNN on the CPU, in float32 or bfloat16.

- :func:`lowered` is what a product keeps of an operand: a bfloat16 copy under
  ``precision.autocast("bf16")``, else the float32 tensor itself.
- :func:`product` multiplies two such operands (2-D, or batched over leading axes) into a new
  float32 tensor without recording gradients: PyLayers call it in forward and backward.
- :func:`matmul` is the differentiable ``paddle.matmul(a, b, transpose_y=...)`` built on them.

Where oneDNN or the compiled kernels are unavailable, or off, or for tensors elsewhere than
the CPU, Paddle's ``matmul`` computes in float32. Float32 batched products also stay with
Paddle's ``matmul``, which was as fast as one oneDNN GEMM per matrix on the attention's
shapes.
"""

from __future__ import annotations

import math

import paddle
from paddle.autograd import PyLayer

from . import kernels
from .kernels import backend, onednn
from .precision import products_in_bf16


def _onednn_gemm(a: paddle.Tensor) -> bool:
    """True when oneDNN multiplies operands like ``a`` (float32 or bfloat16, on the CPU,
    with the CPU as the current device, where the product is allocated)."""
    path = onednn.PATHS.get(a.dtype)
    return (
        path is not None
        and backend.enabled(path)
        and a.place.is_cpu_place()
        and paddle.in_dynamic_mode()
        and paddle.device.get_device() == "cpu"
    )


def lowered(t: paddle.Tensor) -> paddle.Tensor:
    """``t`` as a product keeps it: a bfloat16 copy of a float32 CPU tensor under bf16
    autocast (when available), otherwise ``t``."""
    if products_in_bf16() and t.dtype == paddle.float32 and backend.enabled("kernels", t):
        return kernels.to_bfloat16(t)
    return t


def like(t: paddle.Tensor, operand: paddle.Tensor) -> paddle.Tensor:
    """``t`` lowered to ``operand``'s dtype when that is bfloat16 (a backward's incoming
    gradient, to meet the operands its forward kept)."""
    if operand.dtype == paddle.bfloat16 and t.dtype != paddle.bfloat16:
        return kernels.to_bfloat16(t)
    return t


def _batch_of_matrices(t: paddle.Tensor) -> paddle.Tensor:
    """A contiguous ``(batch, rows, cols)`` view of ``t``, its leading axes merged."""
    return kernels.contiguous(t).reshape([math.prod(t.shape[:-2]), *t.shape[-2:]])


def product(
    a: paddle.Tensor, b: paddle.Tensor, transpose_a: bool = False, transpose_b: bool = False
) -> paddle.Tensor:
    """``op(a) @ op(b)`` as a new float32 tensor, for operands from :func:`lowered`.

    ``b`` is 2-D (then ``a``'s leading axes are rows, as in ``x @ weight``; not with
    ``transpose_a``) or has ``a``'s leading axes (a batch of products).
    """
    if not _onednn_gemm(a):
        return paddle.matmul(a, b, transpose_x=transpose_a, transpose_y=transpose_b)
    if b.ndim == 2 and a.ndim > 2 and not transpose_a:
        a2d = kernels.contiguous(a).reshape([-1, a.shape[-1]])  # (R, K)
        n = b.shape[0] if transpose_b else b.shape[1]
        out = paddle.empty([a2d.shape[0], n], dtype=paddle.float32)
        onednn.gemm(a2d, kernels.contiguous(b), out, False, transpose_b)
        return out.reshape([*a.shape[:-1], n])
    if a.ndim == 2:
        m = a.shape[1] if transpose_a else a.shape[0]
        n = b.shape[0] if transpose_b else b.shape[1]
        out = paddle.empty([m, n], dtype=paddle.float32)
        a, b = kernels.contiguous(a), kernels.contiguous(b)
        return onednn.gemm(a, b, out, transpose_a, transpose_b)
    if a.dtype != paddle.bfloat16:
        return paddle.matmul(a, b, transpose_x=transpose_a, transpose_y=transpose_b)
    lead = a.shape[:-2]
    a3d, b3d = _batch_of_matrices(a), _batch_of_matrices(b)  # (batch, rows, cols)
    m = a.shape[-1] if transpose_a else a.shape[-2]
    n = b.shape[-2] if transpose_b else b.shape[-1]
    k = a.shape[-2] if transpose_a else a.shape[-1]
    out = paddle.empty([a3d.shape[0], m, n], dtype=paddle.float32)
    onednn.batched_gemm(
        *map(onednn.Matrices.stacked, (a3d, b3d, out)),
        batch=(a3d.shape[0], 1),
        shape=(m, n, k),
        transpose_a=transpose_a,
        transpose_b=transpose_b,
    )
    return out.reshape([*lead, m, n])


class _Matmul(PyLayer):
    @staticmethod
    def forward(ctx, a, b, transpose_b):
        a_kept, b_kept = lowered(a), lowered(b)
        ctx.save_for_backward(a_kept, b_kept)
        ctx.transpose_b = transpose_b
        ctx.needed = (not a.stop_gradient, not b.stop_gradient)
        return product(a_kept, b_kept, transpose_b=transpose_b)

    @staticmethod
    def backward(ctx, dout):
        a, b = ctx.saved_tensor()
        dout = like(kernels.contiguous(dout), a)
        da = product(dout, b, transpose_b=not ctx.transpose_b) if ctx.needed[0] else None
        db = None
        if ctx.needed[1]:
            # out = a @ b^T: db = dout^T @ a;  out = a @ b: db = a^T @ dout
            if ctx.transpose_b:
                db = product(dout, a, transpose_a=True)
            else:
                db = product(a, dout, transpose_a=True)
        return da, db


@paddle.jit.not_to_static
def matmul(a: paddle.Tensor, b: paddle.Tensor, transpose_b: bool = False) -> paddle.Tensor:
    """``paddle.matmul(a, b, transpose_y=transpose_b)`` for same-rank ``a`` and ``b``, in the
    autocast precision on the CPU (see the module docstring)."""
    custom = (
        paddle.in_dynamic_mode()
        and paddle.is_grad_enabled()
        and (not a.stop_gradient or not b.stop_gradient)
        and backend.enabled("kernels", a, b)
        and (products_in_bf16() or (a.ndim == 2 and backend.enabled("onednn")))
    )
    if custom:
        return _Matmul.apply(a, b, transpose_b)
    if products_in_bf16() and backend.enabled("kernels", a, b):
        return product(lowered(a), lowered(b), transpose_b=transpose_b)
    return paddle.matmul(a, b, transpose_y=transpose_b)
