"""The Swin Transformer classifiers (Swin-T, Swin-S, Swin-B) assembled from SwinT layers.

Patch embedding (a ``patch_size`` x ``patch_size`` convolution with that stride, then
LayerNorm), four stages at widths ``C, 2C, 4C, 8C``, LayerNorm, global average pool and a
linear head ``fc``. A stage of depth ``2k`` is ``k`` SwinT layers (each is a W-MSA + SW-MSA
block pair); the last layer of stages 1-3 ends with PatchMerging to twice the width at half
the resolution, as in the paper. Stochastic depth rises linearly over the blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import paddle
from paddle import nn

from ..layer_config import SwinTConfig
from ..nn import SwinT
from ..nn import functional as SF
from ..nn.layers import LayerNorm


@dataclass(frozen=True)
class SwinConfig:
    """Width of stage 1, blocks per stage and heads per stage of one Swin variant."""

    embed_dim: int
    depths: tuple[int, ...]
    num_heads: tuple[int, ...]
    drop_path_rate: float


SWIN_CONFIGS = {
    "swin_t": SwinConfig(96, (2, 2, 6, 2), (3, 6, 12, 24), 0.2),
    "swin_s": SwinConfig(96, (2, 2, 18, 2), (3, 6, 12, 24), 0.3),
    "swin_b": SwinConfig(128, (2, 2, 18, 2), (4, 8, 16, 32), 0.5),
}


class PatchEmbed(nn.Layer):
    """``[N, 3, H, W]`` -> ``[N, C, H/p, W/p]``: a stride-``p`` convolution, then LayerNorm."""

    def __init__(self, patch_size: int, embed_dim: int, in_channels: int = 3) -> None:
        super().__init__()
        self.proj = nn.Conv2D(in_channels, embed_dim, patch_size, stride=patch_size)
        self.norm = LayerNorm(embed_dim)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.proj(x)  # (N, C, H/p, W/p)
        return SF.permute(self.norm(SF.permute(x, [0, 2, 3, 1])), [0, 3, 1, 2])


class SwinTransformer(nn.Layer):
    """Swin Transformer image classifier: ``[N, 3, H, W]`` images -> ``[N, num_classes]``.

    Any input size works (maps that are not a multiple of the window are padded, windows
    shrink on maps smaller than them); ``patch_size`` 4 is the paper's, smaller patches suit
    small images (e.g. 2 for 32x32 CIFAR). ``layer`` is every SwinT's
    :class:`~swint_cli.layer_config.SwinTConfig` (window, norm placement, LayerScale, ...)
    but for the heads and drop path rates the model config sets per stage and block; the
    default is the official Swin V1 block with window 7.
    """

    def __init__(
        self,
        num_classes: int,
        config: SwinConfig,
        patch_size: int = 4,
        layer: SwinTConfig | None = None,
    ) -> None:
        super().__init__()
        if len(config.depths) != len(config.num_heads) or any(d % 2 for d in config.depths):
            raise ValueError(f"depths must be even and match num_heads, got {config}")
        layer = layer or SwinTConfig()  # each stage's heads and each pair's drop path its own
        self.patch_embed = PatchEmbed(patch_size, config.embed_dim)
        rates = paddle.linspace(0, config.drop_path_rate, sum(config.depths)).tolist()
        layers, block = [], 0
        for stage, (depth, heads) in enumerate(zip(config.depths, config.num_heads, strict=True)):
            width = config.embed_dim * 2**stage
            for pair in range(depth // 2):
                merge = pair == depth // 2 - 1 and stage < len(config.depths) - 1
                pair_config = replace(layer, num_heads=heads, droppath=rates[block + 1])
                layers.append(  # the pair's second block's drop path rate
                    SwinT.from_config(
                        width, 2 * width if merge else width, pair_config, downsample=merge
                    )
                )
                block += 2
        self.layers = nn.Sequential(*layers)
        self.num_features = config.embed_dim * 2 ** (len(config.depths) - 1)
        self.norm = LayerNorm(self.num_features)
        self.fc = nn.Linear(self.num_features, num_classes)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.layers(self.patch_embed(x))  # (N, 8C, H/32p, W/32p)
        x = self.norm(SF.permute(x, [0, 2, 3, 1]))  # (N, h, w, 8C)
        return self.fc(x.mean(axis=[1, 2]))  # (N, num_classes)
