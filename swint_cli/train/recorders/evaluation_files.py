"""The recorder that leaves each evaluation's documents in the run (detection's predictions,
ground truth and per-class AP), replaced atomically every epoch."""

from __future__ import annotations

from ...runs import RunDirectory
from ..position import Position
from .base import EpochRecord, Recorder


class EvaluationFiles(Recorder):
    """Writes every JSON document an epoch's evaluation gives, by its file name."""

    def __init__(self, run: RunDirectory) -> None:
        self.run = run

    def epoch_end(self, record: EpochRecord, position: Position) -> None:
        for name, document in record.files.items():
            self.run.write_json(name, document, indent=None)  # large: one line
