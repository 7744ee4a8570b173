"""``conv2d`` through oneDNN's convolution primitives on the CPU, in the autocast precision.

:func:`conv2d` is ``paddle.nn.functional.conv2d`` (NCHW, zero padding, no groups) computed by
:mod:`.kernels.onednn_convolution`: forward, and in backward the input gradient and the
weight (and bias) gradients, each a oneDNN primitive with the reorders between Paddle's plain
layouts and the blocked ones it runs in. Under ``precision.autocast("bf16")`` the input and
weight enter the primitives as bfloat16 and the results are float32, as for the products
(:mod:`.precision`); the backward pass runs in its forward's precision. Callers check
:func:`applies` first and otherwise use Paddle's ``conv2d``.
"""

from __future__ import annotations

import paddle
from paddle.autograd import PyLayer

from . import kernels
from .kernels import backend
from .kernels import onednn_convolution as onednn_conv
from .precision import products_in_bf16


def applies(x: paddle.Tensor) -> bool:
    """True when :func:`conv2d` can compute with input ``x``: float32 on the CPU in dynamic
    mode, with the compiled kernels and oneDNN's convolutions available."""
    return backend.enabled("onednn_conv", x)


class _Convolution(PyLayer):
    @staticmethod
    def forward(ctx, x, weight, bias, geometry):
        x = kernels.contiguous(x)
        y = paddle.empty(geometry.output_shape(), dtype=paddle.float32)
        tensors = {"x": x, "w": kernels.contiguous(weight), "y": y}
        if bias is not None:
            tensors["b"] = kernels.contiguous(bias)
        onednn_conv.forward_program(geometry).run(tensors)
        ctx.save_for_backward(x, weight)
        ctx.geometry = geometry
        ctx.needed = (
            not x.stop_gradient,
            not weight.stop_gradient or (bias is not None and not bias.stop_gradient),
        )
        return y

    @staticmethod
    def backward(ctx, dy):
        x, weight = ctx.saved_tensor()
        g, (input_grad, weight_grad) = ctx.geometry, ctx.needed
        tensors = {"dy": kernels.contiguous(dy), "x": x, "w": kernels.contiguous(weight)}
        dx = tensors["dx"] = paddle.empty(g.input_shape()) if input_grad else None
        dw = tensors["dw"] = paddle.empty(g.weight_shape()) if weight_grad else None
        db = tensors["db"] = paddle.empty([g.out_channels]) if weight_grad and g.bias else None
        if input_grad or weight_grad:
            onednn_conv.backward_program(g, input_grad, weight_grad).run(tensors)
        return (dx, dw, db) if g.bias else (dx, dw)


@paddle.jit.not_to_static
def conv2d(
    x: paddle.Tensor,
    weight: paddle.Tensor,
    bias: paddle.Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> paddle.Tensor:
    """``paddle.nn.functional.conv2d(x, weight, bias, stride, padding, dilation)`` for NCHW
    ``x`` ``(B, Cin, H, W)`` and ``weight`` ``(Cout, Cin, kh, kw)``, symmetric zero
    ``padding`` ``(ph, pw)``; returns ``(B, Cout, Ho, Wo)`` float32. Check :func:`applies`."""
    batch, channels, height, width = x.shape
    geometry = onednn_conv.Geometry(
        batch=batch,
        in_channels=channels,
        height=height,
        width=width,
        out_channels=weight.shape[0],
        kernel=(weight.shape[2], weight.shape[3]),
        stride=tuple(stride),
        padding=tuple(padding),
        dilation=tuple(dilation),
        bias=bias is not None,
        bfloat16=products_in_bf16(),
    )
    return _Convolution.apply(x, weight, bias, geometry)
