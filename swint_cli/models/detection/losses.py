"""FCOS's training loss, as torchvision's ``FCOSHead.compute_loss``: over the locations
:func:`~.assignment.assign_boxes` gives a box, the sum of

- sigmoid focal loss (alpha 0.25, gamma 2) of the class logits against one-hot targets (all
  locations; background ones have all-zero targets),
- GIoU loss ``1 - GIoU`` of the decoded boxes against their boxes (foreground only),
- binary cross-entropy of the centerness logits against ``sqrt(min(l, r) / max(l, r) *
  min(t, b) / max(t, b))`` of the location's distances to its box (foreground only),

each divided by the number of foreground locations (at least 1).
"""

from __future__ import annotations

from typing import NamedTuple

import paddle
from paddle.nn import functional as F

from .assignment import CENTER_SAMPLING_RADIUS, assign_boxes
from .boxes import decode, encode, generalized_iou
from .fcos import DetectorOutputs, Locations

FOCAL_ALPHA, FOCAL_GAMMA = 0.25, 2.0


class LossParts(NamedTuple):
    classification: paddle.Tensor
    box: paddle.Tensor
    centerness: paddle.Tensor


def centerness_targets(distances: paddle.Tensor) -> paddle.Tensor:
    """``(..., 4)`` distances ``(l, t, r, b)`` (all positive) -> ``(...)`` centerness."""
    left_right, top_bottom = distances[..., 0::2], distances[..., 1::2]
    ratio_x = left_right.min(axis=-1) / left_right.max(axis=-1)
    ratio_y = top_bottom.min(axis=-1) / top_bottom.max(axis=-1)
    return paddle.sqrt(ratio_x * ratio_y)


def _gather(values: paddle.Tensor, index: paddle.Tensor) -> paddle.Tensor:
    """``values (B, M, ...)`` at ``index (B, N)`` along M -> ``(B, N, ...)``."""
    shape = [*index.shape, *values.shape[2:]]
    expanded = index.reshape([*index.shape, *[1] * (len(values.shape) - 2)]).expand(shape)
    return paddle.take_along_axis(values, expanded, axis=1)


class FCOSLoss:
    """``loss(outputs, boxes, classes)`` for a detector with ``locations``; ``boxes``
    ``(B, M, 4)`` and ``classes`` ``(B, M)`` (int64, -1 for padding) are each image's boxes."""

    def __init__(
        self, locations: Locations, num_classes: int, radius: float = CENTER_SAMPLING_RADIUS
    ) -> None:
        self.points = paddle.to_tensor(locations.points)
        self.scales = paddle.to_tensor(locations.scales)
        self.num_classes, self.radius = num_classes, radius

    def parts(
        self, outputs: DetectorOutputs, boxes: paddle.Tensor, classes: paddle.Tensor
    ) -> LossParts:
        logits, codes, centerness = (o.astype("float32") for o in outputs)
        matched = assign_boxes(self.points, self.scales, boxes, classes, self.radius)  # (B, N)
        foreground = matched >= 0
        mask = foreground.astype("float32")
        count = mask.sum().clip(min=1.0)
        index = matched.clip(min=0)
        target_classes = _gather(classes, index).clip(min=0)  # (B, N)
        one_hot = F.one_hot(target_classes, self.num_classes) * mask.unsqueeze(-1)  # (B, N, K)
        focal = F.sigmoid_focal_loss(
            logits, one_hot, alpha=FOCAL_ALPHA, gamma=FOCAL_GAMMA, reduction="sum"
        )
        # background locations get a stand-in box around their point, so that every term is
        # finite before the mask removes it
        points, scales = self.points, self.scales.unsqueeze(-1)
        stand_in = paddle.concat([points - scales, points + scales], axis=-1)  # (N, 4)
        targets = paddle.where(
            foreground.unsqueeze(-1), _gather(boxes, index), stand_in.unsqueeze(0)
        )  # (B, N, 4)
        predicted = decode(self.points, self.scales, codes)
        giou = ((1 - generalized_iou(predicted, targets)) * mask).sum()
        truth = centerness_targets(encode(self.points, self.scales, targets))
        bce = F.binary_cross_entropy_with_logits(centerness, truth, reduction="none")
        return LossParts(focal / count, giou / count, (bce * mask).sum() / count)

    def __call__(
        self, outputs: DetectorOutputs, boxes: paddle.Tensor, classes: paddle.Tensor
    ) -> paddle.Tensor:
        parts = self.parts(outputs, boxes, classes)
        return parts.classification + parts.box + parts.centerness
