"""Building a recipe's detector: the backbone's default feature maps, what the detector
leaves untrained, and the recipe's swaps inside the backbone."""

from __future__ import annotations

import pytest

from swint_cli.models import build_model
from swint_cli.recipe.schema import ModelSection


def _detector(backbone: str, size: int = 64, **section):
    return build_model(ModelSection(backbone=backbone, num_classes=3, **section), size, "detection")


@pytest.mark.parametrize(
    ("backbone", "args", "features", "sizes"),
    [
        ("resnet18", {}, ["layer2", "layer3", "layer4"], [(8, 8), (4, 4), (2, 2)]),
        ("small_cnn", {}, ["stage1", "stage2", "stage3"], [(32, 32), (16, 16), (8, 8)]),
        # a small Swin: stage ends after merging at strides 8 and 16, the last layer at 32
        (
            "swin_t",
            {"embed_dim": 16, "depths": [2, 2, 2, 2], "num_heads": [1, 2, 2, 4], "window_size": 2},
            ["layers.0", "layers.1", "layers.3"],
            [(8, 8), (4, 4), (2, 2)],
        ),
    ],
)
def test_built_in_backbones_offer_their_stages_to_the_fpn(backbone, args, features, sizes):
    detector, _ = _detector(backbone, args=args, detector={"extra_levels": 1})
    assert detector.taps.names == features
    last = sizes[-1]
    assert list(detector.locations.level_sizes) == [
        *sizes,
        ((last[0] + 1) // 2, (last[1] + 1) // 2),
    ]


def test_a_classification_head_after_the_last_map_takes_no_gradient():
    detector, _ = _detector("resnet18")
    assert detector.unused == ["fc.weight", "fc.bias"]
    assert detector.backbone.fc.weight.stop_gradient
    assert not detector.backbone.layer4[1].conv2.weight.stop_gradient


def test_the_recipes_swaps_apply_to_backbone_slots_and_report_the_detectors_paths():
    rule = {"slots": "layer3.*.conv2", "num_heads": 8, "window_size": 4}
    detector, report = _detector("resnet18", replace=[rule])
    assert [path for path, _, _ in report.replaced] == ["layer3.0.conv2", "layer3.1.conv2"]
    assert report.model_paths() == ["backbone.layer3.0.conv2", "backbone.layer3.1.conv2"]
    assert type(detector.backbone.layer3[0].conv2).__name__ == "SwinT"
