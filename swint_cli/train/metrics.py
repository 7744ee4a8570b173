"""Accuracy, evaluation and timing summaries."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import paddle
from paddle.nn import functional as F

from .distributed import ParallelContext, all_reduce_sums


def correct_topk(logits: paddle.Tensor, labels: paddle.Tensor, k: int) -> int:
    """How many rows have their label among the ``k`` largest logits."""
    k = min(k, logits.shape[-1])
    top = paddle.topk(logits, k, axis=-1)[1]  # (B, k)
    return int((top == labels.reshape([-1, 1])).astype("int32").sum())


@paddle.no_grad()
def evaluate(
    model: paddle.nn.Layer,
    batches: Iterable,
    context: ParallelContext,
    limit: int | None = None,
) -> dict[str, float]:
    """Mean cross-entropy, top-1 and top-5 accuracy over ``batches`` (all ranks combined)."""
    was_training = model.training
    model.eval()
    loss_sum = correct1 = correct5 = count = 0.0
    for i, (images, labels) in enumerate(batches):
        if limit is not None and i >= limit:
            break
        logits = model(images)
        labels = labels.reshape([-1])
        loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
        correct1 += correct_topk(logits, labels, 1)
        correct5 += correct_topk(logits, labels, 5)
        count += labels.shape[0]
    if was_training:
        model.train()
    loss_sum, correct1, correct5, count = all_reduce_sums(
        [loss_sum, correct1, correct5, count], context
    )
    if count == 0:
        return {"val_loss": math.nan, "val_acc1": math.nan, "val_acc5": math.nan}
    return {
        "val_loss": loss_sum / count,
        "val_acc1": correct1 / count,
        "val_acc5": correct5 / count,
    }


def step_time_summary(batches_csv: Path) -> dict[str, float | None]:
    """Median and p90 of ``step_ms`` over the rows not marked as warm-up."""
    times = []
    if batches_csv.exists():
        with open(batches_csv, encoding="utf-8", newline="") as table:
            for row in csv.DictReader(table):
                try:
                    if row.get("warmup") == "0":
                        times.append(float(row["step_ms"]))
                except (TypeError, ValueError):
                    continue  # a damaged row
    if not times:
        return {"median_step_ms": None, "p90_step_ms": None}
    return {
        "median_step_ms": float(np.median(times)),
        "p90_step_ms": float(np.percentile(times, 90)),
    }
