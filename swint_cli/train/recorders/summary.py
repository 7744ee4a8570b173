"""The recorder that keeps summary.json up to date."""

from __future__ import annotations

from dataclasses import dataclass

from ...runs import RunDirectory
from ...runs.layout import BATCH_COLUMNS, SUMMARY
from ...runs.tables import read_table
from ...runs.timing import summarize_times, timed_steps
from ..position import Position
from .base import EpochRecord, Outcome, Recorder


@dataclass(frozen=True, kw_only=True)
class RunFacts:
    """What summary.json says of the model and the plan, fixed for the whole run."""

    task: str
    key_metric: str  # val_acc1 or val_miou
    backbone: str
    params: int
    swint_slots: int
    gflops_per_image: float
    epochs: int


class Summary(Recorder):
    """summary.json: ``running`` from the start and after every epoch, then the final status.

    Fields: run, task, backbone, params, swint_slots, gflops_per_image (analytic),
    epochs_done, epochs, best_ and final_ of the key metric, median_step_ms and p90_step_ms
    (batches.csv without warm-up rows), wall_seconds, status.
    """

    def __init__(self, run: RunDirectory, facts: RunFacts) -> None:
        self.run, self.facts = run, facts

    def _write(self, status: str, position: Position) -> None:
        facts, key = self.facts, self.facts.key_metric
        batches, _ = read_table(self.run.batches.path, BATCH_COLUMNS)
        times = summarize_times(timed_steps(batches))
        best = position.best_score
        self.run.write_json(
            SUMMARY,
            {
                "run": self.run.path.name,
                "task": facts.task,
                "backbone": facts.backbone,
                "params": facts.params,
                "swint_slots": facts.swint_slots,
                "gflops_per_image": round(facts.gflops_per_image, 4),
                "epochs_done": position.epoch - 1,
                "epochs": facts.epochs,
                f"best_{key}": best if best >= 0 else None,
                f"final_{key}": position.final_score,
                "median_step_ms": times.median if times else None,
                "p90_step_ms": times.p90 if times else None,
                "wall_seconds": round(position.wall_seconds, 2),
                "status": status,
            },
        )

    def start(self, position: Position) -> None:
        self._write("running", position)

    def epoch_end(self, record: EpochRecord, position: Position) -> None:
        self._write("running", position)

    def finish(self, outcome: Outcome, position: Position) -> None:
        self._write(outcome.status, position)
