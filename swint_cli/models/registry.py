"""The backbones a recipe can name, each with the task it serves and the factory building it.

``recipe/names.py`` is the one list of backbone names and tasks (it loads no Paddle, so
recipes validate against it); :data:`BACKBONES` gives each its factory, and
:func:`~.backbones.build_backbone` builds from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from paddle import nn
from paddle.vision.models import resnet18, resnet34, resnet50, resnet101

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
