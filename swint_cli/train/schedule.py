"""Learning rate as a pure function of the position in training (no scheduler state).

Being stateless makes resumed runs exact: the rate at (epoch, step) is the same whether the
run was interrupted or not.
"""

from __future__ import annotations

import math

from ..recipe.schema import Schedule


def learning_rate(
    base_lr: float, schedule: Schedule, epochs: int, epoch: int, step: int, steps_per_epoch: int
) -> float:
    """Rate for batch ``step`` (0-based) of ``epoch`` (1-based).

    ``warmup_epochs`` (or ``warmup_steps`` batches) ramp linearly from
    ``base_lr / (warmup steps)`` to ``base_lr`` batch by batch; then ``constant`` keeps it,
    ``step`` multiplies it by ``gamma`` every ``step_size`` epochs, ``cosine`` anneals it to
    0 at the end of the last epoch.
    """
    position = (epoch - 1) * steps_per_epoch + step  # batches done before this one
    warmup = schedule.warmup_steps or schedule.warmup_epochs * steps_per_epoch
    if position < warmup:
        return base_lr * (position + 1) / warmup
    if schedule.name == "step":
        return base_lr * schedule.gamma ** ((epoch - 1) // schedule.step_size)
    if schedule.name == "cosine":
        total = epochs * steps_per_epoch - warmup
        progress = (position - warmup) / max(total, 1)
        return 0.5 * base_lr * (1.0 + math.cos(math.pi * progress))
    return base_lr
