"""SmallCNN: a plain convolutional network for 32x32 images with named Conv2D slots."""

from __future__ import annotations

import paddle
from paddle import nn

from .conv_pair import ConvPair


class SmallCNN(nn.Layer):
    """Seven 3x3 convolutions, global average pooling and an ``fc`` head (~1.2M parameters).

    Every stage halves the size, so a 32x32 image costs about 0.04 GMACs. Slots at a 32x32
    input: ``stem`` 3->32 (32x32), ``stage1.conv1`` 32->64 stride 2 (32x32 -> 16x16),
    ``stage1.conv2`` 64->64 (16x16), ``stage2.conv1`` 64->128 stride 2 (16x16 -> 8x8),
    ``stage2.conv2`` 128->128 (8x8), ``stage3.conv1`` 128->256 stride 2 (8x8 -> 4x4),
    ``stage3.conv2`` 256->256 (4x4). The head is the ``fc`` attribute, as in ResNet, so it is
    swapped the same way; its input width is ``num_features``.
    """

    num_features = 256

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Conv2D(3, 32, 3, padding=1, bias_attr=False)
        self.stem_bn = nn.BatchNorm2D(32)
        self.relu = nn.ReLU()
        self.stage1 = ConvPair(32, 64, stride=2)
        self.stage2 = ConvPair(64, 128, stride=2)
        self.stage3 = ConvPair(128, self.num_features, stride=2)
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.fc = nn.Linear(self.num_features, num_classes)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.relu(self.stem_bn(self.stem(x)))  # (N, 32, H, W)
        x = self.stage1(x)  # (N, 64, H/2, W/2)
        x = self.stage2(x)  # (N, 128, H/4, W/4)
        x = self.stage3(x)  # (N, 256, H/8, W/8)
        x = self.pool(x).flatten(1)  # (N, 256)
        return self.fc(x)  # (N, num_classes)
