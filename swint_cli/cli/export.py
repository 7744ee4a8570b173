"""``swint export`` and ``swint predict``: a trained run as an inference model."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .console import stderr
from .errors import EXIT_USAGE, user_errors


class CheckpointChoice(str, Enum):
    best = "best"
    last = "last"


class FormatChoice(str, Enum):
    paddle = "paddle"
    onnx = "onnx"


RunArgument = Annotated[
    Path, typer.Argument(help="Run directory written by swint train.", show_default=False)
]
CheckpointOption = Annotated[
    CheckpointChoice,
    typer.Option(help="Weights to use; best falls back to last when the run has no best yet."),
]


def _notes(notes: list[str]) -> None:
    for note in notes:
        stderr.print(f"note: {note}", markup=False)


def export_command(
    run_dir: RunArgument,
    format: Annotated[
        FormatChoice, typer.Option("--format", help="paddle (jit.save) or onnx (paddle2onnx).")
    ] = FormatChoice.paddle,
    checkpoint: CheckpointOption = CheckpointChoice.best,
    out: Annotated[
        Path | None, typer.Option(help="Export directory (default: RUN_DIR/export).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing export.")] = False,
) -> None:
    """Export a run's model for inference: paddle.jit.save files (or ONNX) and model.json."""
    from ..export import export_run

    with user_errors():
        result = export_run(run_dir, format.value, checkpoint.value, out, force)
    _notes(result.notes)
    typer.echo(f"exported {result.checkpoint} as {format.value}: {result.directory}")
    typer.echo(f"  files: {', '.join(result.files)}")


def predict_command(
    run_dir: RunArgument,
    images: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, ...).")],
    top: Annotated[int, typer.Option(min=1, help="Classes to show per image.")] = 5,
    checkpoint: CheckpointOption = CheckpointChoice.best,
    exported: Annotated[
        bool, typer.Option("--exported", help="Use the model in RUN_DIR/export (swint export).")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Detection: write predictions.json and one PNG per image here."),
    ] = None,
    score_threshold: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Detection: the lowest score kept.")
    ] = 0.3,
    force: Annotated[
        bool, typer.Option("--force", help="Detection: replace predictions already in --out.")
    ] = False,
) -> None:
    """Classify image files with a trained run (each image's top classes), or detect objects
    with a detection run (each image's boxes; --out writes COCO results and pictures).

    Every readable image is predicted; the unreadable ones are listed after, one error line
    each, and make the exit code 2."""
    from ..export import classify, load_classifier, open_trained_run

    with user_errors():
        if open_trained_run(run_dir, predictable=True).recipe.task == "detection":
            _detect(run_dir, images, checkpoint, exported, out, score_threshold, force)
            return
        classifier = load_classifier(run_dir, checkpoint.value, exported)  # type: ignore[arg-type]
    predictions, failures = classify(classifier, images, top)
    _notes(classifier.notes)
    stderr.print(f"model: {classifier.source}", markup=False)
    width = max(len(name) for name in classifier.info.classes)
    for prediction in predictions:
        typer.echo(str(prediction.image))
        for rank, (name, probability) in enumerate(prediction.top, start=1):
            typer.echo(f"  {rank}. {name:<{width}}  {probability:7.2%}")
    for failure in failures:
        stderr.print(f"error: {failure}", markup=False)
    if failures:
        raise typer.Exit(EXIT_USAGE)


def _detect(
    run_dir: Path,
    images: list[Path],
    checkpoint: CheckpointChoice,
    exported: bool,
    out: Path | None,
    score_threshold: float,
    force: bool,
) -> None:
    """``swint predict`` of a detection run: one line per detection, files with ``--out``."""
    from ..export import detect, load_detector, write_detections
    from ..export.detect import refuse_earlier

    detector = load_detector(run_dir, checkpoint.value, exported)  # type: ignore[arg-type]
    if out is not None:
        refuse_earlier(out, force)  # before any image is read
    found, failures = detect(detector, images, score_threshold)
    _notes(detector.notes)
    stderr.print(f"model: {detector.source}", markup=False)
    classes = detector.info.classes
    for item in found:
        typer.echo(f"{item.image}: {len(item.detections)} above {score_threshold:g}")
        detections = item.detections
        for (x1, y1, x2, y2), score, label in zip(
            detections.boxes.tolist(), detections.scores, detections.classes, strict=True
        ):
            typer.echo(
                f"  {classes[label]:<12} {score:5.2f}  [{x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}]"
            )
    if out is not None:
        written = write_detections(found, detector.info, out, force)
        typer.echo(f"wrote {written[0]} and {len(written) - 1} pictures in {out}")
    for failure in failures:
        stderr.print(f"error: {failure}", markup=False)
    if failures:
        raise typer.Exit(EXIT_USAGE)
