"""Laying objects out on a canvas for the generated detection sets: where each goes, without
overlap, and what a canvas's split entry is."""

from __future__ import annotations

import numpy as np

from .detection_set import DetectionSplit, no_boxes

ATTEMPTS = 30  # random positions tried per object before it is left out
DEFAULT_SIZES = {"train": 2000, "val": 400}  # canvases per split unless data.*_size says


Box = tuple[int, int, int, int]


def place(rng: np.random.Generator, canvas: int, sizes: list[tuple[int, int]]) -> list[Box | None]:
    """Boxes ``(x1, y1, x2, y2)`` for objects of ``sizes`` (width, height) at uniform random
    positions on a ``canvas`` square, none overlapping another, one per object in order; None
    for an object that finds no free place in :data:`ATTEMPTS` tries (it is left out)."""
    placed: list[Box] = []
    spots: list[Box | None] = []
    for width, height in sizes:
        spots.append(None)
        for _ in range(ATTEMPTS):
            x = int(rng.integers(0, canvas - width + 1))
            y = int(rng.integers(0, canvas - height + 1))
            box = (x, y, x + width, y + height)
            if all(
                box[2] <= b[0] or b[2] <= box[0] or box[3] <= b[1] or b[3] <= box[1] for b in placed
            ):
                placed.append(box)
                spots[-1] = box
                break
    return spots


Canvas = tuple[np.ndarray, np.ndarray, np.ndarray]  # uint8 [S, S, 3], boxes (n, 4), labels (n,)


def generated_split(canvases: list[Canvas], size: int, prefix: str) -> DetectionSplit:
    """A split of generated ``size``-pixel ``canvases``: image ids 1..N, file names
    ``{prefix}_{i:06d}``, no crowd boxes."""
    count = len(canvases)
    images = (
        np.stack([c[0] for c in canvases]) if canvases else np.zeros((0, size, size, 3), np.uint8)
    )
    empty_boxes, empty_labels = no_boxes()
    return DetectionSplit(
        images=images,
        boxes=[c[1] for c in canvases],
        labels=[c[2] for c in canvases],
        crowd_boxes=[empty_boxes] * count,
        crowd_labels=[empty_labels] * count,
        image_ids=list(range(1, count + 1)),
        file_names=[f"{prefix}_{i:06d}" for i in range(count)],
        sizes=[(size, size)] * count,
    )
