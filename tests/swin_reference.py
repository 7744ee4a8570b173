"""Pure-NumPy (float64) reference implementation of Swin Transformer building blocks.

This module is an *independent* reference used by the unit tests to check a PaddlePaddle
implementation. It is derived from the Swin Transformer paper (Liu et al., 2021,
"Swin Transformer: Hierarchical Vision Transformer using Shifted Windows") and the
semantics of the official ``microsoft/Swin-Transformer`` code (including the
detection-backbone style zero padding of feature maps whose size is not a multiple of the
window size). It deliberately uses explicit loops over token positions for the relative
position index and the shifted-window attention mask, so that it does not mirror the
vectorised code typically found in implementations.

Implemented pieces:

* :func:`layer_norm` - LayerNorm over the last axis (biased variance).
* :func:`gelu` - exact GELU, ``0.5 * x * (1 + erf(x / sqrt(2)))``.
* :func:`relative_position_index` - index into the relative position bias table.
* :func:`shift_attention_mask` - additive (0 / -100) mask for shifted windows.
* :func:`window_attention` - (shifted) window multi-head self-attention with relative
  position bias.
* :func:`swin_block` - one Swin Transformer block (W-MSA or SW-MSA + MLP, residuals, eval
  mode: no dropout / drop path), with the LayerNorm before each branch (pre-norm, Swin V1)
  or after it (residual post-norm, Swin V2 and the original SwinT article), and optional
  LayerScale gains on the branches.
* :func:`patch_merging` - 2x2 patch merging (downsampling) layer.
* :func:`swint` - two consecutive Swin blocks (regular + shifted) on an NCHW tensor,
  optionally followed by patch merging or a linear channel projection.

Conventions: all linear weights are stored in (in_features, out_features) layout, i.e. a
linear layer computes ``x @ weight + bias``. Token sequences are (B, H*W, C) with tokens in
row-major (h, w) order.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

Params = dict[str, np.ndarray]

_MASK_VALUE = -100.0


# ---------------------------------------------------------------------------------------
# Elementary functions
# ---------------------------------------------------------------------------------------


def layer_norm(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-5
) -> np.ndarray:
    """LayerNorm over the last axis with biased variance: (x - mean) / sqrt(var + eps)."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * np.asarray(weight, np.float64) + np.asarray(
        bias, np.float64
    )


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf based) GELU: 0.5 * x * (1 + erf(x / sqrt(2)))."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis``."""
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _exact(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, np.float64)


_operand: list[Callable[[np.ndarray], np.ndarray]] = [_exact]


@contextmanager
def rounded_operands(rounding: Callable[[np.ndarray], np.ndarray]) -> Iterator[None]:
    """Inside the block every matrix product (the linear layers, ``q @ k^T``, ``attn @ v``)
    multiplies ``rounding(a) @ rounding(b)`` in float64: a reference for products computed
    from rounded inputs (bfloat16) with exact accumulation."""
    _operand[0] = rounding
    try:
        yield
    finally:
        _operand[0] = _exact


def product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` of the operands as :func:`rounded_operands` gives them (exact by default)."""
    return _operand[0](a) @ _operand[0](b)


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """``x @ weight (+ bias)`` with weight in (in, out) layout."""
    y = product(x, weight)
    if bias is not None:
        y = y + np.asarray(bias, np.float64)
    return y


# ---------------------------------------------------------------------------------------
# Relative position index and shifted-window mask (explicit loops on purpose)
# ---------------------------------------------------------------------------------------


def relative_position_index(M: int) -> np.ndarray:
    """Relative position index for an M x M window, shape (M*M, M*M), dtype int64.

    Tokens are numbered in row-major order, token t = (t // M, t % M). For query token
    i = (hi, wi) and key token j = (hj, wj)::

        index[i, j] = (hi - hj + M - 1) * (2M - 1) + (wi - wj + M - 1)

    which lies in [0, (2M-1)^2).
    """
    n = M * M
    index = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        hi, wi = divmod(i, M)
        for j in range(n):
            hj, wj = divmod(j, M)
            index[i, j] = (hi - hj + M - 1) * (2 * M - 1) + (wi - wj + M - 1)
    return index


def _region_of(coord: int, size: int, M: int, s: int) -> int:
    """Region (0, 1, 2) of a coordinate along one axis: [0, size-M), [size-M, size-s),
    [size-s, size)."""
    if coord < size - M:
        return 0
    if coord < size - s:
        return 1
    return 2


def shift_attention_mask(Hp: int, Wp: int, M: int, s: int) -> np.ndarray:
    """Additive attention mask for shifted-window attention, shape (nW, M*M, M*M).

    Each pixel of the (already cyclically shifted) Hp x Wp map gets a region id
    ``row_region * 3 + col_region`` where rows are split into [0, Hp-M), [Hp-M, Hp-s),
    [Hp-s, Hp) and columns likewise. Windows are the non-overlapping M x M tiles in
    row-major tile order; ``mask[w, i, j]`` is 0 if tokens i and j of window w share a
    region id and -100.0 otherwise.
    """
    if Hp % M or Wp % M:
        raise ValueError(f"Hp={Hp}, Wp={Wp} must be multiples of M={M}")
    region = np.zeros((Hp, Wp), dtype=np.int64)
    for h in range(Hp):
        for w in range(Wp):
            region[h, w] = _region_of(h, Hp, M, s) * 3 + _region_of(w, Wp, M, s)

    n_rows, n_cols = Hp // M, Wp // M
    n = M * M
    mask = np.zeros((n_rows * n_cols, n, n), dtype=np.float64)
    for tr, tc in itertools.product(range(n_rows), range(n_cols)):
        win = tr * n_cols + tc
        ids = [region[tr * M + t // M, tc * M + t % M] for t in range(n)]
        for i in range(n):
            for j in range(n):
                mask[win, i, j] = 0.0 if ids[i] == ids[j] else _MASK_VALUE
    return mask


# ---------------------------------------------------------------------------------------
# Window partition helpers
# ---------------------------------------------------------------------------------------


def window_partition(x: np.ndarray, M: int) -> np.ndarray:
    """(B, Hp, Wp, C) -> (B * nW, M*M, C); windows row-major over tiles, per image;
    tokens row-major inside a window."""
    B, Hp, Wp, C = x.shape
    n_rows, n_cols = Hp // M, Wp // M
    out = np.zeros((B * n_rows * n_cols, M * M, C), dtype=np.float64)
    for b in range(B):
        for tr, tc in itertools.product(range(n_rows), range(n_cols)):
            win = b * n_rows * n_cols + tr * n_cols + tc
            tile = x[b, tr * M : (tr + 1) * M, tc * M : (tc + 1) * M, :]
            out[win] = tile.reshape(M * M, C)
    return out


def window_reverse(windows: np.ndarray, M: int, Hp: int, Wp: int) -> np.ndarray:
    """Inverse of :func:`window_partition`: (B * nW, M*M, C) -> (B, Hp, Wp, C)."""
    n_rows, n_cols = Hp // M, Wp // M
    nW = n_rows * n_cols
    B = windows.shape[0] // nW
    C = windows.shape[-1]
    out = np.zeros((B, Hp, Wp, C), dtype=np.float64)
    for b in range(B):
        for tr, tc in itertools.product(range(n_rows), range(n_cols)):
            win = b * nW + tr * n_cols + tc
            out[b, tr * M : (tr + 1) * M, tc * M : (tc + 1) * M, :] = windows[win].reshape(M, M, C)
    return out


# ---------------------------------------------------------------------------------------
# Window attention
# ---------------------------------------------------------------------------------------


def window_attention(
    xw: np.ndarray,
    p: Params,
    num_heads: int,
    M: int,
    scale: float,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Window multi-head self-attention with relative position bias.

    ``xw``: (B * nW, N, C) with N = M*M; windows of image b are rows b*nW .. b*nW + nW - 1.
    Params: ``qkv.weight`` (C, 3C), ``qkv.bias`` (3C,), ``relative_position_bias_table``
    ((2M-1)^2, num_heads), ``proj.weight`` (C, C), ``proj.bias`` (C,).
    ``mask``: optional (nW, N, N) additive mask; window w gets ``mask[w % nW]``.
    Returns (B * nW, N, C).
    """
    xw = np.asarray(xw, np.float64)
    n_win, N, C = xw.shape
    if M * M != N:
        raise ValueError(f"window token count {N} != M*M = {M * M}")
    if C % num_heads:
        raise ValueError(f"C={C} not divisible by num_heads={num_heads}")
    hd = C // num_heads

    qkv = linear(xw, p["qkv.weight"], p["qkv.bias"])  # (n_win, N, 3C)
    # 3C axis laid out as [3, num_heads, head_dim]
    q_all = qkv[..., 0:C] * scale
    k_all = qkv[..., C : 2 * C]
    v_all = qkv[..., 2 * C : 3 * C]

    rpi = relative_position_index(M)
    table = np.asarray(p["relative_position_bias_table"], np.float64)
    bias = np.zeros((num_heads, N, N), dtype=np.float64)
    for h in range(num_heads):
        for i in range(N):
            for j in range(N):
                bias[h, i, j] = table[rpi[i, j], h]

    if mask is not None:
        mask = np.asarray(mask, np.float64)
        nW = mask.shape[0]
        if n_win % nW:
            raise ValueError(f"total windows {n_win} not a multiple of mask windows {nW}")

    out = np.zeros((n_win, N, C), dtype=np.float64)
    for w in range(n_win):
        heads = []
        for h in range(num_heads):
            cols = slice(h * hd, (h + 1) * hd)
            q, k, v = q_all[w, :, cols], k_all[w, :, cols], v_all[w, :, cols]
            attn = product(q, k.T) + bias[h]
            if mask is not None:
                attn = attn + mask[w % mask.shape[0]]
            attn = softmax(attn, axis=-1)
            heads.append(product(attn, v))  # (N, hd)
        out[w] = np.concatenate(heads, axis=-1)
    return linear(out, p["proj.weight"], p["proj.bias"])


# ---------------------------------------------------------------------------------------
# Swin block, patch merging, two-block stage
# ---------------------------------------------------------------------------------------


def mlp(x: np.ndarray, p: Params) -> np.ndarray:
    """fc2(gelu(fc1(x))) with (in, out) weights; no dropout."""
    return linear(gelu(linear(x, p["fc1.weight"], p["fc1.bias"])), p["fc2.weight"], p["fc2.bias"])


def swin_block(
    x: np.ndarray,
    H: int,
    W: int,
    p: Params,
    num_heads: int,
    window_size: int,
    shift_size: int,
    qk_scale: float | None = None,
    post_norm: bool = False,
) -> np.ndarray:
    """One Swin Transformer block in eval mode. ``x``: (B, H*W, C) -> (B, H*W, C).

    Pre-norm (default): ``x + attn(LN1(x))``, then ``x + mlp(LN2(x))``. ``post_norm``:
    ``x + LN1(attn(x))``, then ``x + LN2(mlp(x))``. When ``p`` holds ``ls1.gamma`` and
    ``ls2.gamma``, each branch's output is multiplied by them (per channel) before the sum.

    If ``min(H, W) <= window_size`` the window becomes ``min(H, W)`` and no shift is used.
    The map entering attention (normalised for pre-norm, ``x`` itself for post-norm) is
    zero-padded at the bottom/right to multiples of the window size (padded tokens are not
    masked, as in the official detection backbone).
    """
    x = np.asarray(x, np.float64)
    B, L, C = x.shape
    if L != H * W:
        raise ValueError(f"token count {L} != H*W = {H * W}")
    if min(H, W) <= window_size:
        M, s = min(H, W), 0
    else:
        M, s = window_size, shift_size

    def branch_end(y: np.ndarray, norm: str, gamma: str) -> np.ndarray:
        if post_norm:
            y = layer_norm(y, p[f"{norm}.weight"], p[f"{norm}.bias"])
        return y * p[gamma] if gamma in p else y

    shortcut = x
    y = x if post_norm else layer_norm(x, p["norm1.weight"], p["norm1.bias"])
    y = y.reshape(B, H, W, C)
    Hp = math.ceil(H / M) * M
    Wp = math.ceil(W / M) * M
    padded = np.zeros((B, Hp, Wp, C), dtype=np.float64)
    padded[:, :H, :W, :] = y
    y = padded

    mask = None
    if s > 0:
        y = np.roll(y, shift=(-s, -s), axis=(1, 2))
        mask = shift_attention_mask(Hp, Wp, M, s)

    hd = C // num_heads
    scale = qk_scale if qk_scale is not None else hd**-0.5
    windows = window_partition(y, M)
    windows = window_attention(windows, p, num_heads, M, scale, mask)
    y = window_reverse(windows, M, Hp, Wp)
    if s > 0:
        y = np.roll(y, shift=(s, s), axis=(1, 2))
    y = y[:, :H, :W, :].reshape(B, H * W, C)

    x = shortcut + branch_end(y, "norm1", "ls1.gamma")
    y = x if post_norm else layer_norm(x, p["norm2.weight"], p["norm2.bias"])
    return x + branch_end(mlp(y, p), "norm2", "ls2.gamma")


def patch_merging(x: np.ndarray, H: int, W: int, p: Params) -> np.ndarray:
    """Patch merging: (B, H*W, C) -> (B, ceil(H/2) * ceil(W/2), C_out).

    Zero-pads bottom/right to even size, concatenates [x0, x1, x2, x3] =
    [(0::2, 0::2), (1::2, 0::2), (0::2, 1::2), (1::2, 1::2)] along channels (4C),
    applies LayerNorm (``norm.weight``, ``norm.bias``) then ``reduction.weight`` (4C, C_out)
    without bias.
    """
    x = np.asarray(x, np.float64)
    B, L, C = x.shape
    if L != H * W:
        raise ValueError(f"token count {L} != H*W = {H * W}")
    x = x.reshape(B, H, W, C)
    Hp, Wp = H + H % 2, W + W % 2
    padded = np.zeros((B, Hp, Wp, C), dtype=np.float64)
    padded[:, :H, :W, :] = x
    x0 = padded[:, 0::2, 0::2, :]
    x1 = padded[:, 1::2, 0::2, :]
    x2 = padded[:, 0::2, 1::2, :]
    x3 = padded[:, 1::2, 1::2, :]
    merged = np.concatenate([x0, x1, x2, x3], axis=-1).reshape(B, (Hp // 2) * (Wp // 2), 4 * C)
    merged = layer_norm(merged, p["norm.weight"], p["norm.bias"])
    return linear(merged, p["reduction.weight"])


def patch_expanding(x: np.ndarray, H: int, W: int, p: Params) -> np.ndarray:
    """Swin-Unet's patch expanding: (B, H*W, C) -> (B, 2H * 2W, C_out).

    ``expand.weight`` (C, 4 C_out), no bias, then the rearrangement
    ``b h w (p1 p2 c) -> b (h p1) (w p2) c``: output pixel (2h + p1, 2w + p2) takes channels
    ``[(2 p1 + p2) C_out, (2 p1 + p2 + 1) C_out)`` of token (h, w); then LayerNorm
    (``norm.weight``, ``norm.bias``).
    """
    x = np.asarray(x, np.float64)
    B, L, _ = x.shape
    if L != H * W:
        raise ValueError(f"token count {L} != H*W = {H * W}")
    y = linear(x, p["expand.weight"]).reshape(B, H, W, -1)
    c_out = y.shape[-1] // 4
    out = np.zeros((B, 2 * H, 2 * W, c_out), dtype=np.float64)
    for h in range(H):
        for w in range(W):
            for p1 in range(2):
                for p2 in range(2):
                    k = 2 * p1 + p2
                    out[:, 2 * h + p1, 2 * w + p2, :] = y[:, h, w, k * c_out : (k + 1) * c_out]
    out = out.reshape(B, 4 * H * W, c_out)
    return layer_norm(out, p["norm.weight"], p["norm.bias"])


def swint(
    x_nchw: np.ndarray,
    p_block1: Params,
    p_block2: Params,
    num_heads: int,
    window_size: int,
    qk_scale: float | None = None,
    downsample: bool = False,
    p_merge: Params | None = None,
    p_proj: Params | None = None,
    p_expand: Params | None = None,
    post_norm: bool = False,
) -> np.ndarray:
    """Two Swin blocks (shift 0, then shift ``window_size // 2``; pre-norm, or residual
    post-norm with ``post_norm``) on an NCHW tensor.

    Then: patch merging (``downsample=True``, params ``p_merge``) giving
    (N, C_out, ceil(H/2), ceil(W/2)); else patch expanding (``p_expand`` given) giving
    (N, C_out, 2H, 2W); else a linear projection ``tokens @ p_proj['weight'] +
    p_proj['bias']`` if ``p_proj`` is given; else identity. Returns NCHW.
    """
    x_nchw = np.asarray(x_nchw, np.float64)
    N, C, H, W = x_nchw.shape
    tokens = x_nchw.transpose(0, 2, 3, 1).reshape(N, H * W, C)
    for params, shift in ((p_block1, 0), (p_block2, window_size // 2)):
        tokens = swin_block(
            tokens, H, W, params, num_heads, window_size, shift, qk_scale, post_norm
        )
    if downsample:
        if p_merge is None:
            raise ValueError("downsample=True requires p_merge")
        tokens = patch_merging(tokens, H, W, p_merge)
        H, W = (H + 1) // 2, (W + 1) // 2
    elif p_expand is not None:
        tokens = patch_expanding(tokens, H, W, p_expand)
        H, W = 2 * H, 2 * W
    elif p_proj is not None:
        tokens = linear(tokens, p_proj["weight"], p_proj["bias"])
    c_out = tokens.shape[-1]
    return tokens.reshape(N, H, W, c_out).transpose(0, 3, 1, 2)
