"""The recorder that writes a run's scalars for TensorBoard (``output.loggers: [tensorboard]``).

Event files go to ``RUN/tensorboard/``: every ``epochs.csv`` column per epoch as
``epoch/<column>`` (step: the epoch), and each batch's loss, accuracy and step time as
``batch/<column>`` (step: the batch's global index). A sweep's runs sit in its directory,
so ``tensorboard --logdir SWEEP`` shows the whole grid, run by run. The writer is
tensorboardX's (``pip install "swint[tensorboard]"``); TensorBoard itself is not needed to
write, only to look.
"""

from __future__ import annotations

import math
from pathlib import Path

from ...errors import UserError
from ..position import Position
from .base import BatchRecord, EpochRecord, Outcome, Recorder

LOGGERS = ("tensorboard",)
BATCH_SCALARS = ("loss", "acc1", "data_ms", "step_ms")
FOLDER = "tensorboard"


def check_loggers(loggers: list[str]) -> None:
    """UserError naming ``output.loggers`` when a chosen logger's writer is not installed."""
    if "tensorboard" in loggers:
        try:
            import tensorboardX  # noqa: F401
        except ImportError:
            raise UserError(
                "output.loggers: tensorboard needs tensorboardX; "
                'pip install "swint[tensorboard]" (or tensorboardX)'
            ) from None


class TensorBoardScalars(Recorder):
    """Scalars of every epoch and batch into ``RUN/tensorboard/`` event files."""

    def __init__(self, run: Path) -> None:
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(logdir=str(run / FOLDER), flush_secs=30)
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
