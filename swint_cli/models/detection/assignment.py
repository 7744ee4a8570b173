"""Which ground-truth box each location learns: FCOS's centre sampling and scale ranges.

A location (point ``p``, scale ``s``, its level's stride) may learn box ``g`` when all of:

- ``p`` lies inside ``g``;
- centre sampling: ``p`` is within ``radius * s`` of ``g``'s centre in both x and y;
- scale range: the largest of ``p``'s distances to ``g``'s four sides, ``m``, satisfies
  ``4 s < m < 8 s``; the finest level has no lower bound and the coarsest no upper one.

Of the boxes a location may learn it learns the smallest (by area); a location that may
learn none is background. This is torchvision's ``FCOS.compute_loss`` matching.
"""

from __future__ import annotations

import paddle

from .boxes import box_area

CENTER_SAMPLING_RADIUS = 1.5
SCALE_RANGE = (4.0, 8.0)  # in units of the level's stride


@paddle.no_grad()
def assign_boxes(
    points: paddle.Tensor,
    scales: paddle.Tensor,
    boxes: paddle.Tensor,
    classes: paddle.Tensor,
    radius: float = CENTER_SAMPLING_RADIUS,
) -> paddle.Tensor:
    """The box each location learns, per image: ``(B, N)`` int64 indices into the M boxes,
    -1 for background.

    ``points`` ``(N, 2)`` and ``scales`` ``(N,)`` are the locations of all levels; ``boxes``
    ``(B, M, 4)`` and ``classes`` ``(B, M)`` an image's boxes padded to M, where a class
    below 0 marks padding (never matched).
    """
    point = points.unsqueeze(0).unsqueeze(2)  # (1, N, 1, 2)
    box = boxes.unsqueeze(1)  # (B, 1, M, 4)
    sides = paddle.concat([point - box[..., :2], box[..., 2:] - point], axis=-1)  # (B, N, M, 4)
    centers = (box[..., :2] + box[..., 2:]) / 2
    scale = scales.reshape([1, -1, 1])  # (1, N, 1)
    near_center = (point - centers).abs().max(axis=-1) < radius * scale
    inside = sides.min(axis=-1) > 0
    lower = paddle.where(scales == scales.min(), paddle.zeros_like(scales), SCALE_RANGE[0] * scales)
    upper = paddle.where(
        scales == scales.max(), paddle.full_like(scales, float("inf")), SCALE_RANGE[1] * scales
    )
    reach = sides.max(axis=-1)  # (B, N, M)
    in_range = (reach > lower.reshape([1, -1, 1])) & (reach < upper.reshape([1, -1, 1]))
    real = (classes >= 0).unsqueeze(1)  # (B, 1, M)
    allowed = near_center & inside & in_range & real
    areas = box_area(boxes).unsqueeze(1).expand(allowed.shape)  # (B, N, M)
    # the smallest allowed box: argmin over areas, +inf where not allowed (torchvision's
    # "1e8 - area" argmax ties boxes within 8 px² of each other in float32)
    index = paddle.where(allowed, areas, paddle.full_like(areas, float("inf"))).argmin(axis=-1)
    return paddle.where(allowed.any(axis=-1), index, paddle.full_like(index, -1))
