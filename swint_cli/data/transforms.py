"""Per-sample transforms: uint8 HWC image in, float32 CHW tensor data out.

In order: resize to ``image_size`` (PIL bilinear; only when the image has another size;
non-square images are stretched), random crop from the zero-padded image (``random_crop``,
``crop_padding`` pixels per side, at the output size), horizontal flip with probability 1/2
(``horizontal_flip``), scaling to [0, 1], and per-channel ``(x - mean) / std`` (``normalize``).
Random choices come only from the generator passed in, never from global state.
:meth:`SampleTransform.pair` applies the same geometry to a segmentation mask (nearest-
neighbour resizing, the same crop, with background 0 in the padding, and the same flip).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..recipe.schema import Transforms


@dataclass(frozen=True)
class Normalization:
    """Per-channel RGB mean and std of pixels scaled to [0, 1]."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]


CIFAR10_NORMALIZATION = Normalization((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
IMAGENET_NORMALIZATION = Normalization((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
IDENTITY = Normalization((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # pixels stay in [0, 1]


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 [H, W, 3] -> uint8 [size, size, 3], bilinear; the same array when already so."""
    if image.shape[:2] == (size, size):
        return image
    resized = Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """uint8 [H, W] class indices -> [size, size], nearest neighbour."""
    if mask.shape[:2] == (size, size):
        return mask
    return np.asarray(Image.fromarray(mask).resize((size, size), Image.Resampling.NEAREST))


def random_crop(image: np.ndarray, padding: int, rng: np.random.Generator) -> np.ndarray:
    """Crop [H, W, C] at a random offset out of the image zero-padded by ``padding``."""
    height, width = image.shape[:2]
    padded = np.pad(image, ((padding, padding), (padding, padding), (0, 0)))
    top, left = rng.integers(0, 2 * padding + 1, size=2)
    return padded[top : top + height, left : left + width]


class SampleTransform:
    """``transform(image, rng)``: uint8 [H, W, 3] -> float32 [3, size, size].

    ``augment=False`` (validation) switches random crop and flip off; then ``rng`` may be None.
    """

    def __init__(
        self, size: int, settings: Transforms, normalization: Normalization, augment: bool
    ) -> None:
        self.size = size
        self.crop_padding = settings.crop_padding if augment and settings.random_crop else None
        self.flip = augment and settings.horizontal_flip
        stats = normalization if settings.normalize else IDENTITY
        self.normalization = stats  # what is applied (identity when not normalising)
        mean = np.asarray(stats.mean, dtype=np.float32).reshape(3, 1, 1)
        std = np.asarray(stats.std, dtype=np.float32).reshape(3, 1, 1)
        # (x / 255 - mean) / std as one multiply and one subtract on 0..255 values.
        self.scale, self.shift = 1 / (255 * std), mean / std

    @property
    def random(self) -> bool:
        """Whether the transform draws from ``rng``."""
        return self.crop_padding is not None or self.flip

    def _augment(self, image: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Random crop and flip of an [S, S, C] array (any C)."""
        if self.crop_padding is not None:
            image = random_crop(image, self.crop_padding, rng)
        if self.flip and rng.random() < 0.5:
            image = image[:, ::-1]
        return image

    def _to_chw(self, image: np.ndarray) -> np.ndarray:
        chw = image.transpose(2, 0, 1).astype(np.float32, order="C")  # [3, S, S]
        chw *= self.scale
        chw -= self.shift
        return chw

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        return self._to_chw(self._augment(resize(image, self.size), rng))  # [3, S, S]

    def pair(
        self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 [H, W, 3], uint8 [H, W]) -> (float32 [3, S, S], int64 [S, S] mask)."""
        stacked = np.concatenate(
            [resize(image, self.size), resize_mask(mask, self.size)[:, :, None]], axis=2
        )  # [S, S, 4]: one crop and flip for both
        stacked = self._augment(stacked, rng)
        return self._to_chw(stacked[:, :, :3]), stacked[:, :, 3].astype(np.int64)
