"""A recipe's detector: its backbone (weights and SwinT swaps applied as for classification)
with FCOS over the feature maps ``model.features`` names."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from paddle import nn

from ..nn.batched_conv import batch_small_convs
from ..recipe.names import is_own_network
from .backbones import build_backbone
from .detection import FCOS
from .detection.fcos import probe_maps
from .detection.feature_taps import FeatureTaps
from .errors import ModelError
from .surgery import SurgeryReport, apply_model_section
from .swin_transformer import SWIN_CONFIGS

if TYPE_CHECKING:
    from ..recipe.schema import ModelSection

BACKBONE = "backbone"  # where the backbone sits in the detector
RESNET_FEATURES = ["layer2", "layer3", "layer4"]  # strides 8, 16, 32, as torchvision's FCOS
SMALL_CNN_FEATURES = ["stage1", "stage2", "stage3"]  # strides 2, 4, 8
DEFAULT_MAPS = 3


def default_features(name: str, backbone: nn.Layer, image_size: int) -> list[str]:
    """The feature maps a built-in backbone offers the FPN: a ResNet's ``layer2``-``layer4``;
    small_cnn's three stages; a Swin's stage ends, the last layer of each resolution in
    ``layers``, the last three."""
    if name.startswith("resnet"):
        return list(RESNET_FEATURES)
    if name == "small_cnn":
        return list(SMALL_CNN_FEATURES)
    if name in SWIN_CONFIGS:
        names = [f"layers.{index}" for index in range(len(backbone.layers))]
        taps = FeatureTaps(backbone, names)
        maps = probe_maps(taps, image_size)
        taps.remove()
        last_of_size: dict[tuple[int, ...], str] = {}
        for layer, found in zip(names, maps, strict=True):
            last_of_size.pop(tuple(found.shape[2:]), None)  # keeps the dict in first-seen order
            last_of_size[tuple(found.shape[2:])] = layer
        return list(last_of_size.values())[-DEFAULT_MAPS:]
    whose = "a network of your own" if is_own_network(name) else name
    raise ModelError(
        f"model.features: {whose} has no default feature maps; name the sublayers whose "
        "outputs feed the FPN, finest first (swint slots lists a backbone's layers)"
    )


def build_detector(section: ModelSection, image_size: int) -> tuple[FCOS, SurgeryReport]:
    """The recipe's FCOS: the backbone built, loaded and swapped as ``section`` says (slot
    paths relative to the backbone), its ``features`` (or defaults) feeding the FPN."""
    backbone = build_backbone(
        section.backbone, section.num_classes, section.head, section.patch_size, section.args
    )
    report = apply_model_section(backbone, section, image_size)
    features = section.features or default_features(section.backbone, backbone, image_size)
    settings = section.detector
    detector = FCOS(
        backbone,
        features,
        section.num_classes,
        image_size,
        channels=settings.channels,
        extra_levels=settings.extra_levels,
        head_depth=settings.head_depth,
    )
    batch_small_convs(detector)  # the FPN's and head's convolutions on the faster CPU paths
    return detector, dataclasses.replace(report, within=BACKBONE)
