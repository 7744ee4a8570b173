"""Boxes as ``(x1, y1, x2, y2)`` in pixels: areas, GIoU, and FCOS's box coding.

A location is a point ``(x, y)`` with a scale ``s`` (its level's stride). Its box coding
(torchvision's ``BoxLinearCoder(normalize_by_size=True)``) is the distances from the point to
the box's four sides, divided by ``s``: ``(x - x1, y - y1, x2 - x, y2 - y) / s``.
"""

from __future__ import annotations

import paddle

EPS = 1e-7  # keeps IoU and GIoU defined for empty boxes (torchvision's giou loss uses the same)


def box_area(boxes: paddle.Tensor) -> paddle.Tensor:
    """``(..., 4)`` -> ``(...)``: width x height (0 for an inverted box)."""
    width = (boxes[..., 2] - boxes[..., 0]).clip(min=0)
    height = (boxes[..., 3] - boxes[..., 1]).clip(min=0)
    return width * height


def generalized_iou(a: paddle.Tensor, b: paddle.Tensor) -> paddle.Tensor:
    """Element-wise GIoU of ``(..., 4)`` box pairs: ``IoU - (C - U) / C``, with ``C`` the area
    of the smallest box enclosing both and ``U`` their union (Rezatofighi et al., 2019)."""
    top_left = paddle.maximum(a[..., :2], b[..., :2])
    bottom_right = paddle.minimum(a[..., 2:], b[..., 2:])
    overlap = (bottom_right - top_left).clip(min=0)
    intersection = overlap[..., 0] * overlap[..., 1]
    union = box_area(a) + box_area(b) - intersection
    iou = intersection / (union + EPS)
    outer = paddle.maximum(a[..., 2:], b[..., 2:]) - paddle.minimum(a[..., :2], b[..., :2])
    enclosing = outer[..., 0] * outer[..., 1]
    return iou - (enclosing - union) / (enclosing + EPS)


def encode(points: paddle.Tensor, scales: paddle.Tensor, boxes: paddle.Tensor) -> paddle.Tensor:
    """Boxes ``(..., N, 4)`` relative to locations (points ``(N, 2)``, scales ``(N,)``):
    ``(x - x1, y - y1, x2 - x, y2 - y) / s`` per location."""
    near = points - boxes[..., :2]  # (..., N, 2): left, top
    far = boxes[..., 2:] - points  # right, bottom
    return paddle.concat([near, far], axis=-1) / scales.unsqueeze(-1)


def decode(points: paddle.Tensor, scales: paddle.Tensor, codes: paddle.Tensor) -> paddle.Tensor:
    """The inverse of :func:`encode`: codes ``(..., N, 4)`` back to boxes ``(..., N, 4)``."""
    distances = codes * scales.unsqueeze(-1)
    return paddle.concat([points - distances[..., :2], points + distances[..., 2:]], axis=-1)
