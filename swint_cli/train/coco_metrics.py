"""COCO box AP by pycocotools: mAP over IoU 0.50:0.95, AP50, AP75, and AP per class.

Inputs are COCO's own formats: the ground truth as an annotation file's dict, detections as
a results list (``image_id``, ``category_id``, ``bbox`` ``[x, y, w, h]``, ``score``).
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


@dataclass(frozen=True)
class CocoScores:
    """mAP@[.5:.95], AP50 and AP75 over all classes, and per class (category id, name, AP,
    AP50); NaN where the ground truth has no box of a class (or none at all)."""

    map: float
    map50: float
    map75: float
    per_class: list[dict]


def _mean_precision(precision: np.ndarray) -> float:
    """The mean of the precisions COCOeval filled in (-1 marks none), NaN if none is."""
    valid = precision[precision > -1]
    return float(valid.mean()) if valid.size else math.nan


def coco_scores(ground_truth: dict, detections: list[dict]) -> CocoScores:
    """Evaluate ``detections`` against ``ground_truth`` with pycocotools' COCOeval (bbox,
    all areas, up to 100 detections per image); its printing is silenced."""
    categories = ground_truth["categories"]
    has_boxes = {a["category_id"] for a in ground_truth["annotations"] if not a["iscrowd"]}
    if not detections:  # COCO.loadRes refuses an empty list; no detection scores zero
        per_class = [
            {
                "category_id": c["id"],
                "name": c["name"],
                "ap": 0.0 if c["id"] in has_boxes else math.nan,
                "ap50": 0.0 if c["id"] in has_boxes else math.nan,
            }
            for c in categories
        ]
        zero = 0.0 if has_boxes else math.nan
        return CocoScores(zero, zero, zero, per_class)
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = ground_truth
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(detections), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    # precision: (IoU thresholds 10, recall points 101, classes, area ranges 4, max dets 3)
    precision = evaluation.eval["precision"][:, :, :, 0, -1]
    per_class = [
        {
            "category_id": int(category_id),
            "name": truth.cats[category_id]["name"],
            "ap": _mean_precision(precision[:, :, k]),
            "ap50": _mean_precision(precision[0, :, k]),
        }
        for k, category_id in enumerate(evaluation.params.catIds)
    ]
    stats = [float(s) if s >= 0 else math.nan for s in evaluation.stats[:3]]
    return CocoScores(*stats, per_class)
