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
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Literal

import numpy as np
import paddle

from .. import __version__
from ..data import Normalization, SampleTransform, build_datasets
from ..models import build_model
from ..recipe import Recipe, load_recipe
from ..recipe.schema import Transforms
from ..train.run_dir import RunError, write_atomic

Checkpoint = Literal["best", "last"]
ExportFormat = Literal["paddle", "onnx"]
CHECKPOINTS: tuple[Checkpoint, ...] = ("best", "last")
FORMATS: tuple[ExportFormat, ...] = ("paddle", "onnx")
EXPORT_DIR = "export"
PREFIX = "inference"  # paddle.jit.save path prefix inside the export directory
METADATA = "model.json"
ONNX_FILE = "model.onnx"
ONNX_OPSET = 17  # the first opset with LayerNormalization
INPUT_NAME = "image"
ONNX_HINT = 'pip install "swint[onnx]"'

Logits = Callable[[np.ndarray], np.ndarray]  # float32 [N, 3, S, S] -> float32 [N, classes]


class ExportError(RunError):
    """A run, checkpoint or export that cannot be used; the message is one line for the user."""


def _one_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (Paddle's span many lines)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


@dataclass(frozen=True)
class ModelInfo:
    """What turns image files into model input and logits into names."""

    image_size: int
    normalization: Normalization  # applied to pixels in [0, 1]; identity when not normalised
    classes: tuple[str, ...]

    def transform(self) -> SampleTransform:
        """The validation transform: uint8 [H, W, 3] -> float32 [3, S, S]."""
        return SampleTransform(self.image_size, Transforms(), self.normalization, augment=False)


@dataclass
class TrainedRun:
    """A run directory with a readable ``recipe.yaml``; see :func:`open_run`."""

    path: Path
    recipe: Recipe

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint(self, which: Checkpoint = "best") -> tuple[Path, str | None]:
        """``(checkpoint file, note)``. ``best`` falls back to ``last`` when the run has no
        ``best.pdparams`` yet, and the note says so; no usable file raises ExportError."""
        if which not in CHECKPOINTS:
            raise ValueError(f"checkpoint must be one of {CHECKPOINTS}, got {which!r}")
        wanted = self.checkpoints / f"{which}.pdparams"
        if wanted.is_file():
            return wanted, None
        last = self.checkpoints / "last.pdparams"
        if which == "best" and last.is_file():
            return last, "checkpoints/best.pdparams is missing; using checkpoints/last.pdparams"
        missing = "best.pdparams nor last.pdparams" if which == "best" else "last.pdparams"
        raise ExportError(
            f"{self.path}: no checkpoint (checkpoints/ has no {missing}); "
            "has the run finished an epoch?"
        )

    def model_info(self) -> tuple[ModelInfo, SampleTransform]:
        """The class names and the validation transform of the run's data (``data.path`` must
        still be readable for cifar10 and image_folder runs)."""
        data = self.recipe.data.model_copy(update={"train_size": 1, "val_size": 1})
        _, val, classes = build_datasets(data, self.recipe.training.seed)
        if len(classes) != self.recipe.model.num_classes:
            raise ExportError(
                f"{self.path}: the data now has {len(classes)} classes but the model was "
                f"trained for {self.recipe.model.num_classes}"
            )
        transform = val.transform
        return ModelInfo(data.image_size, transform.normalization, tuple(classes)), transform

    def load_model(self, checkpoint: Path) -> paddle.nn.Layer:
        """The recipe's model with ``checkpoint``'s weights, in eval mode."""
        section = self.recipe.model.model_copy(update={"weights": None})  # the checkpoint has all
        model, _ = build_model(section, self.recipe.data.image_size)
        try:
            state = paddle.load(str(checkpoint))
        except Exception as exc:  # Paddle raises many types for a damaged file
            raise ExportError(f"{checkpoint}: cannot load checkpoint ({_one_line(exc)})") from None
        expected = {name: list(value.shape) for name, value in model.state_dict().items()}
        found = {name: list(value.shape) for name, value in state.items()}
        if found != expected:
            differing = sorted(set(found) ^ set(expected)) or [
                name for name in expected if found[name] != expected[name]
            ]
            raise ExportError(
                f"{checkpoint}: does not fit the recipe's model ({len(differing)} parameters "
                f"differ, e.g. {differing[0]})"
            )
        model.set_state_dict(state)
        model.eval()
        return model


def open_run(path: str | Path, classification_only: bool = False) -> TrainedRun:
    """The run in ``path``: a directory holding ``recipe.yaml`` (as ``swint train`` writes).
    Raises ExportError when it is not one (or, with ``classification_only``, when it is a
    segmentation run), RecipeError when its recipe does not load.
    """
    path = Path(path)
    if not path.is_dir():
        raise ExportError(f"{path}: no such run directory")
    if not (path / "recipe.yaml").is_file():
        raise ExportError(f"{path}: not a run directory (no recipe.yaml)")
    recipe = load_recipe(path / "recipe.yaml")
    if classification_only and recipe.task != "classification":
        raise ExportError(f"{path}: a {recipe.task} run; predict handles classification runs")
    return TrainedRun(path, recipe)


@dataclass
class ExportResult:
    """Where :func:`export_run` wrote, what, and from which checkpoint."""

    directory: Path
    files: list[str]
    checkpoint: Path
    note: str | None = None
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
    return sorted(p for p in directory.iterdir() if p.name in names or p.stem == PREFIX)


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
    run = open_run(run_dir)
    converter = _import_paddle2onnx() if fmt == "onnx" else None
    directory = Path(out) if out is not None else run.path / EXPORT_DIR
    earlier = _export_files(directory)
    if earlier and not force:
        raise ExportError(
            f"{directory}: an export is already there ({', '.join(p.name for p in earlier)}); "
            "use --force to replace it"
        )
    checkpoint_file, note = run.checkpoint(checkpoint)
    info, _ = run.model_info()
    model = run.load_model(checkpoint_file)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for stale in earlier:
            stale.unlink()
    except OSError as exc:
        raise ExportError(f"{directory}: cannot write ({exc.strerror or exc})") from None
    save_inference_model(model, info.image_size, directory)
    if converter is not None:
        _convert_to_onnx(converter, directory)
    files = [*sorted(p.name for p in _export_files(directory)), METADATA]
    metadata = export_metadata(info, fmt, run, checkpoint_file, files)
    write_atomic(directory / METADATA, json.dumps(metadata, indent=2) + "\n")
    return ExportResult(directory, files, checkpoint_file, note, metadata)


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
        "preprocessing": (
            "RGB, bilinear resize to image_size x image_size, x / 255, (x - mean) / std per channel"
        ),
        "normalization": {
            "mean": list(info.normalization.mean),
            "std": list(info.normalization.std),
        },
        "classes": list(info.classes),
        "task": run.recipe.task,
        "output": (
            "logits [N, classes, image_size, image_size]"
            if run.recipe.task == "segmentation"
            else "logits [N, classes]"
        ),
        "run": str(run.path),
        "backbone": run.recipe.model.backbone,
        "checkpoint": f"checkpoints/{checkpoint.name}",
        "onnx_opset": ONNX_OPSET if fmt == "onnx" else None,
        "paddle": paddle.__version__,
        "swint": __version__,
        "created": datetime.now().isoformat(timespec="seconds"),
    }


def read_metadata(directory: Path) -> ModelInfo:
    """The :class:`ModelInfo` in ``directory/model.json``; ExportError if missing or damaged."""
    file = directory / METADATA
    if not file.is_file():
        raise ExportError(f"{directory}: no export there (no {METADATA}); run swint export first")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        norm = data["normalization"]
        return ModelInfo(
            int(data["image_size"]),
            Normalization(tuple(norm["mean"]), tuple(norm["std"])),
            tuple(str(name) for name in data["classes"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"{file}: not a readable export description ({exc})") from None


def load_exported(directory: str | Path) -> tuple[paddle.nn.Layer, ModelInfo]:
    """``paddle.jit.load`` of the export in ``directory`` (eval mode) and its ``model.json``."""
    directory = Path(directory)
    info = read_metadata(directory)
    if _model_file(directory) is None:
        raise ExportError(f"{directory}: no {PREFIX}.json or {PREFIX}.pdmodel; export again")
    try:
        layer = paddle.jit.load(str(directory / PREFIX))
    except Exception as exc:  # Paddle raises many types for unreadable programs
        raise ExportError(f"{directory}: cannot load the export ({_one_line(exc)})") from None
    layer.eval()
    return layer, info


def run_logits(model: paddle.nn.Layer, batch: np.ndarray) -> np.ndarray:
    """``model`` (dygraph or jit-loaded) on float32 [N, 3, S, S] -> logits float32 [N, C]."""
    with paddle.no_grad():
        return model(paddle.to_tensor(np.ascontiguousarray(batch, dtype=np.float32))).numpy()
