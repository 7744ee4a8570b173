"""Functional forms of the layer's hot operations.

Each one computes exactly what its Paddle counterpart computes; the functions exist so that
the layers have one place where faster implementations can be swapped in.
"""

from __future__ import annotations

import paddle
from paddle.nn import functional as F


def linear(x: paddle.Tensor, weight: paddle.Tensor, bias: paddle.Tensor | None) -> paddle.Tensor:
    """``x @ weight + bias`` with ``weight`` of shape ``(in, out)``."""
    return F.linear(x, weight, bias)


def layer_norm(
    x: paddle.Tensor, weight: paddle.Tensor, bias: paddle.Tensor, epsilon: float = 1e-5
) -> paddle.Tensor:
    """LayerNorm over the last axis."""
    return F.layer_norm(x, x.shape[-1:], weight, bias, epsilon)


def add_broadcast_bias(scores: paddle.Tensor, bias: paddle.Tensor) -> paddle.Tensor:
    """``scores + bias`` where ``bias`` repeats over groups of leading rows of ``scores``.

    ``scores`` is ``(B * G, *S)`` and ``bias`` is ``(G, *S)`` or ``S``-shaped; returns
    ``scores`` shape.
    """
    if bias.ndim == scores.ndim:
        groups = bias.shape[0]
        shape = scores.shape
        return (scores.reshape([-1, groups, *shape[1:]]) + bias.unsqueeze(0)).reshape(shape)
    return scores + bias
