"""Patch merging: 2x2 neighbourhoods -> one token, halving height and width."""

from __future__ import annotations

import paddle
from paddle import nn
from paddle.nn import functional as F

from . import functional as SF
from .layers import LayerNorm, Linear


class PatchMerging(nn.Layer):
    """``(B, H*W, C)`` -> ``(B, ceil(H/2)*ceil(W/2), out_dim)``.

    The 2x2 neighbours are concatenated in the order ``[0::2, 0::2], [1::2, 0::2],
    [0::2, 1::2], [1::2, 1::2]`` (row, column offsets), then LayerNorm(4C) and a bias-free
    Linear(4C -> out_dim). Odd sizes are zero-padded at the bottom/right first.
    """

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.out_dim = out_dim
        self.norm = LayerNorm(4 * dim)
        self.reduction = Linear(4 * dim, out_dim, bias_attr=False)

    def forward(self, x: paddle.Tensor, height: int, width: int) -> paddle.Tensor:
        c = self.dim
        x = x.reshape([-1, height, width, c])
        if height % 2 or width % 2:
            x = F.pad(x, [0, width % 2, 0, height % 2], data_format="NHWC")
        h2, w2 = (height + 1) // 2, (width + 1) // 2
        # (B, H/2, dh, W/2, dw, C) -> (B, H/2, W/2, dw, dh, C): concatenation index 2*dw + dh.
        x = SF.permute(x.reshape([-1, h2, 2, w2, 2, c]), [0, 1, 3, 4, 2, 5])
        x = x.reshape([-1, h2 * w2, 4 * c])  # (B, H/2*W/2, 4C)
        x = self.norm(x)
        return self.reduction(x)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, out_dim={self.out_dim}"
