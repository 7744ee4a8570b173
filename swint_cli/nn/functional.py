"""Functional forms of the layer's hot operations, with faster CPU paths.

Each function computes what its Paddle counterpart computes. When gradients are needed on a
CPU tensor in dynamic mode, it runs as a ``PyLayer`` whose backward does its reductions
(bias and weight gradients, LayerNorm's row means) as matrix products against a ones vector:
Paddle's CPU reduction kernels are single-threaded and slow, MKL's GEMMs are not. On float32
CPU tensors in dynamic mode the elementwise and row-wise parts (bias adds, GELU, softmax,
LayerNorm backward) run in the compiled kernels of :mod:`swint_cli.nn.kernels` when they are
available. Elsewhere (static graphs, GPUs) the plain Paddle ops run; ``paddle.jit.to_static``
calls these functions as they are rather than converting them, since their branches depend
only on the mode.

:func:`permute` runs its transposes (forward and backward) with Paddle 3's stride kernels
switched off for just that op: with them on, ``transpose`` returns a view that the next op
copies through a generic strided loop about six times slower than the transpose kernel.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import paddle
from paddle.autograd import PyLayer
from paddle.nn import functional as F

from . import kernels, products
from .kernels import backend

_STRIDE_FLAG = "FLAGS_use_stride_kernel"


@contextmanager
def _dense_kernels() -> Iterator[None]:
    """Run the enclosed ops with Paddle's stride (view) kernels off, then restore the flag."""
    flags = paddle.base.core.globals()
    if _STRIDE_FLAG not in flags or not flags[_STRIDE_FLAG]:
        yield
        return
    flags[_STRIDE_FLAG] = False
    try:
        yield
    finally:
        flags[_STRIDE_FLAG] = True


def _needs_grad(*tensors: paddle.Tensor | None) -> bool:
    return paddle.is_grad_enabled() and any(t is not None and not t.stop_gradient for t in tensors)


def _grad_flags(*tensors: paddle.Tensor | None) -> tuple[bool, ...]:
    """Which of the tensors given (None left out) need a gradient."""
    return tuple(not t.stop_gradient for t in tensors if t is not None)


def _only_needed(grads: Sequence[paddle.Tensor | None], needed: Sequence[bool]) -> tuple:
    """A PyLayer backward's result: None for the inputs that need no gradient, as Paddle
    requires (an input such as a network's images, or a frozen parameter)."""
    return tuple(g if need else None for g, need in zip(grads, needed, strict=True))


def _use_custom_backward(*tensors: paddle.Tensor | None) -> bool:
    present = [t for t in tensors if t is not None]
    return (
        backend.enabled("custom_backward")
        and paddle.in_dynamic_mode()
        and present[0].place.is_cpu_place()
        and _needs_grad(*present)
    )


def _column_sums(rows: paddle.Tensor) -> paddle.Tensor:
    """Sum of a 2-D tensor over its first axis, as ``ones(1, R) @ rows`` -> ``(C,)``."""
    ones = paddle.ones([1, rows.shape[0]], dtype=rows.dtype)
    return paddle.matmul(ones, rows).reshape([-1])


def _row_means(rows: paddle.Tensor) -> paddle.Tensor:
    """Mean of a 2-D tensor over its last axis, as ``rows @ (1/C)`` -> ``(R, 1)``."""
    inverse = paddle.full([rows.shape[1], 1], 1.0 / rows.shape[1], dtype=rows.dtype)
    return paddle.matmul(rows, inverse)


def _add_bias_(y: paddle.Tensor, bias: paddle.Tensor) -> paddle.Tensor:
    """``y += bias`` over the last axis, in place."""
    if backend.enabled("kernels", y, bias):
        return kernels.add_row_bias_(y, bias)
    return y.add_(bias)


def _linear_grads(
    x: paddle.Tensor,
    weight: paddle.Tensor,
    needed: Sequence[bool],
    dy: paddle.Tensor,
    gelu_grad: paddle.Tensor | None = None,
) -> tuple[paddle.Tensor | None, ...]:
    """Gradients of ``x @ weight (+ bias)``, followed by exact GELU when its gradient
    ``gelu_grad`` (at the forward's pre-activation) is given, for the output gradient ``dy``,
    from ``x`` and ``weight`` as the forward kept them (:func:`products.lowered`); ``needed``
    flags x, weight (and bias, when there is one); only those are computed, the others are
    None. The GELU needs the compiled kernels."""
    dy = kernels.contiguous(dy)
    bias_needed = len(needed) == 3 and needed[2]
    if backend.enabled("kernels", dy):  # one pass: GELU's gradient, bf16 copy, bias gradient
        g, dbias = kernels.output_grad(dy, gelu_grad, x.dtype == paddle.bfloat16, bias_needed)
    else:
        g, dbias = dy, _column_sums(dy.reshape([-1, dy.shape[-1]])) if bias_needed else None
    grads: list[paddle.Tensor | None] = [None] * len(needed)
    if needed[0]:
        grads[0] = products.product(g, weight, transpose_b=True)
    if needed[1]:
        rows = x.reshape([-1, x.shape[-1]])  # (R, in)
        grads[1] = products.product(rows, g.reshape([-1, g.shape[-1]]), transpose_a=True)
    if bias_needed:
        grads[2] = dbias
    return tuple(grads)


class _Linear(PyLayer):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.needed = _grad_flags(x, weight, bias)
        x, weight = products.lowered(x), products.lowered(weight)  # kept for backward
        ctx.save_for_backward(x, weight)
        y = products.product(x, weight)
        return _add_bias_(y, bias) if bias is not None else y

    @staticmethod
    def backward(ctx, dy):
        x, weight = ctx.saved_tensor()
        return _linear_grads(x, weight, ctx.needed, dy)


def _product(x: paddle.Tensor, weight: paddle.Tensor) -> paddle.Tensor:
    """``x @ weight`` without gradients, in the autocast precision."""
    return products.product(products.lowered(x), products.lowered(weight))


@paddle.jit.not_to_static
def linear(x: paddle.Tensor, weight: paddle.Tensor, bias: paddle.Tensor | None) -> paddle.Tensor:
    """``x @ weight + bias`` with ``weight`` of shape ``(in, out)``."""
    if _use_custom_backward(x, weight, bias):
        return _Linear.apply(x, weight, bias)
    if paddle.in_dynamic_mode() and not _needs_grad(x, weight, bias) and bias is not None:
        return _add_bias_(_product(x, weight), bias)  # F.linear's broadcast add is slower
    return F.linear(x, weight, bias)


class _LinearGelu(PyLayer):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.needed = _grad_flags(x, weight, bias)
        x, weight = products.lowered(x), products.lowered(weight)  # kept for backward
        y, gelu_grad = kernels.bias_gelu_with_grad(products.product(x, weight), bias)
        ctx.save_for_backward(x, weight, gelu_grad)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, weight, gelu_grad = ctx.saved_tensor()
        return _linear_grads(x, weight, ctx.needed, dy, gelu_grad)


@paddle.jit.not_to_static
def linear_gelu(
    x: paddle.Tensor, weight: paddle.Tensor, bias: paddle.Tensor | None
) -> paddle.Tensor:
    """Exact (erf) ``gelu(x @ weight + bias)``."""
    if backend.enabled("kernels", x, weight):
        if not _needs_grad(x, weight, bias):
            return kernels.bias_gelu(_product(x, weight), bias)
        if _use_custom_backward(x, weight, bias):
            return _LinearGelu.apply(x, weight, bias)
    return F.gelu(linear(x, weight, bias))


# fc1's weight and bias, fc2's weight and bias (the biases may be None)
MlpWeights = tuple[paddle.Tensor, paddle.Tensor | None, paddle.Tensor, paddle.Tensor | None]


def _mlp_forward(
    x: paddle.Tensor, weights: MlpWeights
) -> tuple[paddle.Tensor, tuple[paddle.Tensor, ...]]:
    """``fc2(gelu(fc1(x)))`` and what its backward needs: the products' operands as they
    kept them and GELU's gradient. The GELU pass writes the hidden activations as the second
    product takes them (bfloat16 under bf16 autocast), so they are never float32 then."""
    w1, b1, w2, b2 = weights
    x, w1, w2 = products.lowered(x), products.lowered(w1), products.lowered(w2)
    bf16 = x.dtype == paddle.bfloat16
    hidden, gelu_grad = kernels.bias_gelu_with_grad(products.product(x, w1), b1, bf16)
    y = products.product(hidden, w2)
    return (_add_bias_(y, b2) if b2 is not None else y), (x, w1, gelu_grad, hidden, w2)


class _Mlp(PyLayer):
    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2):
        ctx.needed = (_grad_flags(x, w1, b1), _grad_flags(w2, b2))
        y, kept = _mlp_forward(x, (w1, b1, w2, b2))
        ctx.save_for_backward(*kept)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, w1, gelu_grad, hidden, w2 = ctx.saved_tensor()
        first, second = ctx.needed
        dhidden, *second_grads = _linear_grads(hidden, w2, (any(first), *second), dy)
        first_grads = (None,) * len(first)
        if any(first):
            first_grads = _linear_grads(x, w1, first, dhidden, gelu_grad)
        return (*first_grads, *second_grads)


@paddle.jit.not_to_static
def mlp(x: paddle.Tensor, weights: MlpWeights) -> paddle.Tensor:
    """``gelu(x @ w1 + b1) @ w2 + b2`` with exact (erf) GELU for ``weights`` ``(w1, b1, w2,
    b2)``: the transformer MLP without dropout between its layers."""
    w1, b1, w2, b2 = weights
    if backend.enabled("kernels", x, w1, w2):
        if not _needs_grad(x, *weights):
            return _mlp_forward(x, weights)[0]
        if _use_custom_backward(x, *weights):
            return _Mlp.apply(x, *weights)
    return linear(linear_gelu(x, w1, b1), w2, b2)


class _Add(PyLayer):
    @staticmethod
    def forward(ctx, x, y):
        ctx.needed = _grad_flags(x, y)
        return kernels.add(x, y)

    @staticmethod
    def backward(ctx, dout):
        return _only_needed((dout, dout), ctx.needed)


@paddle.jit.not_to_static
def add(x: paddle.Tensor, y: paddle.Tensor) -> paddle.Tensor:
    """``x + y`` for same-shaped tensors (a residual connection). Paddle's add and its
    gradient run on one thread, and the gradient copies the output gradient for each input;
    here the sum is made on all threads and both inputs receive the output gradient itself."""
    if x.shape == y.shape and backend.enabled("kernels", x, y):
        return _Add.apply(x, y) if _needs_grad(x, y) else kernels.add(x, y)
    return x + y


class _LayerNorm(PyLayer):
    @staticmethod
    def forward(ctx, x, weight, bias, epsilon):
        ctx.save_for_backward(x, weight)
        ctx.epsilon = epsilon
        ctx.needed = _grad_flags(x, weight, bias)
        return F.layer_norm(x, x.shape[-1:], weight, bias, epsilon)

    @staticmethod
    def backward(ctx, dy):
        x, weight = ctx.saved_tensor()
        if backend.enabled("kernels", x, dy):
            grads = kernels.layer_norm_backward(x, weight, dy, ctx.epsilon)
            return _only_needed(grads, ctx.needed)
        shape = x.shape
        x = x.reshape([-1, shape[-1]])  # (R, C)
        dy = dy.reshape([-1, shape[-1]])
        centred = x - _row_means(x)
        rstd = paddle.rsqrt(_row_means(centred * centred) + ctx.epsilon)  # (R, 1)
        normed = centred * rstd
        dweight = _column_sums(dy * normed)
        dbias = _column_sums(dy)
        g = dy * weight
        dx = rstd * (g - _row_means(g) - normed * _row_means(g * normed))
        return _only_needed((dx.reshape(shape), dweight, dbias), ctx.needed)


@paddle.jit.not_to_static
def layer_norm(
    x: paddle.Tensor, weight: paddle.Tensor, bias: paddle.Tensor, epsilon: float = 1e-5
) -> paddle.Tensor:
    """LayerNorm over the last axis."""
    if not _use_custom_backward(x, weight, bias):
        return F.layer_norm(x, x.shape[-1:], weight, bias, epsilon)
    return _LayerNorm.apply(x, weight, bias, epsilon)


class _AddGroupBias(PyLayer):
    @staticmethod
    def forward(ctx, scores, bias):
        ctx.bias_shape = bias.shape
        ctx.bias_size = math.prod(bias.shape)
        ctx.needed = _grad_flags(scores, bias)
        out = scores.reshape([-1, ctx.bias_size])  # (B, G*S)
        out.add_(bias.reshape([1, -1]))
        return out.reshape(scores.shape)

    @staticmethod
    def backward(ctx, dout):
        dbias = _column_sums(dout.reshape([-1, ctx.bias_size]))
        return _only_needed((dout, dbias.reshape(ctx.bias_shape)), ctx.needed)


def _add_broadcast_bias(scores: paddle.Tensor, bias: paddle.Tensor) -> paddle.Tensor:
    if _use_custom_backward(scores, bias):
        return _AddGroupBias.apply(scores, bias)
    groups = bias.shape[0]
    grouped = scores.reshape([-1, groups, *scores.shape[1:]])  # (B, G, *S)
    return (grouped + bias.unsqueeze(0)).reshape(scores.shape)


class _BiasSoftmax(PyLayer):
    @staticmethod
    def forward(ctx, scores, bias):
        probs = kernels.bias_softmax(scores, bias)
        ctx.save_for_backward(probs)
        ctx.bias_shape = bias.shape
        ctx.needed = _grad_flags(scores, bias)
        return probs

    @staticmethod
    def backward(ctx, dprobs):
        (probs,) = ctx.saved_tensor()
        dscores = kernels.softmax_backward(probs, dprobs)
        dbias = _column_sums(dscores.reshape([-1, math.prod(ctx.bias_shape)]))
        return _only_needed((dscores, dbias.reshape(ctx.bias_shape)), ctx.needed)


@paddle.jit.not_to_static
def bias_softmax(scores: paddle.Tensor, bias: paddle.Tensor) -> paddle.Tensor:
    """``softmax(scores + bias)`` over the last axis, ``bias`` repeating over groups of rows.

    ``scores`` is ``(B * G, *S)`` and ``bias`` is ``(G, *S)`` or ``S``-shaped; returns a
    tensor of ``scores``' shape.
    """
    if bias.ndim == scores.ndim - 1:
        bias = bias.unsqueeze(0)  # (1, *S)
    if backend.enabled("kernels", scores, bias):
        if not _needs_grad(scores, bias):
            return kernels.bias_softmax(scores, bias)
        if _use_custom_backward(scores, bias):
            return _BiasSoftmax.apply(scores, bias)
    return F.softmax(_add_broadcast_bias(scores, bias), axis=-1)


_SWAP_LAST = [0, 2, 1]


def _transposed(x: paddle.Tensor, perm: list[int]) -> paddle.Tensor:
    """A contiguous ``x.transpose(perm)``: the compiled tiled transpose for ``[0, 2, 1]``
    on float32 CPU tensors, else Paddle's transpose kernel."""
    if perm == _SWAP_LAST and backend.enabled("kernels", x):
        return kernels.swap_last_axes(x)
    with _dense_kernels():
        return x.transpose(perm)


class _Permute(PyLayer):
    @staticmethod
    def forward(ctx, x, perm):
        ctx.inverse = [perm.index(axis) for axis in range(len(perm))]
        return _transposed(x, perm)

    @staticmethod
    def backward(ctx, dy):
        return _transposed(kernels.contiguous(dy), ctx.inverse)


@paddle.jit.not_to_static
def permute(x: paddle.Tensor, perm: Sequence[int]) -> paddle.Tensor:
    """``x.transpose(perm)`` as a contiguous copy made by the transpose kernel."""
    perm = list(perm)
    if paddle.in_dynamic_mode():
        x = kernels.contiguous(x)
    if _use_custom_backward(x):
        return _Permute.apply(x, perm)
    if paddle.in_dynamic_mode() and (x.stop_gradient or not paddle.is_grad_enabled()):
        return _transposed(x, perm)
    return x.transpose(perm)


class _Crop(PyLayer):
    @staticmethod
    def forward(ctx, x, height, width):
        ctx.padding = [0, x.shape[2] - width, 0, x.shape[1] - height]
        with _dense_kernels():
            return paddle.slice(x, axes=[1, 2], starts=[0, 0], ends=[height, width])

    @staticmethod
    def backward(ctx, dy):
        return F.pad(dy, ctx.padding, data_format="NHWC")  # zeros where the crop cut


@paddle.jit.not_to_static
def crop(x: paddle.Tensor, height: int, width: int) -> paddle.Tensor:
    """``x[:, :height, :width, :]`` of an NHWC tensor, as a contiguous copy.

    Its backward zero-pads the gradient instead of Paddle's slice gradient, which fills a
    full-size zero tensor and copies through a strided loop.
    """
    if _use_custom_backward(x):
        return _Crop.apply(kernels.contiguous(x), height, width)
    return x[:, :height, :width, :]
