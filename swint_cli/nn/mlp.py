"""The transformer feed-forward block: Linear -> GELU -> Dropout -> Linear -> Dropout."""

from __future__ import annotations

import paddle
from paddle import nn

from .layers import Linear, LinearGELU


class Mlp(nn.Layer):
    """Two-layer MLP with exact (erf) GELU, applied to the last axis."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = LinearGELU(dim, hidden_dim)  # fc1 and its GELU
        self.fc2 = Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.drop(self.fc1(x))
        return self.drop(self.fc2(x))
