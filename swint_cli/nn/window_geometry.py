"""Index and mask tables of (shifted) window attention, computed once per geometry in NumPy.

Everything here depends only on sizes, never on data, so callers cache the results per size.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

MASK_VALUE = -100.0


def effective_window(height: int, width: int, window_size: int, shift_size: int) -> tuple[int, int]:
    """Window and shift actually used for an ``height x width`` map.

    As in the official Swin code: when the map is not larger than the window in its smaller
    side, the window shrinks to that side and no shift is applied.
    """
    if min(height, width) <= window_size:
        return min(height, width), 0
    return window_size, shift_size


def padded_size(size: int, window: int) -> int:
    """Smallest multiple of ``window`` that is >= ``size``."""
    return -(-size // window) * window


@lru_cache(maxsize=64)
def relative_position_index(window: int, table_window: int) -> np.ndarray:
    """Row of the bias table for every (query, key) pair of a ``window x window`` window.

    The table has ``(2 * table_window - 1) ** 2`` rows, one per relative offset
    ``(dh, dw)`` with ``|dh|, |dw| < table_window``; a smaller window uses its central part.
    Returns int64 of shape ``(window**2 * window**2,)`` (flattened (query, key) pairs).
    """
    coords = np.stack(np.meshgrid(np.arange(window), np.arange(window), indexing="ij"))
    coords = coords.reshape(2, -1)  # (2, M*M)
    rel = coords[:, :, None] - coords[:, None, :] + (table_window - 1)  # (2, M*M, M*M)
    index = rel[0] * (2 * table_window - 1) + rel[1]
    return index.reshape(-1).astype("int64")


@lru_cache(maxsize=64)
def shifted_window_mask(
    padded_height: int, padded_width: int, window: int, shift: int
) -> np.ndarray:
    """Attention mask of SW-MSA: 0 within a region, ``MASK_VALUE`` across regions.

    After rolling the map by ``-shift``, the last window row/column holds pixels that came
    from different sides of the image; they must not attend to one another.
    Returns float32 of shape ``(nW, M*M, M*M)`` with windows in row-major order.
    """
    region = np.zeros((padded_height, padded_width), dtype=np.int64)
    bands = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for i, rows in enumerate(bands):
        for j, cols in enumerate(bands):
            region[rows, cols] = 3 * i + j
    windows = region.reshape(padded_height // window, window, padded_width // window, window)
    windows = windows.transpose(0, 2, 1, 3).reshape(-1, window * window)  # (nW, M*M)
    different = windows[:, :, None] != windows[:, None, :]
    return np.where(different, MASK_VALUE, 0.0).astype("float32")


@lru_cache(maxsize=64)
def window_token_order(height: int, width: int, window: int, shift: int) -> np.ndarray:
    """For each token of the windows of one image, the map token it holds, or -1 for padding.

    The map (``height x width`` tokens, row-major) is zero-padded at the bottom/right to
    multiples of ``window``, rolled by ``-shift`` on both axes and cut into ``window x
    window`` windows in row-major order (as SW-MSA does). Returns int64 of shape
    ``(Hp * Wp,)``: entry ``w * M*M + i * M + j`` is the row of the unpadded map that lands
    at position ``(i, j)`` of window ``w``.
    """
    hp, wp = padded_size(height, window), padded_size(width, window)
    rows = (np.arange(hp) + shift) % hp  # padded row shown at each rolled row
    cols = (np.arange(wp) + shift) % wp
    source = np.where(
        (rows[:, None] < height) & (cols[None, :] < width),
        rows[:, None] * width + cols[None, :],
        -1,
    )  # (Hp, Wp)
    windows = source.reshape(hp // window, window, wp // window, window).transpose(0, 2, 1, 3)
    return windows.reshape(-1).astype("int64")


@lru_cache(maxsize=64)
def map_token_order(height: int, width: int, window: int, shift: int) -> np.ndarray:
    """The inverse of :func:`window_token_order`: for each map token (row-major), the window
    token that holds it. Returns int64 of shape ``(height * width,)``."""
    order = window_token_order(height, width, window, shift)
    inverse = np.empty(height * width, dtype=np.int64)
    held = order >= 0
    inverse[order[held]] = np.flatnonzero(held)
    return inverse
