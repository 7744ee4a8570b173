"""The backbones a recipe can name, each with the task it serves and the factory building it.

``recipe/names.py`` is the one list of backbone names and tasks (it loads no Paddle, so
recipes validate against it); :data:`BACKBONES` gives each its factory, and
:func:`~.backbones.build_backbone` builds from it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from paddle import nn
from paddle.vision.models import resnet18, resnet34, resnet50, resnet101

from ..layer_config import SwinTConfig
from ..recipe.names import BACKBONE_TASKS, Task, backbone_names
from .detection.feature_taps import last_of_each_size
from .small_cnn import SmallCNN
from .swin_transformer import SWIN_CONFIGS, SwinConfig, SwinTransformer
from .unet import UNet

FeatureMaps = Callable[[nn.Layer, int], list[str]]  # (backbone, image size) -> sublayer paths


@dataclass(frozen=True)
class Backbone:
    """A backbone by name: ``factory(num_classes)`` builds it randomly initialised, mapping
    ``[N, 3, H, W]`` images to ``[N, num_classes]`` logits (classification) or to
    ``[N, num_classes, H, W]`` per-pixel logits (segmentation); ``features`` names the
    sublayers a detector reads, finest first (None: the recipe must name them)."""

    name: str
    task: Task
    factory: Callable[..., nn.Layer]
    features: FeatureMaps | None = None


def _fixed(*paths: str) -> FeatureMaps:
    return lambda backbone, image_size: list(paths)


def _swin_stage_ends(backbone: nn.Layer, image_size: int) -> list[str]:
    """A Swin's stage ends: of its ``layers``, the last of each resolution, the last three
    (strides 8, 16 and 32 for patch size 4)."""
    return last_of_each_size(
        backbone, [f"layers.{i}" for i in range(len(backbone.layers))], image_size
    )[-3:]


def _resnet(build: Callable[..., nn.Layer]) -> Callable[..., nn.Layer]:
    """``factory(num_classes, width=64)`` of a ``paddle.vision`` ResNet (nothing is
    downloaded); ``width`` is the bottleneck's base width (128: the wide ResNets)."""

    def factory(num_classes: int, width: int = 64) -> nn.Layer:
        return build(pretrained=False, num_classes=num_classes, width=width)

    return factory


def _swin(config: SwinConfig) -> Callable[..., nn.Layer]:
    """``factory(num_classes, patch_size=4, ...)`` of a Swin Transformer of ``config``, any
    of whose widths, depths and heads, and the blocks' window and MLP ratio, a keyword
    changes: ``embed_dim=24, depths=[2, 2], num_heads=[2, 4], window_size=4`` is a small
    Swin."""

    def factory(
        num_classes: int,
        patch_size: int = 4,
        embed_dim: int = config.embed_dim,
        depths: Sequence[int] = config.depths,
        num_heads: Sequence[int] = config.num_heads,
        window_size: int = 7,
        mlp_ratio: float = 4.0,
    ) -> nn.Layer:
        chosen = replace(
            config, embed_dim=embed_dim, depths=tuple(depths), num_heads=tuple(num_heads)
        )
        layer = SwinTConfig(window_size=window_size, mlp_ratio=mlp_ratio)
        return SwinTransformer(num_classes, chosen, patch_size, layer)

    return factory


_FACTORIES: dict[str, Callable[..., nn.Layer]] = {
    "resnet18": _resnet(resnet18),
    "resnet34": _resnet(resnet34),
    "resnet50": _resnet(resnet50),
    "resnet101": _resnet(resnet101),
    "small_cnn": SmallCNN,
    **{name: _swin(config) for name, config in SWIN_CONFIGS.items()},
    "unet": UNet,
}
_FEATURES: dict[str, FeatureMaps] = {
    **dict.fromkeys(  # strides 8, 16, 32, as torchvision's FCOS
        ("resnet18", "resnet34", "resnet50", "resnet101"), _fixed("layer2", "layer3", "layer4")
    ),
    "small_cnn": _fixed("stage1", "stage2", "stage3"),  # strides 2, 4, 8
    **dict.fromkeys(SWIN_CONFIGS, _swin_stage_ends),
}
BACKBONES: tuple[Backbone, ...] = tuple(  # in the names' order; a name needs a factory
    Backbone(name, task, _FACTORIES[name], _FEATURES.get(name))
    for name, task in BACKBONE_TASKS.items()
)


def find_backbone(name: str) -> Backbone | None:
    """The registered backbone called ``name``, or None."""
    return next((b for b in BACKBONES if b.name == name), None)


__all__ = ["BACKBONES", "Backbone", "backbone_names", "find_backbone"]
