"""The recorder that writes the run's checkpoints."""

from __future__ import annotations

from pathlib import Path

import paddle

from ...runs.checkpoint_files import save_best_weights, save_training_state
from ..position import Position
from ..state_arrays import model_arrays, optimizer_arrays
from .base import EpochRecord, Outcome, Recorder


class CheckpointWriter(Recorder):
    """``last`` after every epoch and at an interrupted batch; ``best`` when the key metric
    improved."""

    def __init__(
        self, run: Path, model: paddle.nn.Layer, optimizer: paddle.optimizer.Optimizer
    ) -> None:
        self.run, self.model, self.optimizer = run, model, optimizer

    def _save_last(self, position: Position) -> dict:
        weights = model_arrays(self.model)
        optimizer = optimizer_arrays(self.model, self.optimizer)
        save_training_state(self.run, weights, optimizer, position.to_json())
        return weights

    def epoch_end(self, record: EpochRecord, position: Position) -> None:
        weights = self._save_last(position)
        if record.improved:
            save_best_weights(self.run, weights)

    def finish(self, outcome: Outcome, position: Position) -> None:
        if outcome.checkpoint:
            self._save_last(position)
