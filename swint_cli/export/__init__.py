"""Trained runs as inference models: ``swint export`` and ``swint predict``.

:func:`export_run` writes ``RUN_DIR/export/`` (paddle.jit.save files, optionally ONNX, and
``model.json``); :func:`load_classifier` + :func:`classify` give the top-k classes of image
files from a run's checkpoint or its export, :func:`load_detector` + :func:`detect` the
objects in them (:func:`write_detections`: COCO results and pictures).
"""

from .detect import Detector, ImageDetections, detect, load_detector, write_detections
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
    "Detector",
    "ExportError",
    "ExportResult",
    "ImageDetections",
    "ModelInfo",
    "Prediction",
    "TrainedRun",
    "classify",
    "detect",
    "export_run",
    "load_classifier",
    "load_detector",
    "load_exported",
    "open_trained_run",
    "read_image",
    "read_metadata",
    "run_logits",
    "save_inference_model",
    "top_k",
    "write_detections",
]
