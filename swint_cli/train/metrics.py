"""Validation metrics over a loader, combined over all processes."""

from __future__ import annotations

import itertools

import paddle

from ..data import batches_of
from .detection import Detection, evaluate_detection
from .distributed import ParallelContext, all_reduce_sums
from .tasks import Classification, Task


def validate(
    model: paddle.nn.Layer,
    loader: paddle.io.DataLoader,
    context: ParallelContext,
    limit: int | None,
    task: Task,
) -> tuple[dict[str, float], dict[str, object]]:
    """(metrics, files): the task's validation metrics and the JSON documents the
    evaluation leaves in the run (detection's predictions and ground truth; none else)."""
    if isinstance(task, Detection):
        return evaluate_detection(model, loader, context, limit, task)
    return evaluate(model, loader, context, limit, task), {}


@paddle.no_grad()
def evaluate(
    model: paddle.nn.Layer,
    loader: paddle.io.DataLoader,
    context: ParallelContext,
    limit: int | None = None,
    task: Classification | None = None,
) -> dict[str, float]:
    """The task's validation metrics over the ``loader``'s batches (at most ``limit``), all
    ranks combined: mean cross-entropy
    and top-1/top-5 accuracy (per image, or per pixel for segmentation, which adds mIoU)."""
    task = task or Classification()
    was_training = model.training
    model.eval()
    sums: list[float] | None = None
    with batches_of(loader) as batches:
        for images, labels in itertools.islice(batches, limit):
            batch = task.eval_sums(model(images), task.labels(labels))
            sums = batch if sums is None else [a + b for a, b in zip(sums, batch, strict=True)]
    if was_training:
        model.train()
    if sums is None:  # an empty shard still joins the all-reduce with zeros
        sums = [0.0] * task.eval_size
    return task.eval_metrics(all_reduce_sums(sums, context))
