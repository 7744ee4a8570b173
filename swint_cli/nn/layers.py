"""``Linear``, ``LayerNorm`` and a Linear fused with GELU computed by this package's ops.

They keep Paddle's parameter layout and names (so checkpoints, ``paddle.summary`` and
optimisers see ordinary layers) and route the computation through
:mod:`swint_cli.nn.functional`.
"""

from __future__ import annotations

import paddle
from paddle import nn

from . import functional as SF


class Linear(nn.Linear):
    """``paddle.nn.Linear`` (weight ``(in, out)``) computed by :func:`functional.linear`."""

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return SF.linear(x, self.weight, self.bias)


class LinearGELU(nn.Linear):
    """``gelu(Linear(x))`` with exact GELU, computed in one pass by :func:`functional.linear_gelu`.

    Its parameters are those of ``paddle.nn.Linear``.
    """

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return SF.linear_gelu(x, self.weight, self.bias)


class LayerNorm(nn.LayerNorm):
    """``paddle.nn.LayerNorm`` over the last axis computed by :func:`functional.layer_norm`."""

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return SF.layer_norm(x, self.weight, self.bias, self._epsilon)


class QKVLinear(nn.Linear):
    """The ``C -> 3C`` q/k/v projection with the attention scale folded into q's columns.

    Computes ``x @ W + b`` and multiplies the q third by ``scale``, by scaling the
    ``C x 3C`` weight rather than the much larger activations.
    """

    def __init__(self, dim: int, scale: float, bias: bool = True) -> None:
        super().__init__(dim, 3 * dim, bias_attr=None if bias else False)
        column_scale = paddle.concat(
            [paddle.full([dim], scale, dtype="float32"), paddle.ones([2 * dim], dtype="float32")]
        )
        self.register_buffer("column_scale", column_scale, persistable=False)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        bias = self.bias * self.column_scale if self.bias is not None else None
        return SF.linear(x, self.weight * self.column_scale, bias)
