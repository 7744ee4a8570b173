"""LayerScale (CaiT): a learnable per-channel gain on a residual branch."""

from __future__ import annotations

import paddle
from paddle import nn


class LayerScale(nn.Layer):
    """``x * gamma`` over the last axis, ``gamma`` of shape ``(dim,)`` starting at ``init_value``.

    Placed at the end of a residual branch (``x + DropPath(LayerScale(f(x)))``), a small
    ``init_value`` (timm's 1e-5) lets every block start close to the identity.
    """

    def __init__(self, dim: int, init_value: float) -> None:
        super().__init__()
        self.gamma = self.create_parameter(
            shape=[dim], default_initializer=nn.initializer.Constant(init_value)
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return x * self.gamma

    def extra_repr(self) -> str:
        return f"dim={self.gamma.shape[0]}"
