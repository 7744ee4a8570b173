"""Resuming a run: every check first, so that a run that cannot be resumed is left as it was.

``--resume RUN`` continues only when RUN is whole: its ``recipe.yaml`` is the recipe the run
started with (``run.json`` holds its hash and content), its last checkpoint's files belong
together and fit the recipe's model and optimizer name by name and shape, and its tables
hold every row up to the checkpoint. Any failure is one :class:`RunError` line, raised
before anything in RUN is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..models.state import load_state
from ..recipe import Recipe, load_recipe
from ..recipe.loading import validate
from ..runs import RunDirectory, RunError
from ..runs.checkpoint_files import POSITION, TrainingState, read_training_state
from ..runs.info import RunInfo, first_difference, read_info, sha256_of
from ..runs.layout import CHECKPOINTS_DIR, INFO, RECIPE
from ..runs.tables import CsvTable, position_of
from .position import Position
from .session import Session
from .state_arrays import restore_optimizer
from .tasks import task_class


@dataclass(kw_only=True)
class Resumption:
    """A run found fit to resume, and what it continues from."""

    run: RunDirectory
    recipe: Recipe
    info: RunInfo | None  # None for runs written before run.json
    state: TrainingState
    position: Position


def _check_recipe(path: Path, recipe: Recipe, info: RunInfo | None) -> None:
    """RunError when recipe.yaml differs from the recipe the run started with."""
    if info is None:
        return  # an older run: nothing recorded to compare with
    text = (path / RECIPE).read_text(encoding="utf-8")
    if sha256_of(text) == info.recipe_sha256:
        return
    recorded = validate(info.recipe, str(path / INFO)).model_dump(mode="json")
    change = first_difference(recorded, recipe.model_dump(mode="json"))
    if change is not None:
        raise RunError(
            f"{path / RECIPE}: edited since the run started ({change}); resuming needs the "
            "recipe it started with (--epochs and --limit-batches may change on resume)"
        )


def _rows(table: CsvTable) -> list[tuple[int, int]]:
    """(epoch, step) of the readable rows of a table (step 0 for epochs.csv)."""
    return [position_of(record) for record in table.parse().records()]


def _expected_batches(rows: list[tuple[int, int]], position: Position) -> bool:
    """Whether ``rows`` (before the position) run 0, 1, ... through every epoch up to it."""
    previous = (1, -1)
    for epoch, step in rows:
        follows = (epoch, step) == (previous[0], previous[1] + 1)
        starts_next = (epoch, step) == (previous[0] + 1, 0) and previous[1] >= 0
        if not (follows or starts_next):
            return False
        previous = (epoch, step)
    if position.step > 0:
        return previous == (position.epoch, position.step - 1)
    return position.epoch == 1 or previous[0] == position.epoch - 1


def _check_tables(run: RunDirectory, position: Position) -> int:
    """RunError unless epochs.csv and batches.csv hold every row up to ``position``;
    returns the number of batch rows before it."""
    epochs = [e for e, _ in _rows(run.epochs) if e < position.epoch]
    if epochs != list(range(1, position.epoch)):
        shown = f"epochs {epochs[0]}-{epochs[-1]}" if epochs else "no epochs"
        raise RunError(
            f"{run.epochs.path}: has {shown} but the checkpoint is at epoch {position.epoch}; "
            "the table is not whole, so the run cannot be resumed"
        )
    batches = [key for key in _rows(run.batches) if key < (position.epoch, position.step)]
    whole = _expected_batches(batches, position)
    if position.batches_done is not None:
        whole = whole and len(batches) == position.batches_done
    if not whole:
        raise RunError(
            f"{run.batches.path}: does not hold the {position.batches_done or 'earlier'} batch "
            "rows the checkpoint follows (found "
            f"{len(batches)}); the table is not whole, so the run cannot be resumed"
        )
    return len(batches)


def open_resumption(path: str | Path) -> Resumption:
    """Check the run in ``path`` (everything but the model fit, see :func:`restore`) without
    writing to it. Raises RunError, or RecipeError for a recipe.yaml that no longer loads."""
    checked = RunDirectory.existing(path).path  # a run, all of whose files are its own
    recipe = load_recipe(checked / RECIPE)
    run = RunDirectory(checked, task_class(recipe.task).epoch_columns)
    info = read_info(run.path)
    _check_recipe(run.path, recipe, info)
    state = read_training_state(run.path)
    position = Position.from_json(state.position, run.path / CHECKPOINTS_DIR / POSITION)
    rows = _check_tables(run, position)
    if position.batches_done is None:  # a checkpoint from before batches_done was recorded
        position.batches_done = rows
    return Resumption(run=run, recipe=recipe, info=info, state=state, position=position)


def restore(resumption: Resumption, session: Session) -> None:
    """Load the checkpoint into the session's model and optimizer; RunError (before any
    change to the run directory) when its arrays do not fit them."""
    state = resumption.state
    load_state(session.model, state.model, state.weights_file)
    restore_optimizer(session.model, session.optimizer, state.optimizer, state.optimizer_file)
