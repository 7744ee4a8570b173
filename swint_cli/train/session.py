"""Everything a run trains with, built from its recipe: device, data, model, optimizer."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import paddle

from ..data import DetectionDataset, ImageDataset, Normalization, build_datasets
from ..environment import resolve_device
from ..models import SurgeryReport, build_model, model_flops
from ..models.user_networks import backbone_source
from ..nn.kernels import backend
from ..recipe import Recipe, dump_recipe
from ..recipe.schema import TrainingSection
from ..runs import RunError
from ..runs.info import RunInfo, sha256_of
from .distributed import ParallelContext, init_parallel
from .freezing import freeze
from .optimizers import build_optimizer
from .recorders import PlainReporter, check_loggers, make_reporter
from .tasks import Task, task_for


@dataclass(kw_only=True)
class TrainOptions:
    """Command-line choices that are not part of the recipe."""

    resume: Path | None = None
    quiet: bool = False
    device: str | None = None
    epochs: int | None = None
    limit_batches: int | None = None
    runtime: dict = field(default_factory=dict)


@dataclass(kw_only=True)
class Session:
    """The recipe's objects for one process: its rank, device, data, task, model (with the
    surgery report, parameter count and analytic GFLOPs per image) and optimizer."""

    recipe: Recipe
    context: ParallelContext
    reporter: PlainReporter
    device: str
    amp: bool
    precision: str  # of the CPU matrix products, as run (training.precision when available)
    train_set: ImageDataset
    val_set: ImageDataset
    classes: list[str]
    task: Task
    model: paddle.nn.Layer
    surgery: SurgeryReport
    params: int
    gflops: float
    optimizer: paddle.optimizer.Optimizer
    scaler: paddle.amp.GradScaler | None

    @property
    def normalization(self) -> Normalization:
        """The mean/std the validation pixels are normalised with (identity if not)."""
        return self.val_set.transform.normalization

    def run_info(self) -> RunInfo:
        """run.json for this recipe: task, classes, input preparation, recipe and its hash."""
        return RunInfo(
            task=self.task.name,
            classes=tuple(self.classes),
            image_size=self.recipe.data.image_size,
            mean=self.normalization.mean,
            std=self.normalization.std,
            recipe_sha256=sha256_of(dump_recipe(self.recipe)),
            recipe=self.recipe.model_dump(mode="json"),
            backbone_source=backbone_source(self.recipe.model.backbone),
            category_ids=(
                tuple(c.id for c in self.val_set.categories)
                if isinstance(self.val_set, DetectionDataset)
                else None
            ),
        )


def choose_precision(requested: str, device: str) -> tuple[str, str | None]:
    """The precision the matrix products run in for ``training.precision`` ``requested`` on
    ``device``, and a note when that is not what was asked."""
    if requested == "fp32":
        return "fp32", None
    if device != "cpu":
        return "fp32", "training.precision bf16 applies to CPU training; on GPU use training.amp"
    reason = backend.unavailable("bf16")
    if reason is not None:
        return "fp32", f"training.precision bf16: {reason}; training in fp32"
    return "bf16", None


def refuse_update_in_backward(training: TrainingSection, parallel: bool, amp: bool) -> None:
    """Raise RunError when ``training.optimizer.in_backward`` meets what needs every
    gradient at once: data-parallel training (``parallel``) or GPU AMP's loss scaling."""
    if not training.optimizer.in_backward:
        return
    if parallel:
        raise RunError(
            "training.optimizer.in_backward: not with data-parallel training (DataParallel "
            "averages the gradients after backward); set it to false or run one process"
        )
    if amp:
        raise RunError(
            "training.optimizer.in_backward: not with training.amp on GPU (loss scaling "
            "unscales every gradient at once); set one of them to false"
        )


def build_session(recipe: Recipe, options: TrainOptions) -> Session:
    """Seed every generator, then build data, model and optimizer as the recipe says.

    Raises user errors (RunError, DataError, ModelError) for what the recipe asks that
    cannot be done, such as ``num_classes`` differing from the data's classes.
    """
    context = init_parallel()
    reporter = make_reporter(options.quiet, context.rank)
    training = recipe.training
    device = resolve_device(training.device)
    paddle.set_device(device)
    amp = training.amp and device == "gpu"
    if training.amp and not amp:
        reporter.message("note: training.amp is ignored on CPU")
    refuse_update_in_backward(training, context.enabled, amp)
    check_loggers(recipe.output.loggers)
    precision, note = choose_precision(training.precision, device)
    if note is not None:
        reporter.message(f"note: {note}")
    paddle.seed(training.seed)
    np.random.seed(training.seed)
    random.seed(training.seed)
    train_set, val_set, classes = build_datasets(recipe.data, training.seed)
    if recipe.model.num_classes != len(classes):
        raise RunError(
            f"model.num_classes is {recipe.model.num_classes} but the data has "
            f"{len(classes)} classes (--set model.num_classes={len(classes)})"
        )
    model, surgery = build_model(recipe.model, recipe.data.image_size, recipe.task)
    freeze(model, training.freeze)
    return Session(
        recipe=recipe,
        context=context,
        reporter=reporter,
        device=device,
        amp=amp,
        precision=precision,
        train_set=train_set,
        val_set=val_set,
        classes=classes,
        task=task_for(recipe, model),
        model=model,
        surgery=surgery,
        params=sum(int(np.prod(p.shape)) for p in model.parameters()),
        gflops=model_flops(model, recipe.data.image_size) / 1e9,
        optimizer=build_optimizer(
            training.optimizer,
            model,
            training.clip_grad_norm,
            surgery.model_paths(),
        ),
        scaler=paddle.amp.GradScaler() if amp else None,
    )
