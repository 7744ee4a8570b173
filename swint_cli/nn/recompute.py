"""Activation recompute for a layer's blocks: keep a block's input, recompute the rest.

:func:`recomputed` runs a block under Paddle's non-reentrant recompute
(``paddle.distributed.fleet.utils.recompute(..., use_reentrant=False)``, which also works under
``paddle.DataParallel``): the forward keeps none of the block's intermediate activations, and
the backward runs the block's forward again, with the random state (dropout, drop path) and
the product precision (:mod:`.precision`) of the first run, before its own backward, and
leaves the random state as it found it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import paddle
from paddle.distributed.fleet.recompute import recompute as _recompute_module
from paddle.distributed.fleet.utils import recompute

from . import precision


def applies() -> bool:
    """True when recomputing pays: dynamic mode with gradients being recorded."""
    return paddle.in_dynamic_mode() and paddle.is_grad_enabled()


def recomputed(
    block: Callable[..., paddle.Tensor], x: paddle.Tensor, *args: object
) -> paddle.Tensor:
    """``block(x, *args)`` with its activations recomputed in the backward pass."""
    products_precision = "bf16" if precision.products_in_bf16() else "fp32"
    # Paddle preserves the random state itself only on some devices (not the CPU in 2.6):
    # the state the block first ran with is kept here and put back for the second run.
    first_state = paddle.get_rng_state()
    runs = []

    def run(tokens: paddle.Tensor) -> paddle.Tensor:
        runs.append(len(runs))
        current = paddle.get_rng_state() if len(runs) > 1 else None
        if current is not None:
            paddle.set_rng_state(first_state)
        try:
            with precision.autocast(products_precision):
                return block(tokens, *args)
        finally:
            if current is not None:
                paddle.set_rng_state(current)

    # Paddle logs a warning when the block's input needs no gradient (a SwinT on the network's
    # images); its parameters still do, so the block is recomputed all the same.
    logger = getattr(_recompute_module, "logger", logging.getLogger("paddle"))
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return recompute(run, x, use_reentrant=False, preserve_rng_state=False)
    finally:
        logger.setLevel(level)
