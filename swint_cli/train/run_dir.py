"""The run directory: everything one training run leaves behind, and nothing else.

Layout::

    <runs_dir>/<name>-<YYYYmmdd-HHMMSS>/
        recipe.yaml   env.json   summary.json   epochs.csv   batches.csv
        checkpoints/last.pdparams  last.pdopt  last.json  best.pdparams
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from .tables import CsvTable

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
BATCH_COLUMNS = (
    "epoch",
    "step",
    "loss",
    "acc1",
    "batch_size",
    "data_ms",
    "step_ms",
    "timestamp",
    "warmup",
)


class RunError(RuntimeError):
    """A run directory that cannot be created, written or resumed; one-line message."""


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that readers see the old or the new file, never half."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise RunError(f"{path}: cannot write ({exc.strerror or exc})") from None


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


class RunDirectory:
    """Paths and writers of one run directory."""

    def __init__(self, path: Path, epoch_columns: Sequence[str] = EPOCH_COLUMNS) -> None:
        self.path = path
        self.checkpoints = path / "checkpoints"
        self.epochs = CsvTable(path / "epochs.csv", epoch_columns)
        self.batches = CsvTable(path / "batches.csv", BATCH_COLUMNS)

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
        (path / "checkpoints").mkdir()
        return cls(path, epoch_columns)

    @classmethod
    def existing(
        cls, path: str | Path, epoch_columns: Sequence[str] = EPOCH_COLUMNS
    ) -> RunDirectory:
        """An earlier run to resume; it must hold its recipe and a ``last`` checkpoint."""
        run = cls(Path(path), epoch_columns)
        if not run.path.is_dir():
            raise RunError(f"{run.path}: no such run directory")
        for needed in (run.path / "recipe.yaml", run.checkpoints / "last.json"):
            if not needed.is_file():
                raise RunError(f"{run.path}: not a resumable run (missing {needed.name})")
        return run

    def write_json(self, name: str, data: dict) -> None:
        write_atomic(self.path / name, json.dumps(data, indent=2, sort_keys=False) + "\n")

    def read_json(self, name: str) -> dict:
        try:
            return json.loads((self.path / name).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise RunError(f"{self.path / name}: cannot read ({exc})") from None
