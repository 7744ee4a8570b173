"""The run directory's layout, and new directories for runs and reports.

::

    <runs_dir>/<name>-<YYYYmmdd-HHMMSS>/
        lock  recipe.yaml  env.json  run.json  summary.json  epochs.csv  batches.csv
        checkpoints/last.safetensors  last.optimizer.safetensors  last.json  best.safetensors
        export/                                   (swint export)

Runs written before run.json and safetensors checkpoints have ``last.pdparams``,
``last.pdopt`` and ``best.pdparams`` instead; they are read through a restricted unpickler.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path

from ..errors import UserError

RECIPE = "recipe.yaml"
ENV = "env.json"
INFO = "run.json"
SUMMARY = "summary.json"
WEIGHTS_REPORT = "weights.json"  # what model.weights loaded (models/weights.py)
EPOCHS = "epochs.csv"
BATCHES = "batches.csv"
CHECKPOINTS_DIR = "checkpoints"
EXPORT = "export"
LOCK = "lock"  # held by the process training the run (runs/holder.py)
SWEEP = "sweep.yaml"  # marks a sweep directory, whose subdirectories are runs
RUN_FILES = (SUMMARY, RECIPE, EPOCHS, BATCHES)  # any one of them makes a directory a run

# The epochs.csv columns (a segmentation run adds val_miou); a row with other keys is refused.
EPOCH_COLUMNS = (
    "epoch",
    "lr",
    "train_loss",
    "train_acc1",
    "val_loss",
    "val_acc1",
    "val_acc5",
    "epoch_seconds",
    "images_per_second",
)


@dataclass(frozen=True, kw_only=True)
class BatchRow:
    """One batches.csv row: its fields are the table's columns, in order."""

    epoch: int
    step: int
    loss: float
    acc1: float
    batch_size: int
    data_ms: float  # waiting for the batch
    step_ms: float  # forward, backward and update
    timestamp: float
    warmup: bool  # among this process's first ``warmup_batches``: left out of timing

    def cells(self) -> dict[str, object]:
        """The row by column (the fields of :class:`BatchRow` only, not of a subclass)."""
        return {name: getattr(self, name) for name in BATCH_COLUMNS}


BATCH_COLUMNS = tuple(column.name for column in fields(BatchRow))


class RunError(UserError, RuntimeError):
    """A run directory (or report directory) that cannot be created, read, written or
    resumed; the message is one line naming it."""


def inside(run: Path, relative: str) -> Path:
    """``run / relative``, refused with :class:`RunError` when it resolves (through symlinks)
    outside ``run``: a run directory's files must be its own."""
    path = run / relative
    if not path.resolve().is_relative_to(run.resolve()):
        raise RunError(f"{path}: points outside its run directory {run}; refusing to read it")
    return path


_STAMP = re.compile(r"-\d{8}-\d{6}(-\d+)?$")


def timestamp_prefix(name: str) -> str:
    """The prefix :func:`new_timestamped_dir` was given for the directory ``name`` (``name``
    itself when it carries no timestamp)."""
    return _STAMP.sub("", name)


def new_timestamped_dir(root: Path, prefix: str, now: datetime | None = None) -> Path:
    """Create ``<root>/<prefix>-<YYYYmmdd-HHMMSS>`` (suffixed ``-2``, ``-3``, ... if taken).

    ``root`` is created if needed; an existing directory is never reused.
    """
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"{root}: cannot create runs directory ({exc.strerror})") from None
    if not os.access(root, os.W_OK):
        raise RunError(f"{root}: runs directory is not writable")
    for attempt in range(1, 1000):
        path = root / (f"{prefix}-{stamp}" if attempt == 1 else f"{prefix}-{stamp}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunError(f"{path}: cannot create directory ({exc.strerror})") from None
        return path
    raise RunError(f"{root}: no free directory name for {prefix}-{stamp}")


def create_report_dir(
    out: Path | None, prefix: str, root: Path = Path("runs"), now: datetime | None = None
) -> Path:
    """The directory a ``swint compare`` or ``swint bench`` report goes to.

    ``out`` when given: created, or reused only if it is an empty directory. Otherwise
    ``<root>/<prefix>-<YYYYmmdd-HHMMSS>``, suffixed ``-2``, ``-3``, ... when taken.

    Raises:
        RunError: ``out`` holds files, or a directory cannot be created.
    """
    if out is None:
        return new_timestamped_dir(root, prefix, now)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(f"{out}: already exists and is not empty; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"{out}: cannot create report directory ({exc.strerror or exc})") from None
    return out
