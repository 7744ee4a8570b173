"""Validation metrics and timing summaries."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import paddle

from .distributed import ParallelContext, all_reduce_sums
from .tasks import Classification


@paddle.no_grad()
def evaluate(
    model: paddle.nn.Layer,
    batches: Iterable,
    context: ParallelContext,
    limit: int | None = None,
    task: Classification | None = None,
) -> dict[str, float]:
    """The task's validation metrics over ``batches``, all ranks combined: mean cross-entropy
    and top-1/top-5 accuracy (per image, or per pixel for segmentation, which adds mIoU)."""
    task = task or Classification()
    was_training = model.training
    model.eval()
    sums: list[float] | None = None
    for i, (images, labels) in enumerate(batches):
        if limit is not None and i >= limit:
            break
        batch = task.eval_sums(model(images), task.labels(labels))
        sums = batch if sums is None else [a + b for a, b in zip(sums, batch, strict=True)]
    if was_training:
        model.train()
    if sums is None:  # an empty shard still joins the all-reduce with zeros
        sums = [0.0] * task.eval_size
    return task.eval_metrics(all_reduce_sums(sums, context))


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
