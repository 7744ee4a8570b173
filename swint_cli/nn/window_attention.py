"""Multi-head self-attention inside non-overlapping windows, with relative position bias."""

from __future__ import annotations

import paddle
from paddle import nn

from . import attention_core
from . import functional as SF
from .layers import Linear, QKVLinear
from .products import matmul
from .window_geometry import relative_position_index


def summed_score_bias(bias: paddle.Tensor, mask: paddle.Tensor | None) -> paddle.Tensor:
    """The relative position ``bias`` ``(nH, N, N)`` and the shift ``mask`` ``(nW, N, N)``
    summed into one bias per window, ``(nW, nH, N, N)`` (``(1, nH, N, N)`` without a mask),
    for attention by Paddle ops."""
    score_bias = bias.unsqueeze(0)  # (1, nH, N, N)
    return score_bias if mask is None else score_bias + mask.unsqueeze(1)


class WindowAttention(nn.Layer):
    """W-MSA / SW-MSA core: attention among the ``M*M`` tokens of each window.

    Args:
        dim: channels ``C`` of the tokens.
        num_heads: heads; must divide ``dim``.
        window_size: the largest window ``M`` the bias table must cover; a smaller window
            (for maps smaller than ``M``) uses the table's central part.
        qkv_bias: learn a bias for q, k and v.
        qk_scale: scale of ``q @ k^T``; ``head_dim ** -0.5`` when None.
        attn_drop: dropout on the attention weights.
        proj_drop: dropout after the output projection.

    ``forward(x, window, mask)``: ``x`` is ``(B*nW, M*M, C)``; ``mask`` is ``(nW, M*M, M*M)``
    (0 or a large negative number) or None. Returns ``(B*nW, M*M, C)``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.num_heads = num_heads
        self.window_size = window_size
        head_dim = dim // num_heads
        self.scale = qk_scale if qk_scale is not None else head_dim**-0.5

        self.relative_position_bias_table = self.create_parameter(
            shape=[(2 * window_size - 1) ** 2, num_heads],
            default_initializer=nn.initializer.TruncatedNormal(std=0.02),
        )
        self.qkv = QKVLinear(dim, self.scale, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self._index_cache: dict[int, paddle.Tensor] = {}

    def relative_position_bias(self, window: int) -> paddle.Tensor:
        """Bias added to the scores of a ``window x window`` window: ``(nH, M*M, M*M)``."""
        index = self._index_cache.get(window) if paddle.in_dynamic_mode() else None
        if index is None:
            index = paddle.to_tensor(relative_position_index(window, self.window_size))
            if paddle.in_dynamic_mode():
                self._index_cache[window] = index
        n = window * window
        bias = paddle.index_select(self.relative_position_bias_table, index, axis=0)
        return bias.reshape([n, n, self.num_heads]).transpose([2, 0, 1])  # (nH, N, N)

    def forward(
        self, x: paddle.Tensor, window: int, mask: paddle.Tensor | None = None
    ) -> paddle.Tensor:
        qkv = self.qkv(x)  # (B*nW, N, 3C), q already scaled
        bias = self.relative_position_bias(window)  # (nH, N, N)
        dropout_active = self.attn_drop.training and self.attn_drop.p > 0
        if attention_core.applies(qkv, dropout_active):
            out = attention_core.window_attention(qkv, bias, self.num_heads, mask)  # (B*nW, N, C)
        else:
            out = self._split_heads_attention(qkv, summed_score_bias(bias, mask), window)
        return self.proj_drop(self.proj(out))

    def _split_heads_attention(
        self, qkv: paddle.Tensor, score_bias: paddle.Tensor, window: int
    ) -> paddle.Tensor:
        """The attention by Paddle ops: q, k, v split into ``(B*nW, nH, N, hd)`` heads (with
        attention dropout); returns ``(B*nW, N, C)``."""
        n, c, heads = window * window, self.dim, self.num_heads
        qkv = SF.permute(qkv.reshape([-1, n, 3, heads, c // heads]), [2, 0, 3, 1, 4])
        q, k, v = paddle.unbind(qkv, axis=0)  # each (B*nW, nH, N, hd)
        scores = matmul(q, k, transpose_b=True)  # (B*nW, nH, N, N)
        attn = self.attn_drop(SF.bias_softmax(scores, score_bias))  # (B*nW, nH, N, N)
        out = matmul(attn, v)  # (B*nW, nH, N, hd)
        return SF.permute(out, [0, 2, 1, 3]).reshape([-1, n, c])  # (B*nW, N, C)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, window_size={self.window_size}, num_heads={self.num_heads}"
