"""FCOS: a backbone's feature maps, a feature pyramid and a shared head, one prediction per
location of every pyramid level (Tian et al., 2019; torchvision's ``fcos_resnet50_fpn``).

The detector is built for one square input size ``S``: the backbone is probed once to learn
its feature maps' channels and sizes, which fixes the pyramid and its locations. Location
``(i, j)`` of a level with ``H x W`` cells has point ``((j + 0.5) S / W, (i + 0.5) S / H)``
(the cell's centre) and scale ``S / W`` (the level's stride).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import paddle
from paddle import nn
from paddle.nn import functional as F

from ..errors import ModelError
from .boxes import decode
from .fcos_head import FCOSHead
from .feature_taps import FeatureTaps, evaluating
from .fpn import FeaturePyramid

# FCOS's sublayers: the first part of every name in its state dict
BACKBONE, PYRAMID, HEAD = "backbone", "pyramid", "head"


class DetectorOutputs(NamedTuple):
    """What :class:`FCOS` predicts for a batch of B images at its N locations."""

    class_logits: paddle.Tensor  # (B, N, K)
    box_codes: paddle.Tensor  # (B, N, 4), non-negative (boxes.encode's coding)
    centerness: paddle.Tensor  # (B, N) logits


@dataclass(frozen=True)
class Locations:
    """The N locations of a pyramid: points ``(N, 2)`` as ``(x, y)`` pixels, scales ``(N,)``
    and how many locations each level has (finest first)."""

    points: np.ndarray
    scales: np.ndarray
    level_sizes: tuple[tuple[int, int], ...]  # (H, W) per level

    @classmethod
    def of_levels(cls, image_size: int, level_sizes: list[tuple[int, int]]) -> Locations:
        points, scales = [], []
        for height, width in level_sizes:
            ys = (np.arange(height) + 0.5) * image_size / height
            xs = (np.arange(width) + 0.5) * image_size / width
            grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")  # row-major, as the head
            points.append(np.stack([grid_x.ravel(), grid_y.ravel()], axis=1))
            scales.append(np.full(height * width, image_size / width))
        return cls(
            np.concatenate(points).astype(np.float32),
            np.concatenate(scales).astype(np.float32),
            tuple(level_sizes),
        )

    @property
    def level_counts(self) -> list[int]:
        return [h * w for h, w in self.level_sizes]


def decode_outputs(
    outputs: tuple[paddle.Tensor, ...],
    points: paddle.Tensor,
    scales: paddle.Tensor,
    image_size: int,
) -> tuple[paddle.Tensor, paddle.Tensor]:
    """A detector's (class logits, box codes, centerness) at locations (``points``,
    ``scales``) -> (boxes ``[B, N, 4]`` clipped to the image, scores ``[B, N, K]`` =
    ``sqrt(sigmoid(class logit) * sigmoid(centerness))``)."""
    logits, codes, centerness = outputs
    boxes = decode(points, scales, codes).clip(0, image_size)
    scores = paddle.sqrt(F.sigmoid(logits) * F.sigmoid(centerness).unsqueeze(-1))
    return boxes, scores


def _check_maps(names: list[str], maps: list[object], image_size: int) -> None:
    """ModelError unless each map is ``[1, C, H, W]`` and each is smaller than the one before
    (the pyramid runs finest to coarsest)."""
    previous: tuple[int, int] | None = None
    for index, (name, found) in enumerate(zip(names, maps, strict=True)):
        where = f"model.features[{index}] ({name})"
        if not isinstance(found, paddle.Tensor) or len(found.shape) != 4:
            kind = list(found.shape) if isinstance(found, paddle.Tensor) else type(found).__name__
            raise ModelError(f"{where}: gives {kind}; the FPN takes [N, C, H, W] feature maps")
        size = (int(found.shape[2]), int(found.shape[3]))
        if previous is not None and not (size[0] < previous[0] and size[1] < previous[1]):
            raise ModelError(
                f"{where}: its map is {size[0]}x{size[1]} after {previous[0]}x{previous[1]}; "
                "the FPN takes maps from finest to coarsest, each smaller than the one before"
            )
        if size[0] > image_size or size[1] > image_size:
            raise ModelError(f"{where}: its map is larger than the {image_size}px input")
        previous = size


class FCOS(nn.Layer):
    """``backbone`` with its sublayers ``features`` feeding an FPN of ``channels`` (plus
    ``extra_levels`` stride-2 levels) and an :class:`~.fcos_head.FCOSHead` of ``head_depth``
    convolutions per tower, for ``image_size`` square inputs.

    ``forward(images [B, 3, S, S])`` returns :class:`DetectorOutputs` fields as a plain tuple
    (class logits, box codes, centerness logits) over :attr:`locations`. Backbone
    parameters that no feature map depends on (a classification head after the last one)
    take no gradient: they are listed in :attr:`unused`.
    """

    def __init__(
        self,
        backbone: nn.Layer,
        features: list[str],
        num_classes: int,
        image_size: int,
        channels: int = 256,
        extra_levels: int = 2,
        head_depth: int = 4,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.taps = FeatureTaps(backbone, features)
        with evaluating(backbone):  # one probe, with gradients: _freeze_unused follows them
            maps = self.taps(paddle.zeros([1, 3, image_size, image_size]))
        _check_maps(features, maps, image_size)
        self.pyramid = FeaturePyramid([int(m.shape[1]) for m in maps], channels, extra_levels)
        self.head = FCOSHead(channels, num_classes, head_depth)
        sizes = [(int(m.shape[2]), int(m.shape[3])) for m in maps]
        for _ in range(extra_levels):  # a stride-2 3x3 convolution with padding 1: ceil(n / 2)
            sizes.append((math.ceil(sizes[-1][0] / 2), math.ceil(sizes[-1][1] / 2)))
        self.locations = Locations.of_levels(image_size, sizes)
        self.num_classes, self.image_size = num_classes, image_size
        self.unused = self._freeze_unused(maps)

    def _freeze_unused(self, maps: list[paddle.Tensor]) -> list[str]:
        """Names of backbone parameters none of the probe's ``maps`` depends on, set to take
        no gradient."""
        total = paddle.add_n([m.sum() for m in maps])
        trainable = [p for p in self.backbone.parameters() if not p.stop_gradient]
        reached = paddle.grad(total, trainable, allow_unused=True)
        names = {id(p): name for name, p in self.backbone.named_parameters()}
        unused = []
        for parameter, gradient in zip(trainable, reached, strict=True):
            if gradient is None:
                parameter.stop_gradient = True
                unused.append(names[id(parameter)])
        return unused

    def forward(self, images: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor, paddle.Tensor]:
        levels = self.pyramid(self.taps(images))  # [(B, channels, H_l, W_l)]
        return self.head(levels)


class DecodedFCOS(nn.Layer):
    """An FCOS for inference: ``images [B, 3, S, S]`` -> (boxes ``[B, N, 4]`` as
    ``(x1, y1, x2, y2)`` input pixels, clipped to the image; scores ``[B, N, K]`` =
    ``sqrt(sigmoid(class logit) * sigmoid(centerness))``), before any threshold or NMS
    (:func:`~.postprocess.select_detections` does those)."""

    def __init__(self, detector: FCOS) -> None:
        super().__init__()
        self.detector = detector
        locations = detector.locations
        self.register_buffer("points", paddle.to_tensor(locations.points), persistable=False)
        self.register_buffer("scales", paddle.to_tensor(locations.scales), persistable=False)

    def forward(self, images: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
        outputs = self.detector(images)
        return decode_outputs(outputs, self.points, self.scales, self.detector.image_size)
