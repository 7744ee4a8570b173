"""Relative-position bias tables carried to another window size, as timm's
``resize_rel_pos_bias_table`` does: each head's ``(2W-1) x (2W-1)`` grid of biases (rows in
``(dy, dx)`` order) bicubic-interpolated (``align_corners=False``) to ``(2V-1) x (2V-1)``."""

from __future__ import annotations

import math

import numpy as np
import paddle


def table_side(rows: int) -> int | None:
    """``2W-1`` for a table of ``(2W-1)**2`` rows, else None."""
    side = math.isqrt(rows)
    return side if side * side == rows and side % 2 else None


def resize_table(table: np.ndarray, rows: int) -> np.ndarray:
    """``table`` ``((2W-1)**2, heads)`` resized to ``(rows, heads)`` with ``rows`` another
    odd square ``(2V-1)**2``; ValueError when either is not such a table."""
    old, new = table_side(table.shape[0]), table_side(rows)
    if table.ndim != 2 or old is None or new is None:
        raise ValueError(f"not a relative-position table pair: {list(table.shape)} to {rows} rows")
    heads = table.shape[1]
    grid = paddle.to_tensor(np.ascontiguousarray(table.T.reshape(1, heads, old, old)), "float32")
    resized = paddle.nn.functional.interpolate(
        grid, size=[new, new], mode="bicubic", align_corners=False
    )  # (1, heads, 2V-1, 2V-1)
    return resized.numpy().reshape(heads, rows).T.astype(table.dtype)
