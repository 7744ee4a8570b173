"""Model and optimizer state as named NumPy arrays that survive a new process, checked
against the model they are loaded into.

Paddle keys optimizer state by generated parameter names (``conv2d_88.w_0_velocity_0``)
that depend on how many layers a process has built before; a resumed run builds its model
in a new process and gets other names. The state is therefore stored under the structured
names of ``model.named_parameters()`` (``stage1.conv1.weight::_velocity_0``) and mapped
back to the current generated names on load. Nested entries (``master_weights``) are
stored as ``<entry>/<structured name>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import paddle

from ..models.state import cast_like, shape_of
from ..runs import RunError

SEPARATOR = "::"
NESTED = "/"


def model_arrays(model: paddle.nn.Layer) -> dict[str, np.ndarray]:
    """``model.state_dict()`` as NumPy arrays."""
    return {name: value.numpy() for name, value in model.state_dict().items()}


def _split(key: str, names: Mapping[str, str]) -> tuple[str, str] | None:
    """``conv2d_88.w_0_velocity_0`` -> (``conv2d_88.w_0``, ``_velocity_0``) for a known name."""
    best = max((n for n in names if key == n or key.startswith(n + "_")), key=len, default=None)
    return (best, key[len(best) :]) if best is not None else None


def optimizer_arrays(
    model: paddle.nn.Layer, optimizer: paddle.optimizer.Optimizer
) -> dict[str, np.ndarray]:
    """The optimizer's state as arrays under structured parameter names."""
    names = {param.name: name for name, param in model.named_parameters()}

    def rename(key: str) -> str:
        split = _split(key, names)
        return f"{names[split[0]]}{SEPARATOR}{split[1]}" if split else key

    arrays: dict[str, np.ndarray] = {}
    for key, value in optimizer.state_dict().items():
        if isinstance(value, dict):  # e.g. master_weights, keyed by parameter name
            arrays.update({f"{key}{NESTED}{rename(k)}": v.numpy() for k, v in value.items()})
        elif isinstance(value, paddle.Tensor):
            arrays[rename(key)] = value.numpy()
    return arrays


def _optimizer_problem(model: paddle.nn.Layer, arrays: Mapping[str, np.ndarray]) -> str | None:
    """Why optimizer ``arrays`` cannot belong to ``model``'s parameters, or None.

    Every entry must name a trainable parameter, have its shape (or one element, as Adam's
    power accumulators), and every parameter with state must have the same accumulators.
    """
    params = {name: p for name, p in model.named_parameters() if not p.stop_gradient}
    suffixes: dict[str, set[str]] = {}
    for key, value in arrays.items():
        outer, _, entry = key.rpartition(NESTED)
        name, separator, suffix = entry.partition(SEPARATOR)
        if not separator or name not in params:
            return f"entry {key} belongs to no parameter of the model"
        if value.dtype.kind not in "fiu":
            return f"entry {key} holds {value.dtype}, not numbers"
        if shape_of(value) != shape_of(params[name]) and value.size != 1:
            return f"entry {key} is {shape_of(value)}, the parameter {shape_of(params[name])}"
        suffixes.setdefault(name, set()).add(f"{outer}{NESTED}{suffix}")
    kinds = {frozenset(found) for found in suffixes.values()}
    if len(kinds) > 1:
        return "the parameters do not all have the same optimizer accumulators"
    return None


def restore_optimizer(
    model: paddle.nn.Layer,
    optimizer: paddle.optimizer.Optimizer,
    arrays: Mapping[str, np.ndarray],
    source: Path,
) -> None:
    """Load :func:`optimizer_arrays` output into ``optimizer`` for ``model``, after checking
    that every entry fits a parameter (RunError naming ``source`` otherwise)."""
    problem = _optimizer_problem(model, arrays)
    if problem is not None:
        raise RunError(f"{source}: does not fit the recipe's optimizer: {problem}")
    generated = {name: param.name for name, param in model.named_parameters()}

    def rename(key: str) -> str:
        structured, _, suffix = key.partition(SEPARATOR)
        return generated[structured] + suffix

    params = dict(model.named_parameters())
    state: dict[str, object] = {}
    for key, value in arrays.items():
        outer, nested, inner = key.rpartition(NESTED)
        param = params[inner.partition(SEPARATOR)[0]]
        tensor = paddle.to_tensor(cast_like(value, param) if value.dtype.kind == "f" else value)
        if nested:
            state.setdefault(outer, {})[rename(inner)] = tensor  # type: ignore[index]
        else:
            state[rename(key)] = tensor
    optimizer.set_state_dict(state)
