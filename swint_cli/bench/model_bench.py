"""The model-level subject: a recipe's model (backbone, head, SwinT surgery) on a random batch."""

from __future__ import annotations

import paddle

from ..models import build_model, model_flops
from ..nn.precision import autocast, effective
from ..recipe import load_recipe
from ..train.detection import random_boxes
from ..train.optimizers import build_optimizer
from ..train.step import train_step
from ..train.tasks import task_for
from .measure import Subject

MODEL_FLOPS_SOURCE = "model_flops"  # analytic SwinT + Conv2D/Linear through hooks


def model_subject(spec: dict) -> Subject:
    """The model of the recipe file ``spec["recipe"]`` built at ``resolution`` (the recipe's
    own image size is not used) on a random batch of ``batch_size`` images and labels (masks
    for segmentation, :func:`~swint_cli.train.detection.random_boxes` for detection), its
    products in ``precision``, with ``recompute`` every SwinT
    of its rules recomputing its activations, and with ``in_backward`` the optimizer's update
    inside backward.

    Inference: a forward pass. Training step: the trainer's own
    :func:`~swint_cli.train.step.train_step` (forward, the recipe's loss, backward, with a
    GradScaler under AMP) with the recipe's optimizer as the trainer builds it (its gradient
    clipping and weight-decay groups), at the optimizer's base learning rate.
    """
    recipe = load_recipe(spec["recipe"])
    size, batch, amp = spec["resolution"], spec["batch_size"], spec["amp"]
    chosen = spec.get("precision", "fp32")
    section = recipe.model
    if spec.get("recompute"):
        rules = [rule.model_copy(update={"recompute": True}) for rule in section.replace]
        section = section.model_copy(update={"replace": rules})
    model, report = build_model(section, size, recipe.task)
    flops = model_flops(model, size)
    images = paddle.randn([batch, 3, size, size])
    task = task_for(recipe, model)
    classes = recipe.model.num_classes
    if recipe.task == "detection":
        labels = random_boxes(batch, size, classes)
    else:
        per_pixel = [size, size] if recipe.task == "segmentation" else []
        labels = paddle.randint(0, classes, [batch, *per_pixel])
    training = recipe.training
    config = training.optimizer
    if spec.get("in_backward"):
        config = config.model_copy(update={"in_backward": True})
    optimizer = build_optimizer(config, model, training.clip_grad_norm, report.model_paths())
    scaler = paddle.amp.GradScaler() if amp else None

    def infer() -> paddle.Tensor:
        with paddle.amp.auto_cast(enable=amp), autocast(chosen):
            return model(images)

    def train() -> None:
        train_step(
            model,
            images,
            labels,
            loss=task.loss,
            optimizer=optimizer,
            scaler=scaler,
            amp=amp,
            precision=chosen,
        )

    details = {
        "backbone": recipe.model.backbone,
        "swint_slots": report.swint_count,
        "precision": effective(chosen),  # as run: fp32 where bf16 cannot run
    }
    return Subject(model, infer, train, flops, MODEL_FLOPS_SOURCE, details)
