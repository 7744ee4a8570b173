"""Detection transforms: the boxes move with the pixels.

In order: a random crop (``random_crop``; each side a uniform fraction in
[:data:`MIN_CROP`, 1] of the image's, at a uniform offset) whose boxes are clipped to it and
dropped when less than :data:`MIN_SIDE` pixels wide or high remain; the resize to
``image_size`` (boxes scaled with it); a horizontal flip with probability 1/2
(``horizontal_flip``); then the pixels as :class:`~.transforms.SampleTransform` prepares them.
"""

from __future__ import annotations

import numpy as np

from .transforms import SampleTransform, resize

MIN_CROP = 0.6
MIN_SIDE = 2.0  # pixels a clipped box keeps in both directions, or it is dropped


def crop_with_boxes(
    image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random crop of ``image`` [H, W, 3] and its boxes ``(n, 4)`` (clipped, in the crop's
    pixels; those left thinner than :data:`MIN_SIDE` dropped with their labels)."""
    height, width = image.shape[:2]
    crop_h = max(1, round(height * rng.uniform(MIN_CROP, 1.0)))
    crop_w = max(1, round(width * rng.uniform(MIN_CROP, 1.0)))
    top = int(rng.integers(0, height - crop_h + 1))
    left = int(rng.integers(0, width - crop_w + 1))
    shifted = boxes - np.array([left, top, left, top], np.float32)
    clipped = np.clip(shifted, 0, np.array([crop_w, crop_h, crop_w, crop_h], np.float32))
    keep = (clipped[:, 2] - clipped[:, 0] >= MIN_SIDE) & (clipped[:, 3] - clipped[:, 1] >= MIN_SIDE)
    return image[top : top + crop_h, left : left + crop_w], clipped[keep], labels[keep]


def flip_boxes(boxes: np.ndarray, width: float) -> np.ndarray:
    """Boxes of an image of ``width`` mirrored left to right."""
    flipped = boxes.copy()
    flipped[:, 0], flipped[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
    return flipped


class DetectionTransform(SampleTransform):
    """``transform.detection(image, boxes, labels, rng)``: uint8 [H, W, 3] with boxes in
    its pixels -> (float32 [3, S, S], boxes in the S x S image's pixels, labels)."""

    def detection(
        self,
        image: np.ndarray,
        boxes: np.ndarray,
        labels: np.ndarray,
        rng: np.random.Generator | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.crop_padding is not None:  # random_crop on: a box-aware crop, no padding
            image, boxes, labels = crop_with_boxes(image, boxes, labels, rng)
        height, width = image.shape[:2]
        size = self.size
        boxes = boxes * np.array([size / width, size / height] * 2, np.float32)
        image = resize(image, size)
        if self.flip and rng.random() < 0.5:
            image, boxes = image[:, ::-1], flip_boxes(boxes, size)
        return self._to_chw(image), boxes.astype(np.float32), labels
