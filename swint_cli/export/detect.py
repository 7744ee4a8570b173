"""Detecting objects in image files with a trained detection run: boxes, classes and scores
per image, as a COCO results file and as pictures with the boxes drawn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import paddle
from PIL import Image, ImageDraw

from ..data import DataError, SampleTransform
from ..files import write_json, writing
from ..models.detection import Detections, select_detections
from ..models.detection.fcos import DecodedFCOS
from ..recipe.schema import Detector as DetectorSettings
from .inference_model import (
    EXPORT_DIR,
    Checkpoint,
    read_postprocessing,
)
from .predict import load_for_prediction, prepared_batches, read_image, read_images
from .trained_model import ExportError, ModelInfo

PREDICTIONS = "predictions.json"
SCORE_THRESHOLD = 0.3  # what predict keeps and draws unless told otherwise
PALETTE = [
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
]


@dataclass
class Detector:
    """A detection model (``images -> (boxes, scores)``, :class:`DecodedFCOS` or its
    export) with what it needs around it; ``source`` says which weights are in use."""

    model: paddle.nn.Layer
    info: ModelInfo
    settings: DetectorSettings
    transform: SampleTransform
    source: str
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImageDetections:
    """One image's detections in its own pixels."""

    image: Path
    size: tuple[int, int]  # (width, height)
    detections: Detections


def load_detector(
    run_dir: str | Path, checkpoint: Checkpoint = "best", exported: bool = False
) -> Detector:
    """The run's detector (:func:`~.predict.load_for_prediction`): FCOS decoding boxes and
    scores, with the recipe's post-processing settings, or with ``exported`` the export and
    its ``model.json`` settings."""
    loaded = load_for_prediction(run_dir, "detection", checkpoint, exported)
    if exported:
        model, settings = loaded.model, read_postprocessing(loaded.run.path / EXPORT_DIR)
    else:
        model, settings = DecodedFCOS(loaded.model), loaded.run.recipe.model.detector
    info = loaded.info
    return Detector(model, info, settings, info.transform(), loaded.source, loaded.notes)


def detect(
    detector: Detector, images: Sequence[Path], score_threshold: float = SCORE_THRESHOLD
) -> tuple[list[ImageDetections], list[DataError]]:
    """The detections scoring above ``score_threshold`` in every readable image (prepared as
    the run's validation data), in the order given, and the errors of the unreadable ones."""
    readable, failures = read_images(images)
    settings, size = detector.settings, detector.info.image_size
    found: list[ImageDetections] = []
    for chunk, batch in prepared_batches(readable, detector.transform):
        with paddle.no_grad():
            boxes, scores = detector.model(paddle.to_tensor(batch))
        for index, (path, image) in enumerate(chunk):
            height, width = image.shape[:2]
            selected = select_detections(
                boxes[index],
                scores[index],
                score_threshold,
                settings.nms_threshold,
                settings.candidates,
                settings.max_detections,
            )
            found.append(
                ImageDetections(path, (width, height), selected.scaled(width / size, height / size))
            )
    return found, failures


def coco_results(found: Sequence[ImageDetections], info: ModelInfo) -> list[dict]:
    """The detections in COCO's results format: ``image_id`` (the image's position, from
    1), its ``file_name``, ``category_id`` (the data's id of the class), ``category``,
    ``bbox`` as ``[x, y, w, h]`` pixels and ``score``."""
    ids = info.category_ids or tuple(range(len(info.classes)))
    return [
        {"image_id": number, "file_name": str(item.image), **entry, "category": info.classes[label]}
        for number, item in enumerate(found, start=1)
        for entry, label in zip(
            item.detections.coco_results(number, ids), item.detections.classes, strict=True
        )
    ]


def drawn(image: np.ndarray, detections: Detections, classes: Sequence[str]) -> Image.Image:
    """``image`` with each detection's box and ``class score`` label drawn in its class's colour."""
    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    for (x1, y1, x2, y2), score, label in zip(
        detections.boxes.tolist(), detections.scores, detections.classes, strict=True
    ):
        colour = PALETTE[int(label) % len(PALETTE)]
        draw.rectangle(
            [x1, y1, x2, y2], outline=colour, width=max(1, round(min(picture.size) / 150))
        )
        draw.text((x1 + 2, y1 + 1), f"{classes[int(label)]} {score:.2f}", fill=colour)
    return picture


def picture_names(images: Sequence[Path]) -> list[str]:
    """A PNG name per image: its stem, numbered when two images share one."""
    stems = [path.stem for path in images]
    return [
        f"{stem}.png" if stems.count(stem) == 1 else f"{stem}-{number}.png"
        for number, stem in enumerate(stems, start=1)
    ]


def refuse_earlier(out: Path, force: bool) -> None:
    """ExportError when ``out`` holds an earlier ``predictions.json`` and not ``force``."""
    if (out / PREDICTIONS).exists() and not force:
        raise ExportError(f"{out}: already has {PREDICTIONS}; use --force to replace it")


def write_detections(
    found: Sequence[ImageDetections], info: ModelInfo, out: Path, force: bool = False
) -> list[Path]:
    """``out/predictions.json`` and one PNG per image with its detections drawn; the paths
    written. An ``out`` holding an earlier ``predictions.json`` is refused unless ``force``."""
    refuse_earlier(out, force)
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    written = []
    for item, name in zip(found, picture_names([item.image for item in found]), strict=True):
        path = out / name
        with writing(path):
            drawn(read_image(item.image), item.detections, info.classes).save(path)
        written.append(path)
    write_json(out / PREDICTIONS, coco_results(found, info))
    return [out / PREDICTIONS, *written]
