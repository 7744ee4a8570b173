"""Stochastic depth: drop whole residual branches per sample while training."""

from __future__ import annotations

import paddle
from paddle import nn


def drop_path(x: paddle.Tensor, drop_prob: float, training: bool) -> paddle.Tensor:
    """Zero each sample's branch with probability ``drop_prob``; rescale survivors by 1/keep.

    Identity when not training or when ``drop_prob`` is 0.
    """
    if drop_prob == 0.0 or not training:
        return x
    keep = 1.0 - drop_prob
    shape = [x.shape[0]] + [1] * (x.ndim - 1)
    mask = paddle.floor(keep + paddle.rand(shape, dtype=x.dtype))  # 1 with probability keep
    return x * (mask / keep)


class DropPath(nn.Layer):
    """Layer form of :func:`drop_path`."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"
