"""GroupNorm whose saved inference graph normalises exactly, in Paddle and in ONNX.

paddle2onnx converts Paddle's ``group_norm`` op into a graph that loses precision on small
groups: one channel of a 2x2 map per group gives errors of 1e-4 in onnxruntime, and NaN once
a convolution feeds it, which an FCOS head meets on its coarsest pyramid levels. In a static
graph (``paddle.jit.save``, from which ONNX is converted) :class:`GroupNorm` writes the
normalisation out of elementary ops: the group mean, then the mean squared deviation from it.
In dynamic mode (training, evaluation) it runs Paddle's kernel. Parameters and state dict are
``paddle.nn.GroupNorm``'s.
"""

from __future__ import annotations

import paddle
from paddle import nn


class GroupNorm(nn.GroupNorm):
    """``paddle.nn.GroupNorm`` (NCHW, affine) exported as elementary ops."""

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if paddle.in_dynamic_mode():
            return super().forward(x)
        return _composed(x, self._num_groups, self._epsilon, self.weight, self.bias)


def _composed(
    x: paddle.Tensor,
    groups: int,
    epsilon: float,
    weight: paddle.Tensor | None,
    bias: paddle.Tensor | None,
) -> paddle.Tensor:
    """Group normalisation of ``x`` (B, C, H, W) from means alone, then the affine map."""
    grouped = x.reshape([0, groups, -1])  # (B, G, C/G * H * W)
    centred = grouped - grouped.mean(axis=-1, keepdim=True)
    variance = (centred * centred).mean(axis=-1, keepdim=True)
    y = (centred / paddle.sqrt(variance + epsilon)).reshape(paddle.shape(x))  # (B, C, H, W)
    if weight is not None:
        y = y * weight.reshape([1, -1, 1, 1])
    if bias is not None:
        y = y + bias.reshape([1, -1, 1, 1])
    return y
