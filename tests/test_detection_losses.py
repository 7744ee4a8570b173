"""FCOS's loss against a NumPy derivation: sigmoid focal loss, GIoU loss and centerness
BCE, over the locations an independent loop assigns; and NMS against a brute-force greedy
reference."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
from test_detection_geometry import _giou_numpy

from swint_cli.models.detection import FCOSLoss, select_detections
from swint_cli.models.detection.fcos import DetectorOutputs, Locations


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _focal_numpy(logits: np.ndarray, targets: np.ndarray, alpha=0.25, gamma=2.0) -> float:
    p = _sigmoid(logits)
    ce = -(targets * np.log(p) + (1 - targets) * np.log(1 - p))
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return float((alpha_t * (1 - p_t) ** gamma * ce).sum())


def _assign_numpy(points, scales, boxes, classes, radius=1.5) -> list[int]:
    """FCOS's matching written as loops: inside, near the centre, in the level's range;
    the smallest box wins."""
    finest, coarsest = scales.min(), scales.max()
    matched = []
    for (x, y), s in zip(points, scales, strict=True):
        best, best_area = -1, np.inf
        for m, ((x1, y1, x2, y2), c) in enumerate(zip(boxes, classes, strict=True)):
            sides = [x - x1, y - y1, x2 - x, y2 - y]
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            lower = 0 if s == finest else 4 * s
            upper = np.inf if s == coarsest else 8 * s
            ok = c >= 0 and min(sides) > 0 and max(abs(x - cx), abs(y - cy)) < radius * s
            ok = ok and lower < max(sides) < upper
            area = (x2 - x1) * (y2 - y1)
            if ok and area < best_area:
                best, best_area = m, area
        matched.append(best)
    return matched


def _loss_numpy(outputs, locations, boxes, classes, num_classes):
    logits, codes, centerness = (o.astype(np.float64) for o in outputs)
    points, scales = locations.points.astype(np.float64), locations.scales.astype(np.float64)
    focal = giou = bce = 0.0
    foreground = 0
    for b in range(len(boxes)):
        matched = _assign_numpy(points, scales, boxes[b], classes[b])
        targets = np.zeros_like(logits[b])
        for n, m in enumerate(matched):
            if m < 0:
                continue
            foreground += 1
            targets[n, classes[b][m]] = 1
            x, y = points[n]
            x1, y1, x2, y2 = boxes[b][m]
            d = codes[b, n] * scales[n]
            predicted = np.array([[x - d[0], y - d[1], x + d[2], y + d[3]]])
            giou += 1 - _giou_numpy(predicted, np.array([[x1, y1, x2, y2]]))[0]
            left, top, right, bottom = x - x1, y - y1, x2 - x, y2 - y
            truth = np.sqrt(
                min(left, right) / max(left, right) * min(top, bottom) / max(top, bottom)
            )
            p = _sigmoid(centerness[b, n])
            bce += -(truth * np.log(p) + (1 - truth) * np.log(1 - p))
        focal += _focal_numpy(logits[b], targets)
    count = max(foreground, 1)
    return focal / count, giou / count, bce / count, foreground


def test_the_fcos_loss_matches_a_numpy_derivation_of_its_three_terms():
    locations = Locations.of_levels(32, [(4, 4), (2, 2), (1, 1)])
    rng = np.random.default_rng(0)
    n, k = len(locations.points), 3
    outputs = (
        rng.normal(0, 1.5, (2, n, k)).astype(np.float32),
        rng.uniform(0.2, 3, (2, n, 4)).astype(np.float32),
        rng.normal(0, 1, (2, n)).astype(np.float32),
    )
    boxes = np.array(
        [
            [[2, 3, 14, 13], [10, 8, 30, 31], [0, 0, 1, 1]],
            [[5, 5, 27, 20], [0, 0, 1, 1], [0, 0, 1, 1]],
        ],
        np.float32,
    )
    classes = np.array([[2, 0, -1], [1, -1, -1]], np.int64)
    focal, giou, bce, foreground = _loss_numpy(outputs, locations, boxes, classes, k)
    assert foreground >= 4  # the case exercises several locations
    parts = FCOSLoss(locations, k).parts(
        DetectorOutputs(*(paddle.to_tensor(o) for o in outputs)),
        paddle.to_tensor(boxes),
        paddle.to_tensor(classes),
    )
    np.testing.assert_allclose(
        [float(parts.classification), float(parts.box), float(parts.centerness)],
        [focal, giou, bce],
        rtol=1e-4,
    )


def test_paddles_sigmoid_focal_loss_is_the_papers():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (5, 4)).astype(np.float32)
    targets = (rng.random((5, 4)) < 0.3).astype(np.float32)
    loss = paddle.nn.functional.sigmoid_focal_loss(
        paddle.to_tensor(logits), paddle.to_tensor(targets), reduction="sum"
    )
    np.testing.assert_allclose(
        float(loss), _focal_numpy(logits.astype(np.float64), targets), rtol=1e-5
    )


def test_without_boxes_only_the_focal_term_remains_and_it_is_not_divided_by_zero():
    locations = Locations.of_levels(16, [(2, 2)])
    logits = np.full((1, 4, 2), -1.0, np.float32)
    outputs = DetectorOutputs(
        paddle.to_tensor(logits), paddle.ones([1, 4, 4]), paddle.zeros([1, 4])
    )
    parts = FCOSLoss(locations, 2).parts(
        outputs, paddle.zeros([1, 1, 4]), paddle.to_tensor([[-1]], dtype="int64")
    )
    np.testing.assert_allclose(
        float(parts.classification), _focal_numpy(logits, 0 * logits), rtol=1e-5
    )
    assert float(parts.box) == 0 and float(parts.centerness) == 0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _greedy_nms(boxes, scores, threshold) -> list[tuple[int, int]]:
    """(location, class) pairs kept: by descending score, dropped when overlapping a kept
    pair of its class by more than ``threshold``."""
    pairs = sorted(
        ((scores[n, c], n, c) for n in range(len(boxes)) for c in range(scores.shape[1])),
        reverse=True,
    )
    kept: list[tuple[int, int]] = []
    for _, n, c in pairs:
        if all(c != kc or _iou(boxes[n], boxes[kn]) <= threshold for kn, kc in kept):
            kept.append((n, c))
    return kept


@pytest.mark.parametrize("threshold", [0.3, 0.6])
def test_per_class_nms_keeps_what_a_brute_force_greedy_search_keeps(threshold):
    rng = np.random.default_rng(7)
    corners = rng.uniform(0, 40, (30, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(8, 20, (30, 2))], axis=1)
    scores = rng.uniform(0, 1, (30, 2)).astype(np.float32)
    found = select_detections(
        paddle.to_tensor(boxes.astype(np.float32)),
        paddle.to_tensor(scores),
        score_threshold=0.0,
        nms_threshold=threshold,
        max_detections=1000,
    )
    expected = _greedy_nms(boxes, scores, threshold)
    got = sorted(
        (int(np.flatnonzero((boxes.astype(np.float32) == box).all(axis=1))[0]), int(c))
        for box, c in zip(found.boxes, found.classes, strict=True)
    )
    assert got == sorted(expected)
    assert list(found.scores) == sorted(found.scores, reverse=True)


def test_detections_below_the_score_threshold_are_dropped_and_the_best_are_kept():
    boxes = paddle.to_tensor([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], "float32")
    scores = paddle.to_tensor([[0.9], [0.04], [0.5]], "float32")
    found = select_detections(boxes, scores, score_threshold=0.05, max_detections=1)
    np.testing.assert_allclose(found.boxes, [[0, 0, 10, 10]])
    assert select_detections(boxes, scores, score_threshold=0.95).boxes.shape == (0, 4)
