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
from .small_cnn import SmallCNN
from .swin_transformer import SWIN_CONFIGS, SwinConfig, SwinTransformer
from .unet import UNet


@dataclass(frozen=True)
class Backbone:
    """A backbone by name: ``factory(num_classes)`` builds it randomly initialised, mapping
    ``[N, 3, H, W]`` images to ``[N, num_classes]`` logits (classification) or to
    ``[N, num_classes, H, W]`` per-pixel logits (segmentation)."""

    name: str
    task: Task
    factory: Callable[..., nn.Layer]


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
BACKBONES: tuple[Backbone, ...] = tuple(  # in the names' order; a name needs a factory
    Backbone(name, task, _FACTORIES[name]) for name, task in BACKBONE_TASKS.items()
)


def find_backbone(name: str) -> Backbone | None:
    """The registered backbone called ``name``, or None."""
    return next((b for b in BACKBONES if b.name == name), None)


__all__ = ["BACKBONES", "Backbone", "backbone_names", "find_backbone"]
