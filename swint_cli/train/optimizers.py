"""Optimisers named in recipes."""

from __future__ import annotations

import paddle

from ..recipe.schema import Optimizer


def build_optimizer(config: Optimizer, parameters: list) -> paddle.optimizer.Optimizer:
    """Momentum and SGD with L2 decay (the article's setting), or AdamW with decoupled decay."""
    decay = paddle.regularizer.L2Decay(config.weight_decay) if config.weight_decay else None
    if config.name == "momentum":
        return paddle.optimizer.Momentum(
            config.learning_rate, config.momentum, parameters=parameters, weight_decay=decay
        )
    if config.name == "sgd":
        return paddle.optimizer.SGD(config.learning_rate, parameters=parameters, weight_decay=decay)
    return paddle.optimizer.AdamW(
        config.learning_rate, parameters=parameters, weight_decay=config.weight_decay
    )
