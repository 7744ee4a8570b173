"""A trained run as an inference model: rebuilt from its recipe and checkpoint, or exported.

An export directory (``RUN_DIR/export/`` by default) holds::

    inference.json | inference.pdmodel, inference.pdiparams   paddle.jit.save (Paddle 3 | 2.6)
    model.onnx                                                 with format onnx only
    model.json    what prediction needs without the run: input size, normalisation, classes

The model takes ``image`` float32 [N, 3, S, S] (RGB, S = ``data.image_size``; SwinT layers
need the static size) and returns logits [N, num_classes] (per pixel, [N, num_classes, S, S],
for segmentation runs). Pixels are prepared as the run's
validation data were: bilinear resize to S x S, ``x / 255``, then ``(x - mean) / std``.
"""

from __future__ import annotations

import inspect
import math
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Literal

import numpy as np
import paddle

from .. import __version__
from ..data import Normalization
from ..files import RefusedPickle, read_json, safe_load, write_json, writing
from ..models.detection.fcos import DecodedFCOS
from ..recipe.schema import Detector
from ..runs.info import PREPROCESSING
from ..runs.layout import EXPORT
from .trained_model import ExportError, ModelInfo, TrainedRun, open_trained_run

Checkpoint = Literal["best", "last"]
ExportFormat = Literal["paddle", "onnx"]
EXPORTABLE_CHECKPOINTS: tuple[Checkpoint, ...] = ("best", "last")
FORMATS: tuple[ExportFormat, ...] = ("paddle", "onnx")
EXPORT_DIR = EXPORT
PREFIX = "inference"  # paddle.jit.save path prefix inside the export directory
METADATA = "model.json"
ONNX_FILE = "model.onnx"
ONNX_OPSET = 17  # the first opset with LayerNormalization
INPUT_NAME = "image"
ONNX_HINT = 'pip install -e ".[onnx]" in the swint checkout'
PARAMS_INFO = ".pdiparams.info"  # a pickle that paddle.jit.load reads (Paddle 2.x exports)
EXPORT_FILES = (
    METADATA,
    *(PREFIX + suffix for suffix in (".json", ".pdmodel", ".pdiparams", PARAMS_INFO)),
)  # what loading an export reads


def _one_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (Paddle's span many lines)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


@dataclass
class ExportResult:
    """Where :func:`export_run` wrote, what, and from which checkpoint."""

    directory: Path
    files: list[str]
    checkpoint: Path
    notes: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)


def _import_paddle2onnx() -> ModuleType:
    try:
        import paddle2onnx
    except Exception as exc:  # ImportError, or its own check of the Paddle version
        reason = "" if isinstance(exc, ModuleNotFoundError) else f" ({_one_line(exc)})"
        raise ExportError(f"--format onnx needs paddle2onnx{reason}: {ONNX_HINT}") from None
    return paddle2onnx


def _export_files(directory: Path) -> list[Path]:
    """The files of an earlier export in ``directory``."""
    if not directory.is_dir():
        return []
    names = [METADATA, ONNX_FILE]
    ours = [p for p in directory.iterdir() if p.name in names or p.name.startswith(PREFIX + ".")]
    return sorted(ours)  # inference.json/.pdmodel/.pdiparams and Paddle 2's .pdiparams.info


def _model_file(directory: Path) -> Path | None:
    """The saved program: ``inference.json`` (Paddle 3, PIR) or ``inference.pdmodel``."""
    for suffix in (".json", ".pdmodel"):
        if (directory / (PREFIX + suffix)).is_file():
            return directory / (PREFIX + suffix)
    return None


def save_inference_model(model: paddle.nn.Layer, image_size: int, directory: Path) -> None:
    """``paddle.jit.save`` of ``model`` (to_static, full graph) as ``directory/inference.*``
    for input ``image`` float32 [None, 3, image_size, image_size]."""
    spec = paddle.static.InputSpec([None, 3, image_size, image_size], "float32", INPUT_NAME)
    static = paddle.jit.to_static(model, input_spec=[spec], full_graph=True)
    paddle.jit.save(static, str(directory / PREFIX))


def _convert_to_onnx(paddle2onnx: ModuleType, directory: Path) -> None:
    model_file = _model_file(directory)
    if model_file is None:
        raise ExportError(f"{directory}: paddle.jit.save wrote no {PREFIX}.json or .pdmodel")
    options: dict[str, object] = {"save_file": str(directory / ONNX_FILE)}
    options["opset_version"] = ONNX_OPSET
    if "optimize_tool" in inspect.signature(paddle2onnx.export).parameters:
        # 2.x post-processes with Polygraphy by default, which pip-installs missing modules on
        # the fly; its onnxoptimizer pass list fails in 2.1. The C++ converter optimises anyway.
        options["optimize_tool"] = "None"
    try:
        paddle2onnx.export(str(model_file), str(directory / f"{PREFIX}.pdiparams"), **options)
    except Exception as exc:  # the converter reports unsupported operators this way
        # paddle2onnx logs conversion errors itself and then fails on the missing result
        message = f"paddle2onnx failed ({_one_line(exc)}); see its log above"
        raise ExportError(f"{directory}: {message}") from None
    if not (directory / ONNX_FILE).is_file():
        raise ExportError(f"{directory}: paddle2onnx wrote no {ONNX_FILE}; see its log above")


def export_run(
    run_dir: str | Path,
    fmt: ExportFormat = "paddle",
    checkpoint: Checkpoint = "best",
    out: str | Path | None = None,
    force: bool = False,
) -> ExportResult:
    """Export the run's model with the ``checkpoint`` weights to ``out`` (``RUN_DIR/export``).

    Writes ``inference.*`` (paddle.jit.save), ``model.onnx`` too for ``fmt="onnx"`` (converted
    from those files by paddle2onnx, which must be importable), and ``model.json``
    (:func:`export_metadata`). An existing export there is replaced only when ``force``; other
    files in ``out`` are left alone. User errors raise ExportError (a RunError) or DataError.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if checkpoint not in EXPORTABLE_CHECKPOINTS:
        raise ValueError(f"checkpoint must be one of {EXPORTABLE_CHECKPOINTS}, got {checkpoint!r}")
    run = open_trained_run(run_dir)
    converter = _import_paddle2onnx() if fmt == "onnx" else None
    directory = Path(out) if out is not None else run.path / EXPORT_DIR
    earlier = _export_files(directory)  # replaced only once the new export is whole
    if earlier and not force:
        raise ExportError(
            f"{directory}: an export is already there ({', '.join(p.name for p in earlier)}); "
            "use --force to replace it"
        )
    info, info_note = run.model_info()
    model, checkpoint_file, note = run.load_model(checkpoint)
    if run.recipe.task == "detection":
        model = DecodedFCOS(model)  # boxes and scores at every location
    staging = directory / f".staging-{os.getpid()}"
    try:
        with writing(staging):
            staging.mkdir(parents=True, exist_ok=True)
        try:
            save_inference_model(model, info.image_size, staging)
        except Exception as exc:  # an OSError, or Paddle's own error for a failed write
            _refuse_if_unwritable(staging, directory)
            raise ExportError(f"{directory}: paddle.jit.save failed ({_one_line(exc)})") from None
        _check_saved(model, staging, directory, info.image_size)
        if converter is not None:
            with writing(directory / ONNX_FILE):
                _convert_to_onnx(converter, staging)
        files = [*sorted(p.name for p in _export_files(staging)), METADATA]
        metadata = export_metadata(info, fmt, run, checkpoint_file, files)
        with writing(directory / METADATA):
            write_json(staging / METADATA, metadata)
        _replace_export(staging, directory, earlier)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    notes = [text for text in (note, info_note) if text]
    return ExportResult(directory, files, checkpoint_file, notes, metadata)


def _check_saved(model: paddle.nn.Layer, staging: Path, directory: Path, size: int) -> None:
    """Load the export in ``staging`` back and compare its outputs with ``model``'s: Paddle
    reports a full disk by leaving a truncated file, not by an error. WriteError (naming the
    file in ``directory``, with the reason a probe write finds) when it does not load back
    or disagrees; ExportError when the disk takes writes but the export still disagrees."""
    batch = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    model.eval()
    expected = run_outputs(model, batch)
    try:
        got = run_outputs(paddle.jit.load(str(staging / PREFIX)), batch)
        difference = max(float(np.max(np.abs(g - e))) for g, e in zip(got, expected, strict=True))
    except Exception as exc:  # Paddle raises many types for truncated files
        difference, reason = math.inf, _one_line(exc)
    else:
        reason = f"its outputs differ from the checkpoint's by {difference:.3g}"
    largest = max(float(np.max(np.abs(e))) for e in expected)
    if difference <= 1e-3 * (1.0 + largest):
        return
    _refuse_if_unwritable(staging, directory)
    raise ExportError(f"{directory}: the saved model does not load back as saved ({reason})")


def _refuse_if_unwritable(staging: Path, directory: Path) -> None:
    """WriteError naming ``directory/inference.pdiparams`` with the reason the file system
    gives a probe write into ``staging`` (a full disk, a read-only one), if it refuses."""
    with writing(directory / f"{PREFIX}.pdiparams"), open(staging / ".probe", "wb") as file:
        file.write(bytes(1 << 16))
        file.flush()
        os.fsync(file.fileno())


def _replace_export(staging: Path, directory: Path, earlier: list[Path]) -> None:
    """Move the new export's files from ``staging`` into ``directory``, then remove the
    files of the ``earlier`` export it does not replace (the other format's)."""
    new = sorted(p for p in staging.iterdir() if not p.name.startswith("."))
    for path in new:
        with writing(directory / path.name):
            os.replace(path, directory / path.name)
    names = {path.name for path in new}
    for stale in earlier:
        if stale.name not in names:
            with writing(stale):
                stale.unlink(missing_ok=True)


def export_metadata(
    info: ModelInfo, fmt: ExportFormat, run: TrainedRun, checkpoint: Path, files: list[str]
) -> dict:
    """The contents of ``model.json``: enough to prepare images and name classes."""
    size = info.image_size
    return {
        "format": fmt,
        "files": files,
        "input": {"name": INPUT_NAME, "shape": [None, 3, size, size], "dtype": "float32"},
        "image_size": size,
        "preprocessing": PREPROCESSING,
        "normalization": {
            "mean": list(info.normalization.mean),
            "std": list(info.normalization.std),
        },
        "classes": list(info.classes),
        "task": run.recipe.task,
        "output": OUTPUTS[run.recipe.task],
        **(_detection_metadata(run, info) if run.recipe.task == "detection" else {}),
        "run": str(run.path),
        "backbone": run.recipe.model.backbone,
        "checkpoint": f"checkpoints/{checkpoint.name}",
        "onnx_opset": ONNX_OPSET if fmt == "onnx" else None,
        "paddle": paddle.__version__,
        "swint": __version__,
        "created": datetime.now().isoformat(timespec="seconds"),
    }


OUTPUTS = {
    "classification": "logits [N, classes]",
    "segmentation": "logits [N, classes, image_size, image_size]",
    "detection": (
        "boxes [N, L, 4] as (x1, y1, x2, y2) input pixels, clipped to the image, and scores "
        "[N, L, classes] = sqrt(sigmoid(class logit) * sigmoid(centerness)), at each of the L "
        "locations, before any threshold or NMS: "
        "swint_cli.models.detection.select_detections(boxes[i], scores[i], **postprocessing) "
        "gives image i's detections"
    ),
}


def _detection_metadata(run: TrainedRun, info: ModelInfo) -> dict:
    """What turns a detector's outputs into detections named as the data names them."""
    settings = run.recipe.model.detector
    return {
        "category_ids": list(info.category_ids or range(len(info.classes))),
        "postprocessing": {
            "score_threshold": settings.score_threshold,
            "nms_threshold": settings.nms_threshold,
            "candidates": settings.candidates,
            "max_detections": settings.max_detections,
        },
    }


def read_postprocessing(directory: Path) -> Detector:
    """The detection post-processing settings in ``directory/model.json``."""
    file = directory / METADATA
    try:
        return Detector(**read_json(file)["postprocessing"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"{file}: no readable detection post-processing ({exc})") from None


def read_metadata(directory: Path) -> ModelInfo:
    """The :class:`ModelInfo` in ``directory/model.json``; ExportError if missing or damaged."""
    file = directory / METADATA
    if not file.is_file():
        raise ExportError(f"{directory}: no export there (no {METADATA}); run swint export first")
    try:
        data = read_json(file)
        norm = data["normalization"]
        return ModelInfo(
            int(data["image_size"]),
            Normalization(tuple(norm["mean"]), tuple(norm["std"])),
            tuple(str(name) for name in data["classes"]),
            tuple(int(i) for i in data["category_ids"]) if "category_ids" in data else None,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"{file}: not a readable export description ({exc})") from None


def _check_params_info(path: Path) -> None:
    """``paddle.jit.load`` unpickles this file when it exists: refuse it unless it is plain
    data, so that a planted file cannot run code."""
    if not path.is_file():
        return
    try:
        with open(path, "rb") as file:
            safe_load(file)
    except RefusedPickle as exc:
        raise ExportError(f"{path}: not loaded: {exc}") from None
    except Exception as exc:  # a malformed pickle
        raise ExportError(f"{path}: not a readable export file ({_one_line(exc)})") from None


def load_exported(directory: str | Path) -> tuple[paddle.nn.Layer, ModelInfo]:
    """``paddle.jit.load`` of the export in ``directory`` (eval mode) and its ``model.json``."""
    directory = Path(directory)
    info = read_metadata(directory)
    if _model_file(directory) is None:
        raise ExportError(f"{directory}: no {PREFIX}.json or {PREFIX}.pdmodel; export again")
    _check_params_info(directory / (PREFIX + PARAMS_INFO))
    try:
        layer = paddle.jit.load(str(directory / PREFIX))
    except Exception as exc:  # Paddle raises many types for unreadable programs
        raise ExportError(f"{directory}: cannot load the export ({_one_line(exc)})") from None
    layer.eval()
    return layer, info


def run_outputs(model: paddle.nn.Layer, batch: np.ndarray) -> list[np.ndarray]:
    """``model`` (dygraph or jit-loaded) on float32 [N, 3, S, S] -> its output arrays."""
    with paddle.no_grad():
        outputs = model(paddle.to_tensor(np.ascontiguousarray(batch, dtype=np.float32)))
    if isinstance(outputs, (tuple, list)):
        return [o.numpy() for o in outputs]
    return [outputs.numpy()]


def run_logits(model: paddle.nn.Layer, batch: np.ndarray) -> np.ndarray:
    """``model`` (dygraph or jit-loaded) on float32 [N, 3, S, S] -> logits float32 [N, C]."""
    return run_outputs(model, batch)[0]
