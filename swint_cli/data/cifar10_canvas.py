"""``cifar10_canvas``: real photos on canvases, a 10-class detection set from CIFAR-10.

Each ``S x S`` canvas (``data.image_size``) is tiled with ``S/8``-pixel squares cut at
random from random images of the split (textures of real photos, too small a piece to show
a whole object), then one to four images of the split are pasted on it at random scales
(sides ``S/6`` to ``S/2.5``, aspect ratio 0.8 to 1.25, bilinear), none overlapping another.
Each pasted image is an object of its CIFAR-10 class, its box the pasted rectangle. Train
canvases use the training images, validation canvases the test images. Canvas ``i`` of a
split depends only on ``(seed, split, i)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .canvas import generated_split, place
from .cifar10 import read_cifar10
from .detection_set import DetectionSplit
from .shapes import SPLIT_IDS

MAX_OBJECTS = 4
TILES = 8  # per side of the canvas


def _resized(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))


def _background(rng: np.random.Generator, photos: np.ndarray, size: int) -> np.ndarray:
    tile = -(-size // TILES)
    piece = min(tile, photos.shape[1])  # cut at most a whole photo, scaled up to the tile
    canvas = np.empty((tile * TILES, tile * TILES, 3), np.uint8)
    for row in range(TILES):
        for col in range(TILES):
            photo = photos[int(rng.integers(len(photos)))]
            top, left = rng.integers(0, photo.shape[0] - piece + 1, 2)
            cut = _resized(photo[top : top + piece, left : left + piece], tile, tile)
            canvas[row * tile : (row + 1) * tile, col * tile : (col + 1) * tile] = cut
    return canvas[:size, :size]


def _canvas(
    rng: np.random.Generator, photos: np.ndarray, classes: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    canvas = _background(rng, photos, size)
    count = int(rng.integers(1, MAX_OBJECTS + 1))
    chosen = rng.integers(0, len(photos), count)
    sides = rng.uniform(size / 6, size / 2.5, count)
    aspects = np.exp(rng.uniform(np.log(0.8), np.log(1.25), count))
    shapes = [
        (max(2, round(s * a**0.5)), max(2, round(s / a**0.5)))
        for s, a in zip(sides, aspects, strict=True)
    ]
    spots = place(rng, size, shapes)
    placed = [index for index, spot in enumerate(spots) if spot is not None]
    for index in placed:
        x1, y1, x2, y2 = spots[index]
        canvas[y1:y2, x1:x2] = _resized(photos[chosen[index]], x2 - x1, y2 - y1)
    boxes = np.asarray([spots[index] for index in placed], np.float32).reshape(-1, 4)
    return canvas, boxes, classes[chosen[placed]].astype(np.int64)


def generate_cifar10_canvas(
    path: str | Path | None, count: int, seed: int, split: str, size: int
) -> tuple[DetectionSplit, list[str]]:
    """``count`` canvases of ``split`` from the CIFAR-10 tarball at ``path``, and the class
    names."""
    train, val, names = read_cifar10(path)
    photos, classes = train if split == "train" else val
    canvases = [
        _canvas(np.random.default_rng((seed, SPLIT_IDS[split], 3, i)), photos, classes, size)
        for i in range(count)
    ]
    return generated_split(canvases, size, f"canvas_{split}"), list(names)
