"""The recorder that writes a run's scalars for dashboards (``output.loggers``):
TensorBoard (``tensorboard``, through tensorboardX) and VisualDL (``visualdl``).

Each logger writes event files to ``RUN/<logger>/``: every ``epochs.csv`` column per epoch as
``epoch/<column>`` (step: the epoch), and each batch's loss, accuracy, data and step time as
``batch/<column>`` (step: the batch's global index). A sweep's runs sit in its directory,
so ``tensorboard --logdir SWEEP`` (or ``visualdl --logdir SWEEP``) shows the whole grid, run
by run. The writers are optional extras (``pip install "swint[tensorboard]"`` or
``"swint[visualdl]"``); the dashboards themselves are needed only to look.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path

from ...errors import UserError
from ..position import Position
from .base import BatchRecord, EpochRecord, Outcome, Recorder

# logger: (module, the writer class in it, its log-directory keyword)
WRITERS = {
    "tensorboard": ("tensorboardX", "SummaryWriter", "logdir"),
    "visualdl": ("visualdl", "LogWriter", "logdir"),
}
BATCH_SCALARS = ("loss", "acc1", "data_ms", "step_ms")


def check_loggers(loggers: list[str]) -> None:
    """UserError naming ``output.loggers`` when a chosen logger's writer is not installed."""
    for logger in loggers:
        module = WRITERS[logger][0]
        try:
            importlib.import_module(module)
        except ImportError:
            raise UserError(
                f"output.loggers: {logger} needs {module}; "
                f'pip install "swint[{logger}]" (or {module})'
            ) from None


class DashboardScalars(Recorder):
    """Scalars of every epoch and batch into ``RUN/<logger>/`` event files."""

    def __init__(self, run: Path, logger: str) -> None:
        module, writer, directory = WRITERS[logger]
        make = getattr(importlib.import_module(module), writer)
        self.writer = make(**{directory: str(run / logger)})
        self.steps = 1

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        self.steps = steps

    def batch_end(self, record: BatchRecord) -> None:
        step = (record.epoch - 1) * self.steps + record.step
        for column in BATCH_SCALARS:
            self.writer.add_scalar(f"batch/{column}", getattr(record, column), step)

    def epoch_end(self, record: EpochRecord, position: Position) -> None:
        epoch = int(record.row["epoch"])
        for column, value in record.row.items():
            if column != "epoch" and isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(f"epoch/{column}", value, epoch)
        self.writer.flush()

    def finish(self, outcome: Outcome, position: Position) -> None:
        self.writer.close()
