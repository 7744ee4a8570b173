"""Where a run stands: the position training continues from, and per-batch seeds."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..runs import RunError


@dataclass(kw_only=True)
class Position:
    """Batch ``step`` (0-based) of ``epoch`` (1-based) is the next to train.

    ``batches_done`` counts the batches trained before it (each is one batches.csv row of
    rank 0); ``partial`` holds the sums of an interrupted epoch (:class:`~.epoch_sums.EpochSums`
    fields); ``best_score`` / ``final_score`` are the task's key metric.
    """

    epoch: int = 1
    step: int = 0
    batches_done: int = 0
    best_score: float = -1.0
    final_score: float | None = None
    partial: dict = field(default_factory=dict)
    wall_seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict, source: Path) -> Position:
        """The position in a checkpoint's ``last.json``. One written before ``batches_done``
        was recorded gets None there. RunError naming ``source`` when a field is unknown,
        missing or not a count."""
        try:
            position = cls(**{"batches_done": None, **data})
        except TypeError as exc:
            raise RunError(f"{source}: not a checkpoint position ({exc})") from None
        counts = [position.epoch - 1, position.step, position.batches_done or 0]
        if not all(isinstance(v, int) and v >= 0 for v in counts):
            raise RunError(f"{source}: not a checkpoint position (epoch, step or batches_done)")
        return position


def step_seed(seed: int, epoch: int, step: int) -> int:
    """Seed of Paddle's generator for one batch, so dropout/drop path are resumable."""
    return int(np.random.SeedSequence([seed, epoch, step]).generate_state(1)[0] % (2**31))
