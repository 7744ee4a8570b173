"""Conv2D that computes small output maps as one GEMM over the whole batch on the CPU.

Paddle's CPU convolution runs one GEMM per image. On the deep stages of a ResNet at small
inputs (a 4x4 or 2x2 map at 64x64 input), each of those GEMMs has a handful of columns and
re-reads the full weight matrix, in forward and twice in backward: a 2x2 1024->2048 1x1 conv
at batch 16 takes 39 ms forward+backward that way and 7 ms as one GEMM. :class:`BatchedConv2D`
lays the batch's patches side by side (``unfold``), multiplies once, and lays the result back
out. It has ``paddle.nn.Conv2D``'s parameters and state dict and gives its results (to float
rounding); on larger maps, GPUs, static graphs and configurations it does not cover (groups,
NHWC, non-zero padding modes, 'SAME' padding) it runs ``Conv2D`` itself.
"""

from __future__ import annotations

import paddle
from paddle import nn
from paddle.nn import functional as F

from . import convolution
from . import functional as SF
from .kernels.onednn_convolution import output_size
from .products import matmul

# Output maps of at most this many pixels take the batched path. Measured on the 2-core
# benchmark machine (ResNet-50 convs, batch 16, fwd+bwd): batching wins clearly at 2x2 and
# for most 4x4 convs, breaks even at 8x8 and loses at 16x16.
MAX_BATCHED_PIXELS = 16
# oneDNN's convolution primitives (where available) beat both, in float32 and bfloat16, on
# every convolution of ResNet-50 at B16@64 but 1x1 convolutions onto maps of fewer pixels
# than this, which are one GEMM over the batch (``benchmarks/conv_paths.py``).
MIN_ONEDNN_POINTWISE_PIXELS = 5


class BatchedConv2D(nn.Conv2D):
    """``paddle.nn.Conv2D`` that multiplies the whole batch at once on small CPU maps."""

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return _conv2d(self, x)


def _output_size(conv: nn.Conv2D, height: int, width: int) -> tuple[int, int]:
    settings = (conv._kernel_size, conv._stride, conv._updated_padding, conv._dilation)
    return output_size((height, width), *settings)


def _covered(conv: nn.Conv2D, x: paddle.Tensor) -> bool:
    """True for the convolutions the CPU paths compute: NCHW, symmetric zero padding, no
    groups, on a CPU tensor in dynamic mode."""
    if not (paddle.in_dynamic_mode() and x.place.is_cpu_place()):
        return False
    if conv._groups != 1 or conv._data_format != "NCHW" or conv._padding_mode != "zeros":
        return False
    return conv._padding_algorithm == "EXPLICIT" and len(conv._updated_padding) == 2


ROUTES = ("onednn", "batched", "paddle")


def route(conv: nn.Conv2D, x: paddle.Tensor) -> str:
    """The path that computes ``conv`` on ``x`` (one of :data:`ROUTES`): oneDNN's primitives
    where they run, but for 1x1 convolutions onto tiny maps; else one GEMM over the batch
    on small maps; else Paddle's ``conv2d``."""
    if not _covered(conv, x):
        return "paddle"
    out_h, out_w = _output_size(conv, x.shape[2], x.shape[3])
    pixels, pointwise = out_h * out_w, list(conv._kernel_size) == [1, 1]
    if convolution.applies(x) and not (pointwise and pixels < MIN_ONEDNN_POINTWISE_PIXELS):
        return "onednn"
    return "batched" if pixels <= MAX_BATCHED_PIXELS else "paddle"


def compute(conv: nn.Conv2D, x: paddle.Tensor, path: str) -> paddle.Tensor:
    """``conv(x)`` on ``path`` (of :data:`ROUTES`; ``onednn`` and ``batched`` need a covered
    convolution, ``onednn`` also :func:`.convolution.applies`)."""
    if path == "onednn":
        return convolution.conv2d(
            x, conv.weight, conv.bias, conv._stride, conv._updated_padding, conv._dilation
        )
    if path == "batched":
        return _batched(conv, x)
    return nn.Conv2D.forward(conv, x)


@paddle.jit.not_to_static
def _conv2d(conv: nn.Conv2D, x: paddle.Tensor) -> paddle.Tensor:
    return compute(conv, x, route(conv, x))


def _batched(conv: nn.Conv2D, x: paddle.Tensor) -> paddle.Tensor:
    """The convolution of ``x`` as one GEMM over the batch."""
    batch, channels, height, width = x.shape
    out_h, out_w = _output_size(conv, height, width)
    pointwise = list(conv._kernel_size) == [1, 1] and list(conv._updated_padding) == [0, 0]
    if pointwise and list(conv._stride) == [1, 1]:
        patches = x.reshape([batch, channels, height * width])  # (B, Cin, L)
    else:
        patches = F.unfold(  # (B, Cin*k*k, L)
            x,
            conv._kernel_size,
            strides=conv._stride,
            paddings=conv._updated_padding,
            dilations=conv._dilation,
        )
    columns = SF.permute(patches, [1, 0, 2]).reshape([patches.shape[1], -1])  # (K, B*L)
    weight = conv.weight.reshape([conv._out_channels, -1])  # (Cout, K)
    y = matmul(weight, columns)  # (Cout, B*L)
    if conv.bias is not None:
        y = y + conv.bias.unsqueeze(1)
    y = y.reshape([conv._out_channels, batch, out_h, out_w])
    return SF.permute(y, [1, 0, 2, 3])  # (B, Cout, Ho, Wo)


def retype_layers(model: nn.Layer, plain: type[nn.Layer], faster: type[nn.Layer]) -> int:
    """Make every layer of exactly type ``plain`` in ``model`` a ``faster`` one, in place:
    ``faster`` subclasses ``plain`` and changes only how it computes, so parameters, names
    and state dicts are unchanged. Returns how many layers were changed."""
    changed = 0
    for layer in model.sublayers(include_self=True):
        if type(layer) is plain:
            layer.__class__ = faster
            changed += 1
    return changed


def batch_small_convs(model: nn.Layer) -> int:
    """Turn every plain ``Conv2D`` in ``model`` into a :class:`BatchedConv2D`, in place
    (:func:`retype_layers`). Returns how many layers were changed."""
    return retype_layers(model, nn.Conv2D, BatchedConv2D)
