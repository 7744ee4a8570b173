"""Saving and loading model + optimizer state in a form that survives a new process.

Paddle keys optimizer state by generated parameter names (``conv2d_88.w_0_velocity_0``)
that depend on how many layers a process has built before; a resumed run builds its model
in a new process and gets other names. The state is therefore stored under the structured
names of ``model.named_parameters()`` (``stage1.conv1.weight::_velocity_0``) and mapped
back to the current generated names on load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import paddle

SEPARATOR = "::"


def _generated_to_structured(model: paddle.nn.Layer) -> dict[str, str]:
    return {param.name: name for name, param in model.named_parameters()}


def _split(key: str, names: dict[str, str]) -> tuple[str, str] | None:
    """``conv2d_88.w_0_velocity_0`` -> (``conv2d_88.w_0``, ``_velocity_0``) for a known name."""
    best = max((n for n in names if key == n or key.startswith(n + "_")), key=len, default=None)
    return (best, key[len(best) :]) if best is not None else None


def portable_optimizer_state(
    model: paddle.nn.Layer, optimizer: paddle.optimizer.Optimizer
) -> dict[str, Any]:
    """The optimizer's state dict with parameter names replaced by structured ones."""
    names = _generated_to_structured(model)

    def rename(key: str) -> str:
        split = _split(key, names)
        return f"{names[split[0]]}{SEPARATOR}{split[1]}" if split else key

    state: dict[str, Any] = {}
    for key, value in optimizer.state_dict().items():
        if isinstance(value, dict):  # e.g. master_weights, keyed by parameter name
            value = {rename(k): v for k, v in value.items()}
        state[rename(key)] = value
    return state


def restore_optimizer_state(
    model: paddle.nn.Layer, optimizer: paddle.optimizer.Optimizer, state: dict[str, Any]
) -> None:
    """Load a :func:`portable_optimizer_state` dict into ``optimizer`` for ``model``."""
    generated = {name: param.name for name, param in model.named_parameters()}

    def rename(key: str) -> str:
        if SEPARATOR not in key:
            return key
        structured, suffix = key.split(SEPARATOR, 1)
        return generated[structured] + suffix

    optimizer.set_state_dict(
        {
            rename(k): ({rename(i): x for i, x in v.items()} if isinstance(v, dict) else v)
            for k, v in state.items()
        }
    )


def save_atomic(obj: Any, path: Path) -> None:
    """``paddle.save`` to a temporary file, then rename over ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    paddle.save(obj, str(tmp))
    tmp.replace(path)
