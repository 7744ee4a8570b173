"""Two 3x3 convolutions, each followed by BatchNorm and ReLU: the block of SmallCNN and U-Net."""

from __future__ import annotations

import paddle
from paddle import nn


class ConvPair(nn.Layer):
    """``conv1`` (stride 1, or 2 to halve the map) and ``conv2``, 3x3 with padding 1 and no
    bias, each followed by BatchNorm2D and ReLU: ``[N, C_in, H, W]`` -> ``[N, C_out, H/s, W/s]``.
    Sublayers ``conv1``, ``bn1``, ``conv2``, ``bn2`` are the slots and state-dict names."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2D(
            in_channels, out_channels, 3, stride=stride, padding=1, bias_attr=False
        )
        self.bn1 = nn.BatchNorm2D(out_channels)
        self.conv2 = nn.Conv2D(out_channels, out_channels, 3, padding=1, bias_attr=False)
        self.bn2 = nn.BatchNorm2D(out_channels)
        self.relu = nn.ReLU()

    def convolve(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (N, C_out, H/s, W/s)
        return self.relu(self.bn2(self.conv2(x)))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.convolve(x)
