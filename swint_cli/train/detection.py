"""What detection training differs in: FCOS's loss, and COCO AP over the validation set.

Batches are (images, labels) with labels a dict of ``boxes`` ``[B, M, 4]`` (input pixels),
``classes`` ``[B, M]`` (-1 pads) and ``index`` ``[B]`` (the image's position in its
dataset). Validation decodes every location, keeps the detections
:func:`~swint_cli.models.detection.select_detections` selects with the recipe's
``model.detector`` settings, maps them back to each image's own pixels and scores them with
pycocotools: ``val_map`` (mAP@[.5:.95]), ``val_map50``, ``val_map75``, and ``val_loss`` (the
training loss). The evaluation leaves ``val_predictions.json`` (COCO results, the data's
category ids), ``val_annotations.json`` (the ground truth of the images evaluated) and
``val_class_ap.json`` in the run.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import paddle

from ..data import batches_of
from ..data.loaders import DetectionDataset
from ..models.detection import (
    Detections,
    DetectorOutputs,
    FCOSLoss,
    Locations,
    select_detections,
)
from ..models.detection.fcos import decode_outputs
from ..recipe.schema import Detector
from ..runs import EPOCH_COLUMNS
from .coco_metrics import coco_scores
from .distributed import ParallelContext, all_gather_objects, all_reduce_sums

PREDICTIONS, ANNOTATIONS, CLASS_AP = (
    "val_predictions.json",
    "val_annotations.json",
    "val_class_ap.json",
)


class Detection:
    """Boxes and their classes per image (FCOS)."""

    name = "detection"
    key_metric = "val_map"
    epoch_columns = (
        *(column for column in EPOCH_COLUMNS if "acc" not in column),
        "val_map",
        "val_map50",
        "val_map75",
    )

    def __init__(self, locations: Locations, settings: Detector, num_classes: int) -> None:
        self.locations, self.settings = locations, settings
        self.criterion = FCOSLoss(locations, num_classes, settings.center_sampling_radius)

    def labels(self, batch_labels: dict) -> dict:
        return batch_labels

    def loss(self, outputs: tuple, labels: dict) -> paddle.Tensor:
        return self.criterion(DetectorOutputs(*outputs), labels["boxes"], labels["classes"])

    def counts(self, outputs: tuple, labels: dict) -> tuple[int, int]:
        """No per-batch accuracy: (0, 0)."""
        return 0, 0

    def detections(self, outputs: tuple, image_size: int) -> list[Detections]:
        """Each image's :class:`~swint_cli.models.detection.Detections` in input pixels."""
        criterion = self.criterion
        boxes, scores = decode_outputs(outputs, criterion.points, criterion.scales, image_size)
        settings = self.settings
        return [
            select_detections(
                boxes[i],
                scores[i],
                settings.score_threshold,
                settings.nms_threshold,
                settings.candidates,
                settings.max_detections,
            )
            for i in range(boxes.shape[0])
        ]


BENCH_BOXES = 4  # per image in random_boxes


def random_boxes(batch: int, image_size: int, num_classes: int, seed: int = 0) -> dict:
    """Labels of the loader's form for ``batch`` images: :data:`BENCH_BOXES` boxes each, of
    sides 1/8 to 1/2 of the image at uniform positions and classes (for timing a step)."""
    rng = np.random.default_rng(seed)
    sides = rng.uniform(image_size / 8, image_size / 2, (batch, BENCH_BOXES, 2))
    corners = rng.uniform(0, 1, (batch, BENCH_BOXES, 2)) * (image_size - sides)
    boxes = np.concatenate([corners, corners + sides], axis=-1).astype(np.float32)
    return {
        "boxes": paddle.to_tensor(boxes),
        "classes": paddle.to_tensor(rng.integers(0, num_classes, (batch, BENCH_BOXES))),
        "index": paddle.arange(batch, dtype="int64"),
    }


def results_of(dataset: DetectionDataset, index: int, found: Detections) -> list[dict]:
    """COCO results entries of image ``index``'s detections ``found`` (in input pixels)."""
    width, height = dataset.split.sizes[index]
    size = dataset.transform.size
    detections = found.scaled(width / size, height / size)
    ids = [category.id for category in dataset.categories]
    return detections.coco_results(dataset.split.image_ids[index], ids)


@paddle.no_grad()
def evaluate_detection(
    model: paddle.nn.Layer,
    loader: paddle.io.DataLoader,
    context: ParallelContext,
    limit: int | None,
    task: Detection,
) -> tuple[dict[str, float], dict[str, object]]:
    """(metrics, files) over the ``loader``'s batches (at most ``limit``), all ranks'
    detections gathered before scoring, each image's once (padded shards repeat images)."""
    dataset: DetectionDataset = loader.dataset
    was_training = model.training
    model.eval()
    loss_sum, images, results = 0.0, 0, {}
    with batches_of(loader) as batches:
        for batch, labels in itertools.islice(batches, limit):
            outputs = model(batch)
            count = batch.shape[0]
            loss_sum += float(task.loss(outputs, labels)) * count
            images += count
            indices = labels["index"].numpy().tolist()
            for index, found in zip(
                indices, task.detections(outputs, batch.shape[-1]), strict=True
            ):
                results.setdefault(index, results_of(dataset, index, found))
    if was_training:
        model.train()
    loss_sum, images = all_reduce_sums([loss_sum, float(images)], context)
    merged: dict[int, list[dict]] = {}
    for part in all_gather_objects(results, context):
        for index, entries in part.items():
            merged.setdefault(index, entries)
    evaluated = sorted(merged)
    detections = [entry for index in evaluated for entry in merged[index]]
    truth = dataset.split.subset(evaluated).ground_truth(dataset.categories)
    scores = coco_scores(truth, detections)
    metrics = {
        "val_loss": loss_sum / images if images else math.nan,
        "val_map": scores.map,
        "val_map50": scores.map50,
        "val_map75": scores.map75,
    }
    per_class = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in scores.per_class
    ]
    files = {PREDICTIONS: detections, ANNOTATIONS: truth, CLASS_AP: per_class}
    return metrics, files
