"""What the training loop tells its recorders, and the hooks a recorder may implement."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...runs.layout import BatchRow
from ..position import Position


@dataclass(frozen=True, kw_only=True)
class BatchRecord(BatchRow):
    """One trained batch: its batches.csv row, and the epoch's images/s so far for the
    progress display. That figure is no column: batches.csv keeps the batch_size, data_ms
    and step_ms it comes from, and epochs.csv has each epoch's images_per_second."""

    images_per_second: float


@dataclass(frozen=True, kw_only=True)
class EpochRecord:
    """One finished epoch: its epochs.csv row, whether its key metric is the best yet, and
    the JSON documents its evaluation leaves in the run (by file name; detection's)."""

    row: dict[str, float]
    improved: bool
    files: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """How a run ended: summary status, exit code, the line to print, and whether the
    position it stopped at is to be checkpointed (an interrupt between batches)."""

    status: str
    exit_code: int
    message: str = ""
    checkpoint: bool = False


class Recorder:
    """A hook set of the training loop (every hook does nothing unless overridden).

    Hooks run in this order: :meth:`start` once, then per epoch :meth:`epoch_start`,
    :meth:`batch_end` per batch and :meth:`epoch_end`; :meth:`finish` always, last, also
    after an error. ``position`` is where training would continue.
    """

    def start(self, position: Position) -> None:
        """Training begins (or resumes) at ``position``."""

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        """Epoch ``epoch`` of ``epochs`` begins; it has ``steps`` batches."""

    def batch_end(self, record: BatchRecord) -> None:
        """A batch was trained."""

    def epoch_end(self, record: EpochRecord, position: Position) -> None:
        """An epoch was trained and validated; ``position`` is the next epoch's start."""

    def finish(self, outcome: Outcome, position: Position) -> None:
        """The run ends with ``outcome``."""
