"""Optimisers named in recipes, with their weight-decay groups and gradient clipping."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

import paddle

from ..errors import UserError
from ..recipe.schema import Optimizer, ParamGroup
from .update_in_backward import update_in_backward

NO_DECAY_NAMES = ("relative_position_bias_table",)


def decays(name: str, param: paddle.Tensor) -> bool:
    """Whether Swin's ``set_weight_decay`` decays this parameter: not the 1-D ones (norm
    weights and biases, biases, layer-scale and hybrid gains), not the position-bias tables."""
    return param.ndim > 1 and not name.endswith(NO_DECAY_NAMES)


SWAPPED = "@swapped"  # ParamGroup.params: every parameter of the swapped-in SwinT slots


def _group_of(name: str, groups: Sequence[ParamGroup], swapped: Sequence[str]) -> int | None:
    """The index of the first of ``groups`` that parameter ``name`` belongs to, or None."""
    for index, group in enumerate(groups):
        if group.params == SWAPPED:
            if any(name.startswith(path + ".") for path in swapped):
                return index
        elif fnmatch.fnmatchcase(name, group.params):
            return index
    return None


def parameter_groups(
    model: paddle.nn.Layer,
    decay: str,
    groups: Sequence[ParamGroup] = (),
    swapped: Sequence[str] = (),
) -> list:
    """``model``'s trainable parameters (frozen ones left out) as the optimizer takes them:
    one list when every parameter learns alike, else Paddle's groups, each with its
    ``learning_rate`` (a multiplier of the base rate) and ``weight_decay``. ``decay="weights"``
    gives the parameters Swin does not decay (:func:`decays`) no weight decay; ``groups``
    (``training.optimizer.groups``; ``@swapped`` meaning every parameter under the
    ``swapped`` slot paths) set their own multiplier and decay. UserError naming the group
    that matches no trainable parameter."""
    named = [(name, param) for name, param in model.named_parameters() if not param.stop_gradient]
    settings: dict[tuple[float, float | None], list] = {}
    matched = set()
    for name, param in named:
        index = _group_of(name, groups, swapped)
        group = groups[index] if index is not None else None
        matched.add(index)
        weight_decay = None if decay == "all" or decays(name, param) else 0.0
        if group is not None and group.weight_decay is not None:
            weight_decay = group.weight_decay
        key = (group.lr_mult if group is not None else 1.0, weight_decay)
        settings.setdefault(key, []).append(param)
    for index, group in enumerate(groups):
        if index not in matched:
            raise UserError(
                f"training.optimizer.groups[{index}].params: {group.params!r} matches no "
                "trainable parameter"
            )
    if list(settings) == [(1.0, None)]:
        return settings[(1.0, None)]
    return [
        {
            "params": params,
            **({"learning_rate": lr_mult} if lr_mult != 1.0 else {}),
            **({"weight_decay": weight_decay} if weight_decay is not None else {}),
        }
        for (lr_mult, weight_decay), params in settings.items()
    ]


def build_optimizer(
    config: Optimizer,
    model: paddle.nn.Layer,
    clip_grad_norm: float | None = None,
    swapped: Sequence[str] = (),
) -> paddle.optimizer.Optimizer:
    """Momentum and SGD with L2 decay (the article's setting), or AdamW with decoupled decay,
    over :func:`parameter_groups` (``swapped``: the slot paths the recipe swapped);
    gradients clipped to ``clip_grad_norm`` (global L2 norm) when it is set; with
    ``config.in_backward``, each parameter is updated inside the backward pass
    (:func:`~.update_in_backward.update_in_backward`).

    Raises:
        ValueError: ``in_backward`` with ``clip_grad_norm``.
    """
    parameters = parameter_groups(model, config.decay, config.groups, swapped)
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
