"""The training runner: recipe in, run directory (tables, checkpoints, summary) out."""

from .run_dir import RunDirectory, RunError
from .signals import StopRequest
from .trainer import TrainOptions, TrainResult, train

__all__ = ["RunDirectory", "RunError", "StopRequest", "TrainOptions", "TrainResult", "train"]
