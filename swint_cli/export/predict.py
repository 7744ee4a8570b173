"""Classifying image files with a trained run: preprocessing as in validation, top-k classes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import paddle

from ..data import DataError, ImageFiles, SampleTransform
from ..runs.layout import inside
from .inference_model import EXPORT_DIR, EXPORT_FILES, Checkpoint, load_exported, run_logits
from .trained_model import ExportError, ModelInfo, TrainedRun, open_trained_run

BATCH = 16  # images per forward pass


@dataclass
class Classifier:
    """A model with what it needs around it; ``source`` says which weights are in use."""

    model: paddle.nn.Layer
    info: ModelInfo
    transform: SampleTransform
    source: str
    notes: list[str] = field(default_factory=list)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """float32 [N, 3, S, S] (already transformed) -> logits float32 [N, classes]."""
        return run_logits(self.model, batch)


@dataclass(frozen=True)
class Prediction:
    """The ``k`` most probable classes of one image, most probable first."""

    image: Path
    top: list[tuple[str, float]]


@dataclass
class LoadedModel:
    """A run's model for prediction, where its weights came from, and notes to show."""

    run: TrainedRun
    model: paddle.nn.Layer
    info: ModelInfo
    source: str
    notes: list[str] = field(default_factory=list)


def load_for_prediction(
    run_dir: str | Path, task: str, checkpoint: Checkpoint = "best", exported: bool = False
) -> LoadedModel:
    """The ``task`` run's model: the recipe's with ``checkpoint`` weights (``best`` falls back
    to ``last``, with a note), or with ``exported`` the model in ``RUN_DIR/export``.

    Checkpoint mode takes class names and normalisation from the run's ``run.json``, export
    mode from ``export/model.json``. Raises user errors (ExportError, RecipeError, ...) with
    one-line messages, among them a run of another task.
    """
    run = open_trained_run(run_dir, predictable=True)
    if run.recipe.task != task:
        raise ExportError(f"{run.path}: a {run.recipe.task} run, not a {task} run")
    if exported:
        for name in EXPORT_FILES:  # what loading the export reads must be the run's own
            inside(run.path, f"{EXPORT_DIR}/{name}")
        model, info = load_exported(run.path / EXPORT_DIR)
        return LoadedModel(run, model, info, f"{run.path / EXPORT_DIR}")
    info, info_note = run.model_info()
    model, file, note = run.load_model(checkpoint)
    notes = [text for text in (note, info_note) if text]
    return LoadedModel(run, model, info, str(file), notes)


def load_classifier(
    run_dir: str | Path, checkpoint: Checkpoint = "best", exported: bool = False
) -> Classifier:
    """The run's classifier (:func:`load_for_prediction`)."""
    loaded = load_for_prediction(run_dir, "classification", checkpoint, exported)
    info = loaded.info
    return Classifier(loaded.model, info, info.transform(), loaded.source, loaded.notes)


def read_image(path: Path) -> np.ndarray:
    """The image file at ``path`` as uint8 [H, W, 3] RGB; DataError naming the file otherwise."""
    if not path.exists():
        raise DataError(f"{path}: no such image file")
    if not path.is_file():
        raise DataError(f"{path}: not an image file")
    return ImageFiles([path])[0]


Readable = list[tuple[Path, np.ndarray]]  # (file, uint8 [H, W, 3])


def read_images(images: Sequence[Path]) -> tuple[Readable, list[DataError]]:
    """The readable images among ``images`` with their pixels, in order, and the errors of
    the others."""
    readable: Readable = []
    failures: list[DataError] = []
    for path in map(Path, images):
        try:
            readable.append((path, read_image(path)))
        except DataError as exc:
            failures.append(exc)
    return readable, failures


def prepared_batches(
    readable: Readable, transform: SampleTransform
) -> Iterator[tuple[Readable, np.ndarray]]:
    """``readable`` in chunks of :data:`BATCH`, each with its images prepared as the run's
    validation data: float32 [n, 3, S, S]."""
    for start in range(0, len(readable), BATCH):
        chunk = readable[start : start + BATCH]
        yield chunk, np.stack([transform(image, None) for _, image in chunk])


def top_k(logits: np.ndarray, classes: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
    """Per row of logits [N, C]: the ``min(k, C)`` classes of highest softmax probability as
    ``(name, probability)``, most probable first (ties: lower class index first)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    scores = np.asarray(logits, dtype=np.float64)
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    probabilities = scores / scores.sum(axis=1, keepdims=True)
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return [
        [(classes[i], float(row[i])) for i in ranks]
        for row, ranks in zip(probabilities, order, strict=True)
    ]


def classify(
    classifier: Classifier, images: Sequence[Path], k: int = 5
) -> tuple[list[Prediction], list[DataError]]:
    """The top ``k`` classes of every readable image (transformed as the run's validation
    data), in the order given, and the errors of the images that could not be read."""
    readable, failures = read_images(images)
    predictions: list[Prediction] = []
    for chunk, batch in prepared_batches(readable, classifier.transform):
        ranked = top_k(classifier.logits(batch), classifier.info.classes, k)
        predictions += [Prediction(path, top) for (path, _), top in zip(chunk, ranked, strict=True)]
    return predictions, failures
