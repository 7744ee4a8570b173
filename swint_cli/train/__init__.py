"""The training runner: recipe in, run directory (tables, checkpoints, summary) out."""

from .session import TrainOptions
from .signals import StopRequest
from .trainer import TrainResult, train

__all__ = ["StopRequest", "TrainOptions", "TrainResult", "train"]
