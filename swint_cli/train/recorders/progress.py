"""What a training run shows while it works: a rich progress bar, or plain log lines."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..position import Position
from .base import BatchRecord, EpochRecord, Outcome, Recorder

# epochs.csv's validation figures as the epoch line names them, where the task has them
VAL_FIGURES = (
    ("val_acc1", "acc1"),
    ("val_acc5", "acc5"),
    ("val_miou", "mIoU"),
    ("val_map", "mAP"),
    ("val_map50", "AP50"),
)


def batch_figures(record: BatchRecord) -> str:
    """``loss L acc1 A`` of a batch (no accuracy for a task without one: detection)."""
    accuracy = f" acc1 {record.acc1:.3f}" if math.isfinite(record.acc1) else ""
    return f"loss {record.loss:.4f}{accuracy}"


class PlainReporter(Recorder):
    """One line per ``every`` batches and one per epoch: for logs, pipes and ``--quiet``."""

    def __init__(self, every: int = 50, stream=None) -> None:
        self.every = every
        self.stream = stream or sys.stdout
        self._last = 0.0

    def message(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        self._epoch, self._epochs, self._steps = epoch, epochs, steps

    def batch_end(self, record: BatchRecord) -> None:
        if (record.step + 1) % self.every == 0:
            self.message(
                f"epoch {self._epoch}/{self._epochs} step {record.step + 1}/{self._steps} "
                f"{batch_figures(record)} "
                f"{record.images_per_second:.1f} img/s"
            )

    def epoch_end(self, record: EpochRecord, position: Position) -> None:
        self.show_epoch(record.row)

    def show_epoch(self, row: Mapping[str, object]) -> None:
        train = f" acc1 {row['train_acc1']:.3f}" if "train_acc1" in row else ""
        val = "".join(f" {label} {row[key]:.3f}" for key, label in VAL_FIGURES if key in row)
        self.message(
            f"epoch {row['epoch']}/{self._epochs}: train loss {row['train_loss']:.4f}{train} | "
            f"val loss {row['val_loss']:.4f}{val} | "
            f"{row['epoch_seconds']:.1f} s, {row['images_per_second']:.1f} img/s"
        )

    def finish(self, outcome: Outcome, position: Position) -> None:
        self.close()

    def close(self) -> None:
        pass


class RichReporter(PlainReporter):
    """A progress bar per epoch with loss, accuracy and images/s, on a terminal."""

    def __init__(self, console: Console | None = None) -> None:
        super().__init__()
        self.console = console or Console()
        self._progress: Progress | None = None

    def message(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        super().epoch_start(epoch, epochs, steps)
        self._progress = Progress(
            TextColumn(f"epoch {epoch}/{epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[figures]} {task.fields[ips]}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("train", total=steps, figures="loss -", ips="")
        self._last = 0.0

    def batch_end(self, record: BatchRecord) -> None:
        now = time.monotonic()
        last_step = record.step + 1 >= self._steps
        if self._progress is None or (now - self._last < 0.1 and not last_step):
            return
        self._last = now
        self._progress.update(
            self._task,
            completed=record.step + 1,
            figures=batch_figures(record),
            ips=f"{record.images_per_second:.0f} img/s",
        )

    def show_epoch(self, row: Mapping[str, object]) -> None:
        self.close()
        super().show_epoch(row)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class SilentReporter(PlainReporter):
    """Reports nothing (data-parallel ranks other than 0)."""

    def message(self, text: str) -> None:
        pass

    def batch_end(self, record: BatchRecord) -> None:
        pass

    def show_epoch(self, row: Mapping[str, object]) -> None:
        pass


def make_reporter(quiet: bool, rank: int = 0) -> PlainReporter:
    """Rich bar on a terminal, plain lines otherwise or with ``quiet``, nothing off rank 0."""
    if rank != 0:
        return SilentReporter()
    if quiet or not sys.stdout.isatty():
        return PlainReporter()
    return RichReporter()
