"""One training step: forward, the task's loss, backward and the optimizer's update.

The trainer's loop calls it for every batch and ``swint bench`` times it, so the bench
measures the step a run takes: the recipe's loss, optimizer, clipping and decay groups.
"""

from __future__ import annotations

from collections.abc import Callable

import paddle

from ..nn.precision import autocast

Loss = Callable[[paddle.Tensor, paddle.Tensor], paddle.Tensor]  # (logits, labels) -> scalar


def train_step(
    model: paddle.nn.Layer,
    images: paddle.Tensor,
    labels: paddle.Tensor,
    *,
    loss: Loss,
    optimizer: paddle.optimizer.Optimizer,
    scaler: paddle.amp.GradScaler | None,
    amp: bool,
    precision: str = "fp32",
) -> tuple[paddle.Tensor, paddle.Tensor]:
    """Train ``model`` on one batch: (logits, loss).

    The forward pass and ``loss(logits, labels)`` run under AMP when ``amp``; forward and
    backward run their CPU matrix products in ``precision`` (:mod:`swint_cli.nn.precision`);
    the backward pass is scaled by ``scaler`` when it is given; ``optimizer`` then updates
    the parameters at its current learning rate (an optimizer updating inside backward has
    done so already, and finds no gradient left) and their gradients are cleared. Nothing
    waits for the device: the caller reads the loss when it needs it.
    """
    with autocast(precision):
        with paddle.amp.auto_cast(enable=amp):
            logits = model(images)
            value = loss(logits, labels)
        if scaler is not None:
            scaler.scale(value).backward()
        else:
            value.backward()
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.clear_grad()
    return logits, value
