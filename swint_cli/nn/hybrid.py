"""A convolution kept, with a SwinT branch beside it that starts switched off."""

from __future__ import annotations

import paddle
from paddle import nn

from .swint import SwinT


class HybridSwinT(nn.Layer):
    """``conv(x) + gain * swint(x)`` with a per-channel ``gain`` that starts at 0.

    ``conv`` is any layer mapping ``[N, C_in, H, W]`` to ``[N, C_out, H', W']`` (the Conv2D
    or Conv2DTranspose of a slot) and ``swint`` a :class:`SwinT` with the same output shape.
    With the gain at 0 the layer computes exactly the convolution, so a network whose slots
    become hybrids starts equal to the convolutional one; the gain (and through it the SwinT
    branch) is learned. This is ReZero's zero-initialised residual gain, per channel as in
    LayerScale, applied to the attention branch.
    """

    def __init__(self, conv: nn.Layer, swint: SwinT, gain_init: float = 0.0) -> None:
        super().__init__()
        self.conv = conv
        self.swint = swint
        self.gain = self.create_parameter(
            shape=[swint.out_channels], default_initializer=nn.initializer.Constant(gain_init)
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        gain = self.gain.reshape([1, -1, 1, 1])  # (1, C_out, 1, 1)
        return self.conv(x) + self.swint(x) * gain
