"""A feature pyramid (Lin et al., 2017) as torchvision's ``FeaturePyramidNetwork`` with the
``LastLevelP6P7`` block FCOS uses: one map per backbone feature, all of ``channels``, plus
extra stride-2 levels computed from the coarsest output."""

from __future__ import annotations

import paddle
from paddle import nn
from paddle.nn import functional as F


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Conv2D:
    """A convolution initialised as torchvision's FPN: Kaiming uniform with a = 1, zero bias."""
    return nn.Conv2D(
        in_channels,
        out_channels,
        kernel,
        stride=stride,
        padding=kernel // 2,
        weight_attr=nn.initializer.KaimingUniform(negative_slope=1.0, nonlinearity="leaky_relu"),
        bias_attr=nn.initializer.Constant(0.0),
    )


class FeaturePyramid(nn.Layer):
    """Maps ``[(B, C_i, H_i, W_i)]``, finest first, to ``len(in_channels) + extra_levels``
    maps of ``channels``: a 1x1 lateral convolution per map, the top-down sum with the coarser
    level upsampled (nearest) to its size, a 3x3 output convolution; then each extra level a
    stride-2 3x3 convolution of the level before (ReLU between extra levels, as P7 from P6)."""

    def __init__(self, in_channels: list[int], channels: int, extra_levels: int = 2) -> None:
        super().__init__()
        self.lateral = nn.LayerList([_conv(c, channels, 1) for c in in_channels])
        self.output = nn.LayerList([_conv(channels, channels, 3) for _ in in_channels])
        self.extra = nn.LayerList([_conv(channels, channels, 3, 2) for _ in range(extra_levels)])

    def forward(self, maps: list[paddle.Tensor]) -> list[paddle.Tensor]:
        inner = self.lateral[-1](maps[-1])  # (B, channels, H_last, W_last)
        levels = [self.output[-1](inner)]
        for index in range(len(maps) - 2, -1, -1):
            lateral = self.lateral[index](maps[index])  # (B, channels, H_i, W_i)
            inner = lateral + F.interpolate(inner, size=lateral.shape[-2:], mode="nearest")
            levels.insert(0, self.output[index](inner))
        level = levels[-1]
        for number, conv in enumerate(self.extra):
            level = conv(level if number == 0 else F.relu(level))  # halves H and W
            levels.append(level)
        return levels
