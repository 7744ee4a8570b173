"""Optimisers named in recipes, with their weight-decay groups and gradient clipping."""

from __future__ import annotations

import paddle

from ..recipe.schema import Optimizer
from .update_in_backward import update_in_backward

NO_DECAY_NAMES = ("relative_position_bias_table",)


def decays(name: str, param: paddle.Tensor) -> bool:
    """Whether Swin's ``set_weight_decay`` decays this parameter: not the 1-D ones (norm
    weights and biases, biases, layer-scale and hybrid gains), not the position-bias tables."""
    return param.ndim > 1 and not name.endswith(NO_DECAY_NAMES)


def parameter_groups(model: paddle.nn.Layer, decay: str) -> list:
    """``model``'s trainable parameters (frozen ones left out) as the optimizer takes them:
    one list for ``decay="all"``; for ``"weights"``, the decayed ones and a group of the
    others with no weight decay."""
    named = [(name, param) for name, param in model.named_parameters() if not param.stop_gradient]
    if decay == "all":
        return [param for _, param in named]
    decayed = [param for name, param in named if decays(name, param)]
    kept = [param for name, param in named if not decays(name, param)]
    groups = [{"params": decayed}] if decayed else []
    return groups + ([{"params": kept, "weight_decay": 0.0}] if kept else [])


def build_optimizer(
    config: Optimizer, model: paddle.nn.Layer, clip_grad_norm: float | None = None
) -> paddle.optimizer.Optimizer:
    """Momentum and SGD with L2 decay (the article's setting), or AdamW with decoupled decay,
    over :func:`parameter_groups`; gradients clipped to ``clip_grad_norm`` (global L2 norm)
    when it is set; with ``config.in_backward``, each parameter is updated inside the
    backward pass (:func:`~.update_in_backward.update_in_backward`).

    Raises:
        ValueError: ``in_backward`` with ``clip_grad_norm``.
    """
    parameters = parameter_groups(model, config.decay)
    clip = paddle.nn.ClipGradByGlobalNorm(clip_grad_norm) if clip_grad_norm else None
    decay = paddle.regularizer.L2Decay(config.weight_decay) if config.weight_decay else None
    rate = config.learning_rate
    if config.name == "momentum":
        optimizer = paddle.optimizer.Momentum(
            rate, config.momentum, parameters=parameters, weight_decay=decay, grad_clip=clip
        )
    elif config.name == "sgd":
        optimizer = paddle.optimizer.SGD(
            rate, parameters=parameters, weight_decay=decay, grad_clip=clip
        )
    else:
        optimizer = paddle.optimizer.AdamW(
            rate, parameters=parameters, weight_decay=config.weight_decay, grad_clip=clip
        )
    if config.in_backward:
        update_in_backward(optimizer)
    return optimizer
