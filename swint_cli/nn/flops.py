"""Analytic multiply-accumulate counts of SwinT, following the Swin paper's accounting.

Counted: every matrix product (q/k/v and output projections, ``q @ k^T``, ``attn @ v``, the
MLP, PatchMerging's reduction, PatchExpanding's expansion or the channel projection). Not
counted, as in the paper: LayerNorm, softmax, GELU, bias and residual additions. Padded
tokens are counted where the attention actually computes on them.
"""

from __future__ import annotations

from .window_geometry import effective_window, padded_size


def window_attention_flops(tokens: int, dim: int, window: int) -> int:
    """W-MSA on ``tokens`` (padded) positions: the paper's ``4 h w C^2 + 2 M^2 h w C``."""
    return 4 * tokens * dim * dim + 2 * window * window * tokens * dim


def swin_block_flops(
    height: int, width: int, dim: int, window_size: int, shift_size: int, mlp_ratio: float
) -> int:
    """One Swin block (attention + MLP) on an ``height x width`` map of ``dim`` channels."""
    window, _ = effective_window(height, width, window_size, shift_size)
    padded = padded_size(height, window) * padded_size(width, window)
    mlp = 2 * height * width * dim * int(dim * mlp_ratio)
    return window_attention_flops(padded, dim, window) + mlp


def swint_flops(
    in_channels: int,
    out_channels: int,
    height: int,
    width: int,
    window_size: int,
    mlp_ratio: float = 4.0,
    downsample: bool = False,
    upsample: bool = False,
) -> int:
    """Multiply-accumulates of one SwinT forward pass for one ``height x width`` image."""
    total = sum(
        swin_block_flops(height, width, in_channels, window_size, shift, mlp_ratio)
        for shift in (0, window_size // 2)
    )
    if downsample:
        merged = ((height + 1) // 2) * ((width + 1) // 2)
        total += merged * 4 * in_channels * out_channels
    elif upsample:
        total += height * width * in_channels * 4 * out_channels
    elif in_channels != out_channels:
        total += height * width * in_channels * out_channels
    return total
