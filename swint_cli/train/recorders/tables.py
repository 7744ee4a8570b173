"""Recorders that append to the run's tables: batches.csv and epochs.csv."""

from __future__ import annotations

from dataclasses import asdict

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
        self.table.append(asdict(record))

    def finish(self, outcome: Outcome, position: Position) -> None:
        self.table.close()


class EpochTable(Recorder):
    """One epochs.csv row per finished epoch."""

    def __init__(self, table: CsvTable) -> None:
        self.table = table

    def start(self, position: Position) -> None:
        self.table.open()

    def epoch_end(self, record: EpochRecord, position: Position) -> None:
        self.table.append(record.row)

    def finish(self, outcome: Outcome, position: Position) -> None:
        self.table.close()
