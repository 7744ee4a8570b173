"""Where one training run writes: a new or resumed run directory and its writers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from ..files import write_atomic, write_json
from ..files.write_error import writing
from .checkpoint_files import has_position
from .layout import (
    BATCH_COLUMNS,
    BATCHES,
    CHECKPOINTS_DIR,
    ENV,
    EPOCH_COLUMNS,
    EPOCHS,
    INFO,
    LOCK,
    RECIPE,
    SUMMARY,
    RunError,
    inside,
    new_timestamped_dir,
)
from .tables import CsvTable


class RunDirectory:
    """The paths and writers of one run directory: its two tables and its files."""

    def __init__(self, path: Path, epoch_columns: Sequence[str] = EPOCH_COLUMNS) -> None:
        self.path = path
        self.checkpoints = path / CHECKPOINTS_DIR
        self.epochs = CsvTable(path / EPOCHS, epoch_columns)
        self.batches = CsvTable(path / BATCHES, BATCH_COLUMNS)

    @classmethod
    def create(
        cls,
        runs_dir: str | Path,
        name: str,
        now: datetime | None = None,
        *,
        epoch_columns: Sequence[str] = EPOCH_COLUMNS,
    ) -> RunDirectory:
        """A new, empty ``<runs_dir>/<name>-<timestamp>`` (suffixed ``-2``, ... if taken)."""
        path = new_timestamped_dir(Path(runs_dir), name, now)
        with writing(path / CHECKPOINTS_DIR):
            (path / CHECKPOINTS_DIR).mkdir()
        return cls(path, epoch_columns)

    @classmethod
    def existing(
        cls,
        path: str | Path,
        epoch_columns: Sequence[str] = EPOCH_COLUMNS,
        *,
        checkpoint: bool = True,
    ) -> RunDirectory:
        """An earlier run to resume: it must hold its recipe and (unless ``checkpoint`` is
        False) a ``last`` checkpoint, and none of its files may lead (through a symlink)
        outside it."""
        run = cls(Path(path), epoch_columns)
        if not run.path.is_dir():
            raise RunError(f"{run.path}: no such run directory")
        for name in (RECIPE, INFO, SUMMARY, ENV, EPOCHS, BATCHES, CHECKPOINTS_DIR, LOCK):
            inside(run.path, name)
        if not (run.path / RECIPE).is_file():
            raise RunError(f"{run.path}: not a resumable run (missing {RECIPE})")
        if checkpoint and not has_position(run.path):
            raise RunError(f"{run.path}: not a resumable run (missing {CHECKPOINTS_DIR}/last.json)")
        return run

    def write_text(self, name: str, text: str) -> None:
        """Replace the run's file ``name`` atomically; WriteError when it cannot be written."""
        write_atomic(self.path / name, text)

    def write_json(self, name: str, data: object, indent: int | None = 2) -> None:
        """Replace the run's file ``name`` with ``data`` as JSON, atomically."""
        write_json(self.path / name, data, indent)
