"""The embedded default data set ``shapes``: ten classes of drawn shapes and textures.

Five classes are filled shapes (circle, square, triangle, ring, cross; random rotation) and
five are textures in a square patch (horizontal, vertical and diagonal stripes, checkerboard,
dots; random period and phase). Every image has a random position and size, random background
and foreground colours (at least a minimum colour distance apart, so colour tells nothing about
the class) and Gaussian noise of random strength. Edges are anti-aliased.

Image ``i`` of a split depends only on ``(seed, split, i)``: parameters and noise come from
one NumPy stream each per ``(seed, split)``, filled row by row, so the first ``n`` images are
the same whatever the requested count. Labels are ``i % 10``: classes are balanced.

The segmentation variant (:func:`generate_segmentation_shapes`) draws the same images and
gives each pixel a class: 0 for background, ``1 + label`` where the shape or texture covers
at least half of the pixel.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

CLASSES = (
    "circle",
    "square",
    "triangle",
    "ring",
    "cross",
    "horizontal_stripes",
    "vertical_stripes",
    "diagonal_stripes",
    "checkerboard",
    "dots",
)
SEGMENTATION_CLASSES = ("background", *CLASSES)
NATIVE_SIZE = 32
DEFAULT_SIZES = {"train": 5000, "val": 1000}
# Per-channel pixel mean and std (in [0, 1]), rounded from 20,000 images: 0.499-0.502, 0.293-0.296.
MEAN = (0.5, 0.5, 0.5)
STD = (0.295, 0.295, 0.295)

SPLIT_IDS = {"train": 0, "val": 1}  # the split in every generated set's seeds
# Uniform draws per image. Columns: 0 size, 1-2 centre, 3 angle, 4-6 background, 7-9 colour
# step, 10 noise strength, 11 period, 12-13 phases, 14 diagonal direction.
PARAMS = 15

_Array = np.ndarray


def _band(coordinate: _Array, period: _Array, phase: _Array) -> _Array:
    """Signed distance (px, > 0 inside) to stripes of half duty along ``coordinate``."""
    offset = np.abs((coordinate / period + phase) % 1.0 - 0.5) * period
    return period / 4 - offset


def _coverage(distance: _Array) -> _Array:
    """Anti-aliased fill from a signed distance in pixels: 1 inside, 0 outside."""
    return np.clip(distance + 0.5, 0.0, 1.0)


class _Geometry:
    """Per-image coordinates of a group of images; all arrays broadcast to [n, 32, 32]."""

    def __init__(self, params: _Array) -> None:
        p = params[:, :, None, None].astype(np.float32)  # [n, PARAMS, 1, 1]
        self.radius = 6.0 + 6.0 * p[:, 0]
        margin = 0.8 * self.radius
        centre_x = margin + p[:, 1] * (NATIVE_SIZE - 2 * margin)
        centre_y = margin + p[:, 2] * (NATIVE_SIZE - 2 * margin)
        grid = np.arange(NATIVE_SIZE, dtype=np.float32) + 0.5
        self.x = grid[None, None, :] - centre_x  # [n, 1, 32]
        self.y = grid[None, :, None] - centre_y  # [n, 32, 1]
        angle = 2 * np.pi * p[:, 3]
        cos, sin = np.cos(angle), np.sin(angle)
        self.u = cos * self.x + sin * self.y  # rotated frame, [n, 32, 32]
        self.v = cos * self.y - sin * self.x
        self.period = 4.0 + 4.0 * p[:, 11]
        self.phase_a, self.phase_b = p[:, 12], p[:, 13]
        self.sign = np.where(p[:, 14] < 0.5, -1.0, 1.0).astype(np.float32)

    def patch(self, texture: _Array) -> _Array:
        """``texture`` (coverage in [0, 1]) inside the axis-aligned square of half side r."""
        inside = self.radius - np.maximum(np.abs(self.x), np.abs(self.y))
        return _coverage(inside) * texture


def _circle(g: _Geometry) -> _Array:
    return _coverage(g.radius - np.hypot(g.u, g.v))


def _square(g: _Geometry) -> _Array:
    return _coverage(0.85 * g.radius - np.maximum(np.abs(g.u), np.abs(g.v)))


def _triangle(g: _Geometry) -> _Array:
    normals = np.pi / 2 + 2 * np.pi / 3 * np.arange(3, dtype=np.float32)
    edges = [g.u * np.cos(a) + g.v * np.sin(a) for a in normals]
    return _coverage(0.6 * g.radius - np.maximum.reduce(edges))  # inradius 0.6 r


def _ring(g: _Geometry) -> _Array:
    distance = np.hypot(g.u, g.v)
    return _coverage(np.minimum(distance - 0.55 * g.radius, g.radius - distance))


def _cross(g: _Geometry) -> _Array:
    half_width, u, v = 0.28 * g.radius, np.abs(g.u), np.abs(g.v)
    bar_u = np.minimum(half_width - v, g.radius - u)
    bar_v = np.minimum(half_width - u, g.radius - v)
    return _coverage(np.maximum(bar_u, bar_v))


def _horizontal(g: _Geometry) -> _Array:
    return g.patch(_coverage(_band(g.y, g.period, g.phase_a)))


def _vertical(g: _Geometry) -> _Array:
    return g.patch(_coverage(_band(g.x, g.period, g.phase_a)))


def _diagonal(g: _Geometry) -> _Array:
    along = (g.x + g.sign * g.y) / np.sqrt(2.0)
    return g.patch(_coverage(_band(along, g.period, g.phase_a)))


def _checkerboard(g: _Geometry) -> _Array:
    cols = _coverage(_band(g.x, g.period, g.phase_a))
    rows = _coverage(_band(g.y, g.period, g.phase_b))
    return g.patch(cols * (1 - rows) + rows * (1 - cols))


def _dots(g: _Geometry) -> _Array:
    dx = ((g.x / g.period + g.phase_a) % 1.0 - 0.5) * g.period
    dy = ((g.y / g.period + g.phase_b) % 1.0 - 0.5) * g.period
    return g.patch(_coverage(0.3 * g.period - np.hypot(dx, dy)))


_DRAW: tuple[Callable[[_Geometry], _Array], ...] = (
    _circle,
    _square,
    _triangle,
    _ring,
    _cross,
    _horizontal,
    _vertical,
    _diagonal,
    _checkerboard,
    _dots,
)


def colours(params: _Array) -> tuple[_Array, _Array]:
    """Background and foreground RGB in [0, 1], each [n, 3], at least ~0.23 apart; the
    background is ``params[:, 4:7]``."""
    background = params[:, 4:7]
    z = 2 * params[:, 7] - 1
    azimuth = 2 * np.pi * params[:, 8]
    ring = np.sqrt(1 - z**2)
    direction = np.stack([ring * np.cos(azimuth), ring * np.sin(azimuth), z], axis=1)
    step = (0.4 + 0.5 * params[:, 9])[:, None] * direction
    plus, minus = np.clip(background + step, 0, 1), np.clip(background - step, 0, 1)
    farther = np.linalg.norm(plus - background, axis=1) >= np.linalg.norm(
        minus - background, axis=1
    )
    return background, np.where(farther[:, None], plus, minus)


def draw_coverage(labels: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Coverage float32 [n, 32, 32] in [0, 1] of the classes ``labels`` [n], each drawn from
    its row of uniform draws ``params`` [n, PARAMS] (size, centre, angle, period, ...)."""
    coverage = np.empty((len(labels), NATIVE_SIZE, NATIVE_SIZE), dtype=np.float32)
    for label, draw in enumerate(_DRAW):
        rows = labels == label
        coverage[rows] = draw(_Geometry(params[rows]))
    return coverage


def _render(count: int, seed: int, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images uint8 [count, 32, 32, 3], coverage float32 [count, 32, 32] and labels."""
    split_id = SPLIT_IDS[split]
    params = np.random.default_rng((seed, split_id, 0)).random((count, PARAMS))
    noise = np.random.default_rng((seed, split_id, 1)).standard_normal(
        (count, NATIVE_SIZE, NATIVE_SIZE, 3), dtype=np.float32
    )
    labels = np.arange(count, dtype=np.int64) % len(CLASSES)
    coverage = draw_coverage(labels, params)[..., None]  # [count, 32, 32, 1]
    background, foreground = (c.astype(np.float32)[:, None, None, :] for c in colours(params))
    sigma = (0.02 + 0.1 * params[:, 10]).astype(np.float32)[:, None, None, None]
    # In place: each full-size temporary costs as much as the drawing itself.
    image = np.multiply(coverage, foreground - background)  # [count, 32, 32, 3]
    image += background
    noise *= sigma
    image += noise
    np.clip(image, 0, 1, out=image)
    image *= 255
    image += 0.5
    return image.astype(np.uint8), coverage[..., 0], labels


def generate_shapes(count: int, seed: int, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``count`` images of ``split`` (``"train"`` or ``"val"``).

    Returns images uint8 [count, 32, 32, 3] (RGB, HWC) and labels int64 [count] indexing
    :data:`CLASSES`. Image ``i`` depends only on ``(seed, split, i)``.
    """
    images, _, labels = _render(count, seed, split)
    return images, labels


def generate_segmentation_shapes(
    count: int, seed: int, split: str
) -> tuple[np.ndarray, np.ndarray]:
    """The images of :func:`generate_shapes` and their masks.

    Returns images uint8 [count, 32, 32, 3] and masks uint8 [count, 32, 32] indexing
    :data:`SEGMENTATION_CLASSES` (0 background, ``1 + label`` on the drawn shape).
    """
    images, coverage, labels = _render(count, seed, split)
    masks = np.where(coverage >= 0.5, labels[:, None, None] + 1, 0).astype(np.uint8)
    return images, masks
