"""Running sums of a training epoch, and the table figures they give."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from .distributed import ParallelContext, all_reduce_sums


@dataclass(kw_only=True)
class EpochSums:
    """Sums over the batches trained so far in an epoch (on this process)."""

    loss: float = 0.0  # loss x batch size
    correct: float = 0.0  # top-1 hits (images, or pixels for segmentation)
    targets: float = 0.0  # images or labelled pixels
    seen: float = 0.0  # images
    seconds: float = 0.0  # data + step time

    def add(self, *, loss: float, correct: int, targets: int, seen: int, seconds: float) -> None:
        self.loss += loss * seen
        self.correct += correct
        self.targets += targets
        self.seen += seen
        self.seconds += seconds

    @property
    def images_per_second(self) -> float:
        return self.seen / self.seconds if self.seconds else math.nan

    def to_json(self) -> dict:
        return asdict(self)

    def summed(self, context: ParallelContext) -> EpochSums:
        """Every field summed over all processes (a collective when data-parallel)."""
        names = [f.name for f in fields(self)]
        sums = all_reduce_sums([getattr(self, n) for n in names], context)
        return EpochSums(**dict(zip(names, sums, strict=True)))

    def all_reduced(self, context: ParallelContext) -> EpochSums:
        """The epoch's sums over all processes, seconds averaged (ranks train side by side)."""
        total = self.summed(context)
        total.seconds /= context.world_size
        return total

    def row(self) -> dict[str, float]:
        """The epochs.csv figures: ``train_loss``, ``train_acc1``, ``images_per_second``."""
        return {
            "train_loss": self.loss / self.seen if self.seen else math.nan,
            "train_acc1": self.correct / self.targets if self.targets else math.nan,
            "images_per_second": self.images_per_second,
        }
