"""Patch expanding: each token -> a 2x2 neighbourhood, doubling height and width."""

from __future__ import annotations

import paddle
from paddle import nn

from . import functional as SF
from .layers import LayerNorm, Linear


class PatchExpanding(nn.Layer):
    """``(B, H*W, C)`` -> ``(B, 2H*2W, out_dim)``: Swin-Unet's upsampling counterpart of
    PatchMerging.

    A bias-free Linear(C -> 4*out_dim) gives each token the features of its 2x2 children,
    ordered (row offset, column offset, channel) as Swin-Unet's ``b h w (p1 p2 c)``; they are
    moved into place (a pixel shuffle) and normalised by LayerNorm(out_dim). With
    ``out_dim = C / 2`` this is Swin-Unet's Linear(C -> 2C).
    """

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.out_dim = out_dim
        self.expand = Linear(dim, 4 * out_dim, bias_attr=False)
        self.norm = LayerNorm(out_dim)

    def forward(self, x: paddle.Tensor, height: int, width: int) -> paddle.Tensor:
        c = self.out_dim
        x = self.expand(x).reshape([-1, height, width, 2, 2, c])  # (B, H, W, dh, dw, C')
        x = SF.permute(x, [0, 1, 3, 2, 4, 5])  # (B, H, dh, W, dw, C')
        return self.norm(x.reshape([-1, 4 * height * width, c]))  # (B, 2H*2W, C')

    def extra_repr(self) -> str:
        return f"dim={self.dim}, out_dim={self.out_dim}"
