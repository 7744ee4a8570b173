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
from .detection.fcos import BACKBONE, HEAD, PYRAMID
from .errors import ModelError
from .registry import find_backbone
from .surgery import SurgeryReport, apply_model_section, section_weights
from .weights import WeightsFile, WeightsReport, load_state

if TYPE_CHECKING:
    from ..recipe.schema import ModelSection

CLASSES = "class_logits"  # the head's classifier: its size is the class count


def default_features(name: str, backbone: nn.Layer, image_size: int) -> list[str]:
    """The feature maps the registry gives backbone ``name`` (:mod:`.registry`); ModelError
    asking for ``model.features`` for a backbone without defaults (a network of your own)."""
    registered = find_backbone(name)
    if registered is not None and registered.features is not None:
        return registered.features(backbone, image_size)
    whose = "a network of your own" if is_own_network(name) else name
    raise ModelError(
        f"model.features: {whose} has no default feature maps; name the sublayers whose "
        "outputs feed the FPN, finest first (swint slots lists a backbone's layers)"
    )


def build_detector(section: ModelSection, image_size: int) -> tuple[FCOS, SurgeryReport]:
    """The recipe's FCOS: the backbone built, loaded and swapped as ``section`` says (slot
    paths relative to the backbone), its ``features`` (or defaults) feeding the FPN.

    ``model.weights`` of a backbone (a classifier's) load into the backbone, and the report
    names its tensors; a detector's own (a detection run's: ``backbone.``, ``pyramid.``,
    ``head.``) load into every part, the head's classifier kept fresh for another class
    count, and the report names the detector's tensors."""
    backbone = build_backbone(
        section.backbone, section.num_classes, section.head, section.patch_size, section.args
    )
    weights, detector_weights = section_weights(section)
    if detector_weights:
        part = weights.part(BACKBONE + ".")
        report = apply_model_section(backbone, section, image_size, part, BACKBONE + ".")
    else:
        report = apply_model_section(backbone, section, image_size, weights)
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
    if detector_weights:
        loaded = report.weights.plus(_load_pyramid_and_head(detector, weights, section))
        report = dataclasses.replace(report, weights=loaded)
    return detector, dataclasses.replace(report, within=BACKBONE)


def _load_pyramid_and_head(
    detector: FCOS, weights: WeightsFile, section: ModelSection
) -> WeightsReport:
    """Load a detector's weights into ``detector``'s pyramid and head (the head's classifier
    fresh for another class count); one report, in the detector's names."""
    parts = [(PYRAMID, detector.pyramid, None), (HEAD, detector.head, CLASSES)]
    reports = [
        load_state(
            layer,
            weights.part(name + "."),
            section.weights_skip,
            section.weights_strict,
            head=head,
            prefix=name + ".",
        )
        for name, layer, head in parts
    ]
    return reports[0].plus(reports[1])
