"""A plain U-Net for segmentation, whose convolutions recipes can turn into SwinT.

``[N, 3, H, W]`` images -> ``[N, num_classes, H, W]`` per-pixel logits, for H and W
multiples of ``2 ** depth``. Sublayer paths (the slots recipes name):

- ``stem.conv1``, ``stem.conv2``: 3x3 convolutions at full resolution (3 -> w -> w);
- ``down{i}.conv1``, ``down{i}.conv2`` (i = 1..depth): 2x2 max pool, then two 3x3
  convolutions doubling the width;
- ``up{i}.up``: a 2x2 stride-2 transposed convolution halving the width (SwinT with
  ``upsample=True`` replaces it: Swin-Unet's patch expanding), then ``up{i}.conv1``
  (on the upsampled map concatenated with the encoder's skip, 2w -> w) and ``up{i}.conv2``;
- ``head``: 1x1 convolution to the classes.

Every 3x3 convolution is followed by BatchNorm and ReLU.
"""

from __future__ import annotations

import paddle
from paddle import nn

from .conv_pair import ConvPair


class Down(ConvPair):
    """2x2 max pool, then :class:`ConvPair`: halves H and W."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels)
        self.pool = nn.MaxPool2D(2)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.convolve(self.pool(x))  # not super(): Paddle 2.6's to_static refuses it


class Up(ConvPair):
    """Transposed 2x2 stride-2 convolution (``in -> in/2``), skip concatenation, ConvPair."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels)
        self.up = nn.Conv2DTranspose(in_channels, in_channels // 2, 2, stride=2)

    def forward(self, x: paddle.Tensor, skip: paddle.Tensor) -> paddle.Tensor:
        x = self.up(x)  # (N, C/2, 2H, 2W)
        return self.convolve(paddle.concat([skip, x], axis=1))  # (N, C, 2H, 2W) in


class UNet(nn.Layer):
    """U-Net of ``depth`` poolings, widths ``width * 2**i``, ``num_classes`` output maps."""

    def __init__(self, num_classes: int, width: int = 16, depth: int = 3) -> None:
        super().__init__()
        self.depth = depth
        self.stem = ConvPair(3, width)
        widths = [width * 2**i for i in range(depth + 1)]
        for i in range(1, depth + 1):
            setattr(self, f"down{i}", Down(widths[i - 1], widths[i]))
        for i in range(depth, 0, -1):
            setattr(self, f"up{i}", Up(widths[i], widths[i - 1]))
        self.head = nn.Conv2D(width, num_classes, 1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        multiple = 2**self.depth
        if x.shape[2] % multiple or x.shape[3] % multiple:
            raise ValueError(
                f"UNet of depth {self.depth} needs H and W multiples of {multiple}, "
                f"got {x.shape[2]}x{x.shape[3]}"
            )
        skips = [self.stem(x)]
        for i in range(1, self.depth + 1):
            skips.append(getattr(self, f"down{i}")(skips[-1]))
        x = skips.pop()
        for i in range(self.depth, 0, -1):
            x = getattr(self, f"up{i}")(x, skips.pop())
        return self.head(x)  # (N, num_classes, H, W)
