"""The run directory a training writes: created or reopened after the resume checks, with
its recipe, run.json and env.json, and the recorders that fill it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from ..environment import describe_session
from ..recipe import dump_recipe
from ..runs import RunDirectory
from ..runs.info import write_info
from ..runs.layout import ENV, RECIPE, WEIGHTS_REPORT
from ..runs.tables import position_of
from .recorders import (
    BatchTable,
    CheckpointWriter,
    CurvesPlot,
    DashboardScalars,
    EpochTable,
    EvaluationFiles,
    Recorder,
    RunFacts,
    Summary,
)
from .resume import Resumption
from .session import Session, TrainOptions


def git_commit() -> str | None:
    """The commit of the working directory's git checkout, if any (for env.json)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def open_run_directory(
    session: Session,
    options: TrainOptions,
    resumption: Resumption | None,
    hold: Callable[[Path], None],
) -> RunDirectory | None:
    """The run directory this process writes (None off rank 0), with recipe.yaml, run.json
    and env.json written and, on resume, the tables cut back to the checkpoint. A new run
    is held (``hold(path)``) before anything is written in it; a resumed one already is."""
    if not session.context.is_main:
        return None
    if resumption is not None:
        run, position = resumption.run, resumption.position
        run.epochs.repair(lambda row: position_of(row)[0] < position.epoch)
        run.batches.repair(lambda row: position_of(row) < (position.epoch, position.step))
    else:
        output = session.recipe.output
        run = RunDirectory.create(
            output.runs_dir, output.name, epoch_columns=session.task.epoch_columns
        )
        hold(run.path)
    run.write_text(RECIPE, dump_recipe(session.recipe))
    write_info(run.path, session.run_info())
    weights = session.surgery.weights
    if weights is not None and resumption is None:  # a resumed run's weights are its own
        run.write_json(WEIGHTS_REPORT, weights.to_json())
    run.write_json(
        ENV,
        {
            **describe_session(session.device, options.runtime),
            "world_size": session.context.world_size,
            "precision": session.precision,
            "precision_requested": session.recipe.training.precision,
            "git_commit": git_commit(),
            "resumed": resumption is not None,
        },
    )
    return run


def recorders_for(session: Session, run: RunDirectory | None) -> list[Recorder]:
    """What this process records: everything on rank 0, the (silent) progress elsewhere."""
    if run is None:
        return [session.reporter]
    recipe = session.recipe
    facts = RunFacts(
        task=session.task.name,
        key_metric=session.task.key_metric,
        backbone=recipe.model.backbone,
        params=session.params,
        swint_slots=session.surgery.swint_count,
        gflops_per_image=session.gflops,
        epochs=recipe.training.epochs,
    )
    return [
        BatchTable(run.batches),
        EpochTable(run.epochs),
        EvaluationFiles(run),
        CheckpointWriter(run.path, session.model, session.optimizer),
        Summary(run, facts),
        CurvesPlot(run.path, session.reporter.message),
        *[DashboardScalars(run.path, logger) for logger in recipe.output.loggers],
        session.reporter,
    ]
