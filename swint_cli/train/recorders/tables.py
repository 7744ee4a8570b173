"""Recorders that append to the run's tables: batches.csv and epochs.csv."""

from __future__ import annotations

from ...runs.tables import CsvTable
from ..position import Position
from .base import BatchRecord, EpochRecord, Outcome, Recorder


class BatchTable(Recorder):
    """One batches.csv row per trained batch, flushed as it is written."""

    def __init__(self, table: CsvTable) -> None:
        self.table = table

    def start(self, position: Position) -> None:
        self.table.open()

    def batch_end(self, record: BatchRecord) -> None:
        self.table.append(record.cells())

    def finish(self, outcome: Outcome, position: Position) -> None:
        self.table.close()


class EpochTable(Recorder):
    """One epochs.csv row per finished epoch; a row whose keys are not the table's columns
    is a ValueError (the trainer and the columns disagree), never a silently dropped figure
    or an empty cell."""

    def __init__(self, table: CsvTable) -> None:
        self.table = table

    def start(self, position: Position) -> None:
        self.table.open()

    def epoch_end(self, record: EpochRecord, position: Position) -> None:
        if set(record.row) != set(self.table.columns):
            raise ValueError(
                f"epoch row {sorted(record.row)} does not match the columns of "
                f"{self.table.path.name}: {self.table.columns}"
            )
        self.table.append(record.row)

    def finish(self, outcome: Outcome, position: Position) -> None:
        self.table.close()
