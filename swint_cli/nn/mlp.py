"""The transformer feed-forward block: Linear -> GELU -> Dropout -> Linear -> Dropout."""

from __future__ import annotations

import paddle
from paddle import nn

from .layers import Linear


class Mlp(nn.Layer):
    """Two-layer MLP with exact (erf) GELU, applied to the last axis."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = Linear(dim, hidden_dim)
        self.fc2 = Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = nn.functional.gelu(self.fc1(x))
        x = self.drop(x)
        return self.drop(self.fc2(x))
