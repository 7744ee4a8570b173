"""The embedded detection set ``detection_shapes``: filled shapes on plain canvases.

Each ``S x S`` canvas (``data.image_size``) has a random background colour, one to three
non-overlapping objects of five classes (circle, square, triangle, ring, cross: the filled
shapes of :mod:`.shapes`, drawn by its code with random rotation, then scaled so that their
longer side is ``S/5`` to ``S/2`` pixels), each in a random colour at least ~0.23 from the
background, and Gaussian noise. An object's box is the tight box around the pixels it covers
at least half. Canvas ``i`` of a split depends only on ``(seed, split, i)``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .canvas import generated_split, place
from .detection_set import DetectionSplit
from .shapes import CLASSES as SHAPE_CLASSES
from .shapes import PARAMS, SPLIT_IDS, colours, draw_coverage

CLASSES = SHAPE_CLASSES[:5]
MAX_OBJECTS = 3


def _scaled(coverage: np.ndarray, side: int) -> np.ndarray:
    """float32 [32, 32] coverage cut to the shape and resized (bilinear) so that its longer
    side is ``side`` pixels: [h, w] with max(h, w) = side."""
    rows, cols = np.nonzero(coverage > 0)
    shape = coverage[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = side / max(shape.shape)
    size = (max(1, round(shape.shape[1] * scale)), max(1, round(shape.shape[0] * scale)))
    image = Image.fromarray(shape, mode="F").resize(size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(image), 0.0, 1.0)


def _canvas(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One canvas: uint8 [S, S, 3], boxes (n, 4) and labels (n,)."""
    count = int(rng.integers(1, MAX_OBJECTS + 1))
    labels = rng.integers(0, len(CLASSES), count)
    params = rng.random((count, PARAMS))
    background = rng.random(3)
    params[:, 4:7] = background  # each object's colour is chosen away from the canvas's
    _, foreground = colours(params)
    sides = rng.integers(max(4, size // 5), max(5, size // 2) + 1, count)
    coverage = draw_coverage(labels, params)
    patches = [_scaled(coverage[i], int(side)) for i, side in enumerate(sides)]
    spots = place(rng, size, [(p.shape[1], p.shape[0]) for p in patches])
    canvas = np.broadcast_to(background, (size, size, 3)).astype(np.float32)
    boxes, kept = [], []
    for index, spot in enumerate(spots):
        if spot is None:
            continue
        x1, y1, x2, y2 = spot
        patch = patches[index][:, :, None]  # (h, w, 1)
        region = canvas[y1:y2, x1:x2]
        region[...] = region * (1 - patch) + foreground[index] * patch
        rows, cols = np.nonzero(patch[:, :, 0] >= 0.5)
        if len(rows):
            boxes.append(
                [x1 + cols.min(), y1 + rows.min(), x1 + cols.max() + 1, y1 + rows.max() + 1]
            )
            kept.append(labels[index])
    canvas += rng.standard_normal(canvas.shape).astype(np.float32) * rng.uniform(0.02, 0.08)
    image = (np.clip(canvas, 0, 1) * 255 + 0.5).astype(np.uint8)
    return image, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(kept, np.int64)


def generate_detection_shapes(count: int, seed: int, split: str, size: int) -> DetectionSplit:
    """``count`` canvases of ``split`` (``"train"`` or ``"val"``), ``size`` pixels square."""
    canvases = [
        _canvas(np.random.default_rng((seed, SPLIT_IDS[split], 2, i)), size) for i in range(count)
    ]
    return generated_split(canvases, size, f"shapes_{split}")
