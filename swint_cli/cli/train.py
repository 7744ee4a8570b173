"""``swint train``: build the recipe's model and train it into a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .console import stderr
from .errors import user_errors
from .session_state import runtime_settings


def train_command(
    recipe: Annotated[
        Path | None,
        typer.Argument(help="Recipe YAML file (not needed with --resume).", show_default=False),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="Override a recipe key, e.g. --set training.epochs=2 (repeatable)."
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(help="Continue the run in this directory from its last checkpoint."),
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu or gpu (default: the recipe's).")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Train this many epochs.")] = None,
    limit_batches: Annotated[
        int | None, typer.Option(min=1, help="At most N train and N val batches per epoch.")
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Plain log lines, no progress bar.")
    ] = False,
) -> None:
    """Train the model a recipe describes; write tables and checkpoints to runs/.

    Exit code 0 finished, 1 failed, 2 bad input or a run another process is training, 75 a
    file could not be written (a full disk; resume once it can), 130 interrupted (resume
    with --resume). Faults and what survives them: docs/runs.md.
    """
    from ..errors import UserError
    from ..recipe import load_recipe
    from ..train import StopRequest, TrainOptions, train

    if device not in (None, "cpu", "gpu"):
        raise typer.BadParameter("expected cpu or gpu", param_hint="--device")
    if recipe is None and resume is None:
        raise typer.BadParameter("give a recipe file or --resume RUN_DIR", param_hint="RECIPE")
    with user_errors():
        overrides = overrides or []
        if resume is not None and (recipe is not None or overrides):
            given = f"--set {overrides[0]}" if overrides else f"RECIPE {recipe}"
            raise UserError(
                f"{given}: a resumed run keeps the recipe it started with ({resume}/recipe.yaml);"
                " --epochs and --limit-batches may change, anything else needs a new run"
            )
        loaded = load_recipe(recipe, overrides) if resume is None else None
        options = TrainOptions(
            resume=resume,
            quiet=quiet,
            device=device,
            epochs=epochs,
            limit_batches=limit_batches,
            runtime=runtime_settings(),
        )
        stop = StopRequest()
        stop.install()
        try:
            result = train(loaded, options, stop)  # type: ignore[arg-type]
        finally:
            stop.restore()
    if result.message:
        stderr.print(result.message)
    if result.run_dir is not None:
        typer.echo(f"{result.status}: {result.run_dir}")
        for line in next_commands(result.run_dir, result.status, result.task):
            typer.echo(line)
    raise typer.Exit(result.exit_code)


def next_commands(run: Path, status: str, task: str) -> list[str]:
    """What a user runs next on ``run``: resume it when it was interrupted; compare it,
    export it and (for classification and detection) predict with it once it has
    checkpoints."""
    if status == "interrupted":
        return [f"next: swint train --resume {run}"]
    if status != "finished":
        return []
    lines = [f"next: swint compare {run} {run.parent}/OTHER-RUN   (runs side by side)"]
    if task == "classification":
        lines.append(f"      swint predict {run} IMAGE.png          (top-5 classes of images)")
    if task == "detection":
        lines.append(
            f"      swint predict {run} IMAGE.png --out DIR   (boxes: COCO results, pictures)"
        )
    lines.append(f"      swint export {run}                     (inference model in export/)")
    return lines
