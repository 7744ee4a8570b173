"""From scores at every location to detections: threshold, top-k, per-class NMS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import paddle
from paddle.vision.ops import nms

SCORE_THRESHOLD = 0.05
NMS_THRESHOLD = 0.6  # torchvision's FCOS
CANDIDATES = 1000  # (location, class) pairs kept for NMS, highest scores first
MAX_DETECTIONS = 100


@dataclass(frozen=True)
class Detections:
    """One image's detections, highest score first: boxes ``(D, 4)`` as ``(x1, y1, x2, y2)``,
    scores ``(D,)`` and class indices ``(D,)``."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def coco_results(self, image_id: int, category_ids: Sequence[int]) -> list[dict]:
        """The detections as COCO results entries of image ``image_id``: ``category_id``
        (``category_ids[class]``), ``bbox`` as ``[x, y, w, h]`` (to 0.01 px), ``score``."""
        return [
            {
                "image_id": image_id,
                "category_id": category_ids[int(label)],
                "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                "score": round(float(score), 5),
            }
            for (x1, y1, x2, y2), score, label in zip(
                self.boxes.tolist(), self.scores, self.classes, strict=True
            )
        ]

    def scaled(self, x: float, y: float) -> Detections:
        """The boxes in a frame whose x and y are ``x`` and ``y`` times these."""
        factors = np.array([x, y, x, y], np.float32)
        return Detections(self.boxes * factors, self.scores, self.classes)


NO_DETECTIONS = Detections(
    np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
)


def select_detections(
    boxes: paddle.Tensor,
    scores: paddle.Tensor,
    score_threshold: float = SCORE_THRESHOLD,
    nms_threshold: float = NMS_THRESHOLD,
    candidates: int = CANDIDATES,
    max_detections: int = MAX_DETECTIONS,
) -> Detections:
    """One image's detections from its boxes ``(N, 4)`` and class scores ``(N, K)`` (as
    :class:`~.fcos.DecodedFCOS` gives them): the (location, class) pairs scoring above
    ``score_threshold``, the ``candidates`` best of them, per-class NMS at IoU
    ``nms_threshold`` (``paddle.vision.ops.nms``), then the ``max_detections`` best."""
    classes = scores.shape[1]
    flat = scores.flatten()  # (N * K,): location n, class k at n * K + k
    keep = paddle.nonzero(flat > score_threshold).flatten()
    if keep.shape[0] == 0:
        return NO_DETECTIONS
    kept_scores = paddle.gather(flat, keep)
    if keep.shape[0] > candidates:
        kept_scores, order = paddle.topk(kept_scores, candidates)
        keep = paddle.gather(keep, order)
    location, label = keep // classes, keep % classes
    kept_boxes = paddle.gather(boxes, location)
    chosen = nms(
        kept_boxes,
        nms_threshold,
        scores=kept_scores,
        category_idxs=label,
        categories=sorted(set(label.numpy().tolist())),
        top_k=min(max_detections, int(keep.shape[0])),
    )
    return Detections(
        paddle.gather(kept_boxes, chosen).numpy().astype(np.float32),
        paddle.gather(kept_scores, chosen).numpy().astype(np.float32),
        paddle.gather(label, chosen).numpy().astype(np.int64),
    )
