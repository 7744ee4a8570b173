"""What classification and segmentation training differ in: loss, accuracy, validation metrics.

Classification: logits ``[B, K]``, labels ``[B]``; top-1/top-5 accuracy per image.
Segmentation: logits ``[B, K, H, W]``, masks ``[B, H, W]`` with 255 for pixels to ignore;
cross-entropy and top-1/top-5 accuracy per (non-ignored) pixel, and mean IoU over the classes
present in the predictions or the masks. Both report ``acc1``/``acc5`` columns (per pixel for
segmentation); segmentation adds ``val_miou`` and keeps its best checkpoint by it.

The training loss follows the recipe's ``training.loss`` (label smoothing, class weights,
and for segmentation a share of soft Dice); ``val_loss`` is always plain cross-entropy, so
runs with different training losses stay comparable.
"""

from __future__ import annotations

import math

import numpy as np
import paddle
from paddle.nn import functional as F

from ..data.segmentation_folder import IGNORE_INDEX
from ..recipe import Recipe
from ..recipe.schema import Loss
from ..runs import EPOCH_COLUMNS
from .detection import Detection
from .losses import soft_dice_loss


def correct_topk(logits: paddle.Tensor, labels: paddle.Tensor, k: int, axis: int = -1) -> int:
    """How many targets have their label among the ``k`` largest logits along ``axis``.

    ``labels`` has the shape of ``logits`` without ``axis``; labels equal to 255 never count.
    """
    k = min(k, logits.shape[axis])
    top = paddle.topk(logits, k, axis=axis)[1]  # ``axis`` now of size k
    hits = (top == labels.unsqueeze(axis)).astype("int32").sum(axis=axis)
    return int(hits.sum())


class Classification:
    """One label per image."""

    name = "classification"
    key_metric = "val_acc1"
    epoch_columns = EPOCH_COLUMNS
    eval_size = 4  # entries of eval_sums
    axis = -1  # the class axis of the logits
    ignore_index = -100  # no label is ignored (Paddle's default)

    def __init__(self, loss: Loss | None = None) -> None:
        self.loss_config = loss or Loss()
        weights = self.loss_config.class_weights
        self.class_weights = paddle.to_tensor(weights, "float32") if weights else None

    def cross_entropy(self, logits: paddle.Tensor, labels: paddle.Tensor) -> paddle.Tensor:
        """The recipe's cross-entropy: class-weighted when it gives weights (a weighted mean
        over the targets), and with label smoothing e ``(1 - e) CE + e U``, where ``U`` is the
        mean over the targets of ``-mean_k log p_k`` (cross-entropy against uniform labels)."""
        loss = F.cross_entropy(
            logits,
            labels,
            weight=self.class_weights,
            ignore_index=self.ignore_index,
            axis=self.axis,
        )
        smoothing = self.loss_config.label_smoothing
        if not smoothing:
            return loss
        uniform = -F.log_softmax(logits, axis=self.axis).mean(axis=self.axis)  # per target
        valid = (labels != self.ignore_index).astype(uniform.dtype)
        uniform = (uniform * valid).sum() / valid.sum().clip(min=1.0)
        return (1 - smoothing) * loss + smoothing * uniform

    def labels(self, batch_labels: paddle.Tensor) -> paddle.Tensor:
        """The loader's labels in the shape the loss takes: ``[B]``."""
        return batch_labels.reshape([-1])

    def loss(self, logits: paddle.Tensor, labels: paddle.Tensor) -> paddle.Tensor:
        return self.cross_entropy(logits, labels)

    def counts(self, logits: paddle.Tensor, labels: paddle.Tensor) -> tuple[int, int]:
        """(top-1 correct, targets) of a batch."""
        return correct_topk(logits, labels, 1), labels.shape[0]

    def eval_sums(self, logits: paddle.Tensor, labels: paddle.Tensor) -> list[float]:
        """Sums over a validation batch that :meth:`eval_metrics` turns into metrics."""
        loss = float(F.cross_entropy(logits, labels, reduction="sum"))
        targets = labels.shape[0]
        return [loss, correct_topk(logits, labels, 1), correct_topk(logits, labels, 5), targets]

    def eval_metrics(self, sums: list[float]) -> dict[str, float]:
        loss, correct1, correct5, targets = sums[:4]
        if targets == 0:
            return {"val_loss": math.nan, "val_acc1": math.nan, "val_acc5": math.nan}
        return {
            "val_loss": loss / targets,
            "val_acc1": correct1 / targets,
            "val_acc5": correct5 / targets,
        }


class Segmentation(Classification):
    """One label per pixel (255: ignored)."""

    name = "segmentation"
    key_metric = "val_miou"
    epoch_columns = (*EPOCH_COLUMNS, "val_miou")
    axis = 1
    ignore_index = IGNORE_INDEX

    def __init__(self, num_classes: int, loss: Loss | None = None) -> None:
        super().__init__(loss)
        self.num_classes = num_classes
        self.eval_size = 4 + num_classes**2

    def labels(self, batch_labels: paddle.Tensor) -> paddle.Tensor:
        return batch_labels  # masks [B, H, W]

    def loss(self, logits: paddle.Tensor, labels: paddle.Tensor) -> paddle.Tensor:
        """``(1 - w) CE + w Dice`` for the recipe's ``dice_weight`` w."""
        dice_weight = self.loss_config.dice_weight
        loss = self.cross_entropy(logits, labels)
        if not dice_weight:
            return loss
        dice = soft_dice_loss(logits, labels, IGNORE_INDEX)
        return (1 - dice_weight) * loss + dice_weight * dice

    def _targets(self, labels: paddle.Tensor) -> int:
        return int((labels != IGNORE_INDEX).astype("int32").sum())

    def counts(self, logits: paddle.Tensor, labels: paddle.Tensor) -> tuple[int, int]:
        return correct_topk(logits, labels, 1, axis=1), self._targets(labels)

    def confusion(self, logits: paddle.Tensor, labels: paddle.Tensor) -> np.ndarray:
        """``[K, K]`` pixel counts: row = true class, column = predicted class."""
        predicted = paddle.argmax(logits, axis=1).numpy().ravel()
        truth = labels.numpy().ravel()
        valid = truth != IGNORE_INDEX
        pairs = truth[valid] * self.num_classes + predicted[valid]
        counts = np.bincount(pairs, minlength=self.num_classes**2)
        return counts.reshape(self.num_classes, self.num_classes)

    def eval_sums(self, logits: paddle.Tensor, labels: paddle.Tensor) -> list[float]:
        loss = F.cross_entropy(logits, labels, axis=1, ignore_index=IGNORE_INDEX, reduction="sum")
        confusion = self.confusion(logits, labels)  # its trace: top-1 hits; its sum: targets
        return [
            float(loss),
            int(np.trace(confusion)),
            correct_topk(logits, labels, 5, axis=1),
            int(confusion.sum()),
            *confusion.ravel().tolist(),
        ]

    def eval_metrics(self, sums: list[float]) -> dict[str, float]:
        metrics = super().eval_metrics(sums)
        confusion = np.asarray(sums[4:], dtype=np.float64).reshape(self.num_classes, -1)
        metrics["val_miou"] = mean_iou(confusion)
        return metrics


def mean_iou(confusion: np.ndarray) -> float:
    """Mean over classes of ``TP / (TP + FP + FN)``, over classes that occur in the truth or
    the predictions (NaN when none does)."""
    hits = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - hits
    present = union > 0
    return float((hits[present] / union[present]).mean()) if present.any() else math.nan


Task = Classification | Detection


def task_class(name: str) -> type[Task]:
    """The class of the recipe's ``task`` (its ``epoch_columns`` and ``key_metric``)."""
    return {"segmentation": Segmentation, "detection": Detection}.get(name, Classification)


def task_for(recipe: Recipe, model: paddle.nn.Layer | None = None) -> Task:
    """The task object for the recipe's ``task`` and ``training.loss`` (for detection, of the
    detector ``model``: its locations)."""
    loss = recipe.training.loss
    if recipe.task == "segmentation":
        return Segmentation(recipe.model.num_classes, loss)
    if recipe.task == "detection":
        if model is None:
            raise ValueError("a detection task needs its detector")
        return Detection(model.locations, recipe.model.detector, recipe.model.num_classes)
    return Classification(loss)
