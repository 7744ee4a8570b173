"""Trained runs as inference models: ``swint export`` and ``swint predict``.

:func:`export_run` writes ``RUN_DIR/export/`` (paddle.jit.save files, optionally ONNX, and
``model.json``); :func:`load_classifier` + :func:`classify` give the top-k classes of image
files from a run's checkpoint or its export.
"""

from .inference_model import (
    EXPORTABLE_CHECKPOINTS,
    FORMATS,
    ExportResult,
    export_run,
    load_exported,
    read_metadata,
    run_logits,
    save_inference_model,
)
from .predict import Classifier, Prediction, classify, load_classifier, read_image, top_k
from .trained_model import ExportError, ModelInfo, TrainedRun, open_trained_run

__all__ = [
    "EXPORTABLE_CHECKPOINTS",
    "FORMATS",
    "Classifier",
    "ExportError",
    "ExportResult",
    "ModelInfo",
    "Prediction",
    "TrainedRun",
    "classify",
    "export_run",
    "load_classifier",
    "load_exported",
    "open_trained_run",
    "read_image",
    "read_metadata",
    "run_logits",
    "save_inference_model",
    "top_k",
]
