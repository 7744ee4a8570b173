"""SwinT: a Swin Transformer stage with the calling convention of ``paddle.nn.Conv2D``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace

import paddle
from paddle import nn

from ..layer_config import SwinTConfig
from . import functional as SF
from .flops import swint_flops
from .layers import Linear
from .patch_expanding import PatchExpanding
from .patch_merging import PatchMerging
from .recompute import applies as recompute_applies
from .recompute import recomputed
from .swin_block import SwinBlock


def _default_heads(channels: int) -> int:
    """Swin's head width of 32 channels: the most heads of width >= 32 that divide ``channels``."""
    for heads in range(max(channels // 32, 1), 0, -1):
        if channels % heads == 0:
            return heads
    return 1


def _resolution(value: int | Sequence[int] | None) -> tuple[int, int] | None:
    if value is None:
        return None
    size = (value, value) if isinstance(value, int) else tuple(value)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise ValueError(
            f"input_resolution must be None, a positive int or (height, width), got {value!r}"
        )
    return size  # type: ignore[return-value]


def _init_weights(layer: nn.Layer) -> None:
    """Swin's initialisation: truncated-normal (std 0.02) Linear weights, zero biases."""
    weight_init = nn.initializer.TruncatedNormal(std=0.02)
    zeros = nn.initializer.Constant(0.0)
    for sub in layer.sublayers():
        if isinstance(sub, nn.Linear):
            weight_init(sub.weight)
            if sub.bias is not None:
                zeros(sub.bias)


class SwinT(nn.Layer):
    """Swin Transformer layer that maps ``[N, C_in, H, W]`` to ``[N, C_out, H', W']`` like Conv2D.

    Inside: a W-MSA Swin block, an SW-MSA Swin block (shift ``window_size // 2``), then
    PatchMerging to ``C_out`` when ``downsample`` (``H' = ceil(H/2)``, ``W' = ceil(W/2)``),
    PatchExpanding to ``C_out`` when ``upsample`` (``H' = 2H``, ``W' = 2W``), else a channel
    projection ``C_in -> C_out`` (none when they are equal; ``H' = H``, ``W' = W``).

    Args:
        in_channels: input channels ``C_in``; the token width of both blocks.
        out_channels: output channels ``C_out``.
        input_resolution: ``(H, W)`` (or one int) the layer is built for; inputs of another
            size are refused. None accepts any size. When its smaller side is not larger than
            ``window_size`` the window shrinks to it (and the bias table with it).
        num_heads: attention heads; must divide ``in_channels``. None picks heads of width 32.
        window_size: window side ``M``. Maps that are not a multiple of it are padded.
        qkv_bias: learn a bias for q, k, v (None: True).
        qk_scale: score scale (None: ``head_dim ** -0.5``).
        dropout: dropout after the attention projection and in the MLP (None: 0).
        attention_dropout: dropout on attention weights (None: 0).
        droppath: stochastic depth rate of both blocks (None: 0).
        downsample: end with PatchMerging (halves H and W) instead of a projection.
        upsample: end with PatchExpanding (doubles H and W; Swin-Unet's decoder) instead.
        mlp_ratio: hidden width of the MLP relative to ``in_channels``.
        residual_norm: where each block branch's LayerNorm sits: ``"pre"`` (official Swin V1,
            ``x + f(LN(x))``), ``"post"`` (``x + LN(f(x))``: the original SwinT article's layer
            and Swin V2) or ``"post_zero"`` (post, LayerNorms starting at weight and bias 0 as
            in Swin V2, so both blocks start as the identity).
        layer_scale: LayerScale (CaiT) on every branch, per-channel gains starting at this
            value (timm uses 1e-5); None for none.
        recompute: in training, keep only the first block's output and recompute the rest
            in the backward pass, in two segments (the layout change and the first block;
            the second block, merging or projection and the layout back; see
            :mod:`swint_cli.nn.recompute`): less memory for about one more forward pass;
            the gradients are the same.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        input_resolution: int | Sequence[int] | None = None,
        num_heads: int | None = None,
        window_size: int = 7,
        qkv_bias: bool | None = True,
        qk_scale: float | None = None,
        dropout: float | None = 0.0,
        attention_dropout: float | None = 0.0,
        droppath: float | None = 0.0,
        downsample: bool = False,
        mlp_ratio: float = 4.0,
        upsample: bool = False,
        residual_norm: str = "pre",
        layer_scale: float | None = None,
        recompute: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if downsample and upsample:
            raise ValueError("downsample and upsample cannot both be True")
        config = SwinTConfig(  # None for a bias or rate: the default, as the article passes it
            num_heads=num_heads,
            window_size=window_size,
            mlp_ratio=mlp_ratio,
            qkv_bias=True if qkv_bias is None else bool(qkv_bias),
            qk_scale=qk_scale,
            dropout=dropout or 0.0,
            attention_dropout=attention_dropout or 0.0,
            droppath=droppath or 0.0,
            residual_norm=residual_norm,
            layer_scale=layer_scale,
            recompute=bool(recompute),
        )
        num_heads = config.num_heads or _default_heads(in_channels)
        if in_channels % num_heads:
            raise ValueError(f"num_heads ({num_heads}) must divide in_channels ({in_channels})")
        self.config = config
        self.input_resolution = _resolution(input_resolution)
        if self.input_resolution is not None:
            window_size = min(window_size, *self.input_resolution)

        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_heads = num_heads
        self.window_size = window_size  # as built: shrunk to a smaller declared input
        self.mlp_ratio = float(config.mlp_ratio)
        self.downsample = bool(downsample)
        self.upsample = bool(upsample)
        self.residual_norm = config.residual_norm
        self.layer_scale = config.layer_scale
        self.recompute = config.recompute
        built = replace(config, window_size=window_size)
        self.blocks = nn.LayerList(
            [SwinBlock(in_channels, num_heads, shift, built) for shift in (0, window_size // 2)]
        )
        self.merge = PatchMerging(in_channels, out_channels) if self.downsample else None
        self.expand = PatchExpanding(in_channels, out_channels) if self.upsample else None
        project = not (self.downsample or self.upsample) and in_channels != out_channels
        self.proj = Linear(in_channels, out_channels) if project else None
        _init_weights(self)

    @classmethod
    def from_config(
        cls,
        in_channels: int,
        out_channels: int,
        config: SwinTConfig,
        *,
        input_resolution: int | Sequence[int] | None = None,
        downsample: bool = False,
        upsample: bool = False,
    ) -> SwinT:
        """The SwinT ``config`` describes, placed where a ``in_channels -> out_channels``
        convolution of that input size (and stride) stood."""
        settings = {spec.name: getattr(config, spec.name) for spec in fields(config)}
        return cls(
            in_channels,
            out_channels,
            input_resolution,
            downsample=downsample,
            upsample=upsample,
            **settings,
        )

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size of the output for an ``height x width`` input."""
        if self.downsample:
            return (height + 1) // 2, (width + 1) // 2
        if self.upsample:
            return 2 * height, 2 * width
        return height, width

    def _input_size(self, x: paddle.Tensor) -> tuple[int, int]:
        if x.ndim != 4:
            raise ValueError(f"SwinT expects [N, C, H, W] input, got shape {list(x.shape)}")
        _, c, h, w = x.shape
        if c != self.in_channels:
            raise ValueError(
                f"SwinT expects {self.in_channels} input channels, got {c} (shape {list(x.shape)})"
            )
        if self.input_resolution is not None:
            if h < 0 or w < 0:  # unknown at static-graph trace time: trust the declaration
                return self.input_resolution
            if (h, w) != self.input_resolution:
                raise ValueError(
                    f"SwinT was built for input_resolution {self.input_resolution}, "
                    f"got input {h}x{w}; pass input_resolution=None to accept any size"
                )
        elif h < 0 or w < 0:
            raise ValueError(
                "SwinT needs a known height and width when traced: give input_resolution or "
                "a static input_spec"
            )
        return h, w

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        height, width = self._input_size(x)
        if self.recompute and self.training and recompute_applies():
            # two segments, each recomputed in backward: only the first one's output is kept
            x = recomputed(self._first_segment, x, height, width)
            return recomputed(self._last_segment, x, height, width)
        return self._last_segment(self._first_segment(x, height, width), height, width)

    def _first_segment(self, x: paddle.Tensor, height: int, width: int) -> paddle.Tensor:
        """``(N, C_in, H, W)`` -> the first (W-MSA) block's output tokens ``(N, H*W, C_in)``."""
        x = SF.permute(x.flatten(2), [0, 2, 1])  # (N, H*W, C_in)
        return self.blocks[0](x, height, width)

    def _last_segment(self, x: paddle.Tensor, height: int, width: int) -> paddle.Tensor:
        """The second (SW-MSA) block, the merging/expanding/projection and the layout back:
        ``(N, H*W, C_in)`` -> ``(N, C_out, H', W')``."""
        x = self.blocks[1](x, height, width)
        if self.merge is not None:
            x = self.merge(x, height, width)  # (N, H/2*W/2, C_out)
        elif self.expand is not None:
            x = self.expand(x, height, width)  # (N, 2H*2W, C_out)
        elif self.proj is not None:
            x = self.proj(x)  # (N, H*W, C_out)
        out_h, out_w = self.output_size(height, width)
        return SF.permute(x, [0, 2, 1]).reshape([-1, self.out_channels, out_h, out_w])

    def flops(self, height: int, width: int) -> int:
        """Multiply-accumulates of one image's forward pass at ``height x width``.

        See :mod:`swint_cli.nn.flops` for what is counted.
        """
        return swint_flops(
            self.in_channels,
            self.out_channels,
            height,
            width,
            self.window_size,
            self.mlp_ratio,
            self.downsample,
            self.upsample,
        )

    def extra_repr(self) -> str:
        res = self.input_resolution or "any"
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"input_resolution={res}, num_heads={self.num_heads}, "
            f"window_size={self.window_size}, downsample={self.downsample}, "
            f"upsample={self.upsample}, residual_norm={self.residual_norm}, "
            f"layer_scale={self.layer_scale}, recompute={self.recompute}"
        )
