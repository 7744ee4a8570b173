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
