"""The backbones a recipe can name: each with the task it serves and the factory building it.

:data:`BACKBONES` is the one list of backbones: recipes validate ``model.backbone``, and its
fit to ``task``, against it, and :func:`~.backbones.build_backbone` builds from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from paddle import nn
from paddle.vision.models import resnet18, resnet34, resnet50, resnet101

from .small_cnn import SmallCNN
from .swin_transformer import SWIN_CONFIGS, SwinConfig, SwinTransformer
from .unet import UNet


@dataclass(frozen=True)
class Backbone:
    """A backbone by name: ``factory(num_classes)`` builds it randomly initialised, mapping
    ``[N, 3, H, W]`` images to ``[N, num_classes]`` logits (classification) or to
    ``[N, num_classes, H, W]`` per-pixel logits (segmentation)."""

    name: str
    task: Literal["classification", "segmentation"]
    factory: Callable[..., nn.Layer]


def _resnet(build: Callable[..., nn.Layer]) -> Callable[[int], nn.Layer]:
    """``factory(num_classes)`` of a ``paddle.vision`` ResNet (nothing is downloaded)."""

    def factory(num_classes: int) -> nn.Layer:
        return build(pretrained=False, num_classes=num_classes)

    return factory


def _swin(config: SwinConfig) -> Callable[..., nn.Layer]:
    """``factory(num_classes, patch_size=4)`` of a Swin Transformer of ``config``."""

    def factory(num_classes: int, patch_size: int = 4) -> nn.Layer:
        return SwinTransformer(num_classes, config, patch_size)

    return factory


BACKBONES: tuple[Backbone, ...] = (
    Backbone("resnet18", "classification", _resnet(resnet18)),
    Backbone("resnet34", "classification", _resnet(resnet34)),
    Backbone("resnet50", "classification", _resnet(resnet50)),
    Backbone("resnet101", "classification", _resnet(resnet101)),
    Backbone("small_cnn", "classification", SmallCNN),
    *(Backbone(name, "classification", _swin(config)) for name, config in SWIN_CONFIGS.items()),
    Backbone("unet", "segmentation", UNet),
)


def backbone_names(task: str | None = None) -> tuple[str, ...]:
    """The names of the backbones (of those serving ``task``, when given), in registry order."""
    return tuple(b.name for b in BACKBONES if task is None or b.task == task)


def find_backbone(name: str) -> Backbone | None:
    """The registered backbone called ``name``, or None."""
    return next((b for b in BACKBONES if b.name == name), None)
