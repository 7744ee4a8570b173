"""The model-level subject: a recipe's model (backbone, head, SwinT surgery) on a random batch."""

from __future__ import annotations

import paddle

from ..models import build_model, model_flops
from ..recipe import load_recipe
from ..train.tasks import task_for
from .measure import Subject

MODEL_FLOPS_SOURCE = "model_flops"  # analytic SwinT + Conv2D/Linear through hooks


def model_subject(spec: dict) -> Subject:
    """The model of the recipe file ``spec["recipe"]`` built at ``resolution`` (the recipe's
    own image size is not used) on a random batch of ``batch_size`` images and labels (masks
    for segmentation recipes).

    Inference: a forward pass. Training step: forward, the task's cross-entropy, backward and a
    Momentum step (learning rate 0.01, momentum 0.9; with a GradScaler under AMP).
    """
    recipe = load_recipe(spec["recipe"])
    size, batch, amp = spec["resolution"], spec["batch_size"], spec["amp"]
    model, report = build_model(recipe.model, size)
    flops = model_flops(model, size)
    images = paddle.randn([batch, 3, size, size])
    task = task_for(recipe)
    per_pixel = [size, size] if recipe.task == "segmentation" else []
    labels = paddle.randint(0, recipe.model.num_classes, [batch, *per_pixel])
    optimizer = paddle.optimizer.Momentum(0.01, momentum=0.9, parameters=model.parameters())
    scaler = paddle.amp.GradScaler() if amp else None

    def infer() -> paddle.Tensor:
        with paddle.amp.auto_cast(enable=amp):
            return model(images)

    def train() -> None:
        with paddle.amp.auto_cast(enable=amp):
            loss = task.loss(model(images), labels)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        optimizer.clear_grad()

    details = {"backbone": recipe.model.backbone, "swint_slots": report.swint_count}
    return Subject(model, infer, train, flops, MODEL_FLOPS_SOURCE, details)
