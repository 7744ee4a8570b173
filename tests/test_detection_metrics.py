"""COCO AP of a validation pass against values derived by hand from COCO's rules (101-point
interpolated precision, crowd regions ignored, images without boxes), through the same
mapping of detections back to each image's pixels and category ids that training uses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from swint_cli.data.box_transforms import DetectionTransform
from swint_cli.data.detection_set import Category, DetectionSplit
from swint_cli.data.loaders import DetectionDataset
from swint_cli.data.transforms import IDENTITY
from swint_cli.models.detection import Detections
from swint_cli.recipe.schema import Transforms
from swint_cli.train.coco_metrics import coco_scores
from swint_cli.train.detection import results_of

CATEGORIES = [Category(10, "cat"), Category(20, "dog")]


def _split() -> DetectionSplit:
    """Three 40x40 images: A with a cat, a dog and a crowd of cats; B with nothing; C with
    a dog."""
    box = lambda *b: np.array(b, np.float32).reshape(-1, 4)  # noqa: E731
    label = lambda *c: np.array(c, np.int64)  # noqa: E731
    return DetectionSplit(
        images=np.zeros((3, 40, 40, 3), np.uint8),
        boxes=[box([0, 0, 10, 10], [20, 20, 30, 30]), box(), box([0, 0, 10, 10])],
        labels=[label(0, 1), label(), label(1)],
        crowd_boxes=[box([20, 0, 40, 12]), box(), box()],
        crowd_labels=[label(0), label(), label()],
        image_ids=[101, 102, 103],
        file_names=["a.png", "b.png", "c.png"],
        sizes=[(40, 40)] * 3,
    )


def _found(boxes, scores, classes) -> Detections:
    """Detections in the 20x20 input frame (half the images' pixels)."""
    return Detections(
        np.asarray(boxes, np.float32) / 2, np.asarray(scores, np.float32), np.asarray(classes)
    )


def _results() -> tuple[dict, list[dict]]:
    transform = DetectionTransform(20, Transforms(), IDENTITY, augment=False)
    dataset = DetectionDataset(_split(), CATEGORIES, transform, seed=0)
    per_image = {
        0: _found(
            [[0, 0, 10, 10], [22, 1, 38, 11], [20, 20, 30, 30]],  # cat, on the crowd, dog
            [0.9, 0.95, 0.6],
            [0, 0, 1],
        ),
        1: _found([[5, 5, 15, 15]], [0.7], [1]),  # a dog where there is none
        2: _found([[0, 0, 10, 5.8]], [0.95], [1]),  # the dog at IoU 0.58
    }
    results = [entry for i, found in per_image.items() for entry in results_of(dataset, i, found)]
    return dataset.split.ground_truth(CATEGORIES), results


# By hand. Cat: one box, found first (the detection on the crowd ignored): AP 1 everywhere.
# Dog, two boxes, detections by score: C (IoU .58), B (none there), A (exact).
#   IoU .50 and .55: TP, FP, TP -> precision 1 up to recall .5, then 2/3: (51 + 50 * 2/3) / 101
#   IoU .60 to .95 (8 thresholds): FP, FP, TP -> 1/3 up to recall .5, then 0: 51 / 3 / 101
DOG_50 = (51 + 50 * 2 / 3) / 101
DOG_STRICT = 51 / 3 / 101
DOG = (2 * DOG_50 + 8 * DOG_STRICT) / 10


def test_coco_ap_follows_cocos_rules_for_crowds_empty_images_and_iou_thresholds():
    truth, results = _results()
    assert {r["category_id"] for r in results} == {10, 20}
    assert results[0]["bbox"] == [0.0, 0.0, 10.0, 10.0]  # back in the image's own pixels
    scores = coco_scores(truth, results)
    assert scores.map == pytest.approx((1 + DOG) / 2, abs=1e-6)
    assert scores.map50 == pytest.approx((1 + DOG_50) / 2, abs=1e-6)
    assert scores.map75 == pytest.approx((1 + DOG_STRICT) / 2, abs=1e-6)
    per_class = {row["category_id"]: row for row in scores.per_class}
    assert per_class[10]["ap"] == pytest.approx(1.0)
    assert per_class[20]["ap"] == pytest.approx(DOG, abs=1e-6)
    assert per_class[20]["ap50"] == pytest.approx(DOG_50, abs=1e-6)


def test_no_detections_score_zero_and_a_class_without_boxes_has_no_ap():
    truth, _ = _results()
    truth["annotations"] = [a for a in truth["annotations"] if a["category_id"] == 10]
    scores = coco_scores(truth, [])
    assert (scores.map, scores.map50, scores.map75) == (0.0, 0.0, 0.0)
    by_id = {row["category_id"]: row["ap"] for row in scores.per_class}
    assert by_id[10] == 0.0 and math.isnan(by_id[20])
