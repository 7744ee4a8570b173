"""The optimizer's update inside the backward pass (``training.optimizer.in_backward``).

Each trained parameter is updated as soon as its gradient is complete, and that gradient is
freed at once, so the gradients of the whole model never exist together: the step's peak
memory loses up to one float32 copy of the parameters. The update is the one
``optimizer.step()`` makes after backward, parameter by parameter: the same optimizer
kernel, learning rate, weight decay and state, so ``optimizer.state_dict()``, checkpoints
and resuming are unchanged, and ``step()`` after backward finds no gradient left to apply.

Not with what needs every gradient at once: clipping by the global norm, loss scaling (AMP)
or DataParallel's averaging of the gradients after backward.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import paddle


def _parameters_and_groups(
    optimizer: paddle.optimizer.Optimizer,
) -> Iterator[tuple[paddle.Tensor, int, dict | None]]:
    """Each trained parameter with its group's index and settings (None: no groups)."""
    groups = optimizer._param_groups
    if not isinstance(groups[0], dict):
        for param in groups:
            yield param, 0, None
        return
    for index, group in enumerate(groups):
        settings = {key: value for key, value in group.items() if key != "params"}
        for param in group["params"]:
            yield param, index, settings


def _update_hook(
    optimizer: paddle.optimizer.Optimizer, param: paddle.Tensor, index: int, settings: dict | None
) -> Callable[[], None]:
    """A hook that applies ``optimizer``'s update to ``param`` from its complete gradient,
    as ``step()`` would for ``param``'s group, then frees the gradient."""

    def update() -> None:
        grad = param._grad_ivar()
        if grad is None:
            return
        pairs: list | dict = [(param, grad)]
        if settings is not None:
            pairs = {"params": pairs, **settings}
        with paddle.no_grad():
            optimizer._apply_optimize(
                loss=None, startup_program=None, params_grads=pairs, param_group_idx=index
            )
        param.clear_gradient(False)  # release the gradient's memory, not only zero it

    return update


def update_in_backward(optimizer: paddle.optimizer.Optimizer) -> None:
    """Make ``optimizer`` update each of its parameters inside the backward pass, as soon as
    that parameter's gradient is complete (then free the gradient).

    Raises:
        ValueError: ``optimizer`` clips gradients (clipping needs every gradient at once).
    """
    if optimizer._grad_clip is not None:
        raise ValueError(
            "training.optimizer.in_backward cannot clip gradients (training.clip_grad_norm "
            "needs every gradient at once)"
        )
    for param, index, settings in _parameters_and_groups(optimizer):
        if not param.stop_gradient:
            param._register_backward_hook(_update_hook(optimizer, param, index, settings))
