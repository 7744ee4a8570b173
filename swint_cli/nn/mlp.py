"""The transformer feed-forward block: Linear -> GELU -> Dropout -> Linear -> Dropout.

Under bf16 autocast (:mod:`.precision`) and without dropout between the two layers (rate 0,
or in eval mode), the block runs as one op, :func:`functional.mlp`, whose GELU pass writes
the hidden activations directly in bfloat16, as ``fc2`` takes them, instead of in float32
for a second pass to convert; ``fc1`` and ``fc2`` are then not called as layers (their
forward hooks do not run)."""

from __future__ import annotations

import paddle
from paddle import nn

from . import functional as SF
from .layers import Linear, LinearGELU
from .precision import products_in_bf16


class Mlp(nn.Layer):
    """Two-layer MLP with exact (erf) GELU, applied to the last axis."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = LinearGELU(dim, hidden_dim)  # fc1 and its GELU
        self.fc2 = Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if products_in_bf16() and (self.drop.p == 0.0 or not self.training):
            weights = (self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias)
            return self.drop(SF.mlp(x, weights))
        x = self.drop(self.fc1(x))
        return self.drop(self.fc2(x))
