"""One Swin Transformer block: (shifted) window attention and an MLP, each a residual branch.

Where the LayerNorm of a branch sits (``residual_norm``):

- ``"pre"``: ``x + DropPath(f(LN(x)))``, the official Swin V1 block (the default);
- ``"post"``: ``x + DropPath(LN(f(x)))``, "residual post-norm", as the original SwinT
  article's layer and Swin V2 compute it, with LayerNorm's usual init (weight 1, bias 0);
- ``"post_zero"``: the same with the LayerNorms' weight and bias starting at 0 (Swin V2's
  ``_init_respostnorm``), so that every block starts as the identity.

``layer_scale`` (a float) adds LayerScale (CaiT) to both branches:
``x + DropPath(gamma * branch)``, with per-channel ``gamma`` starting at that value.
"""

from __future__ import annotations

import paddle
from paddle import nn
from paddle.nn import functional as F

from ..layer_config import SwinTConfig
from . import functional as SF
from . import window_gather
from .drop_path import DropPath
from .layer_scale import LayerScale
from .layers import LayerNorm
from .mlp import Mlp
from .window_attention import WindowAttention
from .window_geometry import effective_window, padded_size, shifted_window_mask


def window_partition(x: paddle.Tensor, window: int) -> paddle.Tensor:
    """``(B, Hp, Wp, C)`` -> ``(B*nW, M*M, C)``, windows in row-major order per image."""
    _, hp, wp, c = x.shape
    x = x.reshape([-1, hp // window, window, wp // window, window, c])
    return SF.permute(x, [0, 1, 3, 2, 4, 5]).reshape([-1, window * window, c])


def window_reverse(windows: paddle.Tensor, window: int, hp: int, wp: int) -> paddle.Tensor:
    """Inverse of :func:`window_partition`: ``(B*nW, M*M, C)`` -> ``(B, Hp, Wp, C)``."""
    c = windows.shape[-1]
    x = windows.reshape([-1, hp // window, wp // window, window, window, c])
    return SF.permute(x, [0, 1, 3, 2, 4, 5]).reshape([-1, hp, wp, c])


class SwinBlock(nn.Layer):
    """``x + DropPath(Attn(LN(x)))`` then ``x + DropPath(MLP(LN(x)))`` on ``(B, H*W, C)`` tokens
    (with ``residual_norm="pre"``; see the module docstring for the other placements).

    ``shift_size`` 0 gives W-MSA, ``window_size // 2`` gives SW-MSA. Any ``H x W`` works: the
    map that enters attention (normalised, for pre-norm) is zero-padded at the bottom/right to
    a multiple of the window and cropped back (as the official detection backbone does); a
    map whose smaller side is not larger than the window uses that side as window and no
    shift.
    """

    def __init__(self, dim: int, num_heads: int, shift_size: int, config: SwinTConfig) -> None:
        """A block of ``dim`` channels and ``num_heads`` heads, windows shifted by
        ``shift_size``, built as ``config`` says (its window size, MLP, biases, rates, norm
        placement and LayerScale)."""
        super().__init__()
        window_size, residual_norm = config.window_size, config.residual_norm
        self.dim = dim
        self.pre_norm = residual_norm == "pre"
        self.window_size = window_size
        self.shift_size = shift_size
        self.norm1 = LayerNorm(dim)
        self.attn = WindowAttention(
            dim,
            num_heads,
            window_size,
            config.qkv_bias,
            config.qk_scale,
            config.attention_dropout,
            config.dropout,
        )
        self.drop_path = DropPath(config.droppath)
        self.norm2 = LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * config.mlp_ratio), config.dropout)
        scale = config.layer_scale
        self.ls1 = LayerScale(dim, scale) if scale is not None else None
        self.ls2 = LayerScale(dim, scale) if scale is not None else None
        if residual_norm == "post_zero":
            for norm in (self.norm1, self.norm2):
                nn.initializer.Constant(0.0)(norm.weight)
                nn.initializer.Constant(0.0)(norm.bias)
        self._mask_cache: dict[tuple[int, int, int, int], paddle.Tensor] = {}

    def attention_mask(self, hp: int, wp: int, window: int, shift: int) -> paddle.Tensor:
        """The SW-MSA mask for a padded ``hp x wp`` map, cached per geometry."""
        key = (hp, wp, window, shift)
        mask = self._mask_cache.get(key) if paddle.in_dynamic_mode() else None
        if mask is None:
            mask = paddle.to_tensor(shifted_window_mask(hp, wp, window, shift))
            if paddle.in_dynamic_mode():
                self._mask_cache[key] = mask
        return mask

    def forward(self, x: paddle.Tensor, height: int, width: int) -> paddle.Tensor:
        window, shift = effective_window(height, width, self.window_size, self.shift_size)
        hp, wp = padded_size(height, window), padded_size(width, window)

        y = self.norm1(x) if self.pre_norm else x  # (B, H*W, C)
        mask = self.attention_mask(hp, wp, window, shift) if shift > 0 else None
        if window_gather.applies(y):
            y = window_gather.to_windows(y, height, width, window, shift)  # (B*nW, M*M, C)
            y = self.attn(y, window, mask)
            y = window_gather.from_windows(y, height, width, window, shift)  # (B, H*W, C)
        else:
            y = self._windowed_attention(y, height, width, window, shift, mask)
        x = SF.add(x, self.drop_path(self._finish(y, self.norm1, self.ls1)))

        y = self.mlp(self.norm2(x) if self.pre_norm else x)
        return SF.add(x, self.drop_path(self._finish(y, self.norm2, self.ls2)))

    def _windowed_attention(
        self,
        y: paddle.Tensor,
        height: int,
        width: int,
        window: int,
        shift: int,
        mask: paddle.Tensor | None,
    ) -> paddle.Tensor:
        """Attention in the (shifted) windows of ``(B, H*W, C)`` tokens by Paddle ops: pad,
        roll, partition, attend, and undo the three; returns ``(B, H*W, C)``."""
        c = self.dim
        hp, wp = padded_size(height, window), padded_size(width, window)
        y = y.reshape([-1, height, width, c])
        if (hp, wp) != (height, width):
            y = F.pad(y, [0, wp - width, 0, hp - height], data_format="NHWC")
        if shift > 0:
            y = paddle.roll(y, shifts=(-shift, -shift), axis=(1, 2))
        y = window_partition(y, window)  # (B*nW, M*M, C)
        y = self.attn(y, window, mask)
        y = window_reverse(y, window, hp, wp)  # (B, Hp, Wp, C)
        if shift > 0:
            y = paddle.roll(y, shifts=(shift, shift), axis=(1, 2))
        if (hp, wp) != (height, width):
            y = SF.crop(y, height, width)  # (B, H, W, C)
        return y.reshape([-1, height * width, c])  # (B, H*W, C)

    def _finish(self, y: paddle.Tensor, norm: LayerNorm, scale: LayerScale | None) -> paddle.Tensor:
        """A branch's output before DropPath: normalised here when post-norm, then scaled."""
        if not self.pre_norm:
            y = norm(y)
        return y if scale is None else scale(y)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, window_size={self.window_size}, shift_size={self.shift_size}"
