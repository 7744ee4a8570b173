"""FCOS's head, shared by every pyramid level: a classification tower and a regression tower
of 3x3 convolutions with GroupNorm and ReLU, then class logits from the first and box codes
(through ReLU) and centerness from the second (torchvision's ``FCOSHead``)."""

from __future__ import annotations

import math

import paddle
from paddle import nn
from paddle.nn import functional as F

from ...nn.group_norm import GroupNorm

PRIOR = 0.01  # the class logits start at sigmoid^-1(0.01): focal loss's prior probability
GROUPS = 32


def _conv(in_channels: int, out_channels: int, bias: float = 0.0) -> nn.Conv2D:
    """A 3x3 convolution initialised as torchvision's FCOS head: N(0, 0.01), constant bias."""
    return nn.Conv2D(
        in_channels,
        out_channels,
        3,
        padding=1,
        weight_attr=nn.initializer.Normal(std=0.01),
        bias_attr=nn.initializer.Constant(bias),
    )


def _tower(channels: int, depth: int) -> nn.Sequential:
    layers: list[nn.Layer] = []
    for _ in range(depth):  # GroupNorm of 32 groups, or as many as divide the channels
        layers += [_conv(channels, channels), GroupNorm(math.gcd(GROUPS, channels), channels)]
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _flat(level: paddle.Tensor) -> paddle.Tensor:
    """``(B, K, H, W)`` -> ``(B, H*W, K)``, locations in row-major order."""
    return level.flatten(2).transpose([0, 2, 1])


class FCOSHead(nn.Layer):
    """Pyramid levels ``[(B, C, H_l, W_l)]`` -> (class logits ``(B, N, K)``, box codes
    ``(B, N, 4)`` (non-negative), centerness logits ``(B, N)``) for the ``N = sum H_l W_l``
    locations, level by level, each level row-major."""

    def __init__(self, channels: int, num_classes: int, depth: int = 4) -> None:
        super().__init__()
        self.classification_tower = _tower(channels, depth)
        self.class_logits = _conv(channels, num_classes, -math.log((1 - PRIOR) / PRIOR))
        self.regression_tower = _tower(channels, depth)
        self.box_codes = _conv(channels, 4)
        self.centerness = _conv(channels, 1)

    def forward(
        self, levels: list[paddle.Tensor]
    ) -> tuple[paddle.Tensor, paddle.Tensor, paddle.Tensor]:
        logits, codes, centerness = [], [], []
        for level in levels:
            classified = self.classification_tower(level)
            regressed = self.regression_tower(level)
            logits.append(_flat(self.class_logits(classified)))
            codes.append(_flat(F.relu(self.box_codes(regressed))))
            centerness.append(_flat(self.centerness(regressed)))
        return (
            paddle.concat(logits, axis=1),  # (B, N, K)
            paddle.concat(codes, axis=1),  # (B, N, 4)
            paddle.concat(centerness, axis=1).squeeze(-1),  # (B, N)
        )
