"""Where a run stands: the position training continues from, and per-batch seeds."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from ..runs import RunError
from .epoch_sums import EpochSums


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
        was recorded gets None there. RunError naming ``source`` and the field when a field
        is unknown or not of its kind."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RunError(f"{source}: not a checkpoint position (unknown field {unknown[0]})")
        data = {"batches_done": None, **data}
        problem = _field_problem(data)
        if problem is not None:
            raise RunError(f"{source}: not a checkpoint position ({problem})")
        return cls(**data)


def _count(value: object, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _field_problem(data: dict) -> str | None:
    """The first field of a position dict that is not of its kind, or None."""
    sums = {f.name for f in fields(EpochSums)}
    checks = {
        "epoch": _count(data.get("epoch", 1), 1),
        "step": _count(data.get("step", 0), 0),
        "batches_done": data["batches_done"] is None or _count(data["batches_done"], 0),
        "best_score": _number(data.get("best_score", 0)),
        "final_score": data.get("final_score") is None or _number(data["final_score"]),
        "wall_seconds": _number(data.get("wall_seconds", 0)),
        "partial": isinstance(data.get("partial", {}), dict)
        and set(data.get("partial", {})) <= sums
        and all(map(_number, data.get("partial", {}).values())),
    }
    return next((f"{name} is {data.get(name)!r}" for name, ok in checks.items() if not ok), None)


def step_seed(seed: int, epoch: int, step: int) -> int:
    """Seed of Paddle's generator for one batch, so dropout/drop path are resumable."""
    return int(np.random.SeedSequence([seed, epoch, step]).generate_state(1)[0] % (2**31))
