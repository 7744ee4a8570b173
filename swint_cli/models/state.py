"""Loading named arrays into a model, only when they fit it name for name and shape for shape."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from paddle import nn

from .errors import ModelError


def shape_of(value: object) -> list[int]:
    """The shape of a tensor or array as a list of ints."""
    return [int(d) for d in value.shape]  # type: ignore[attr-defined]


def dtype_of(value: object) -> str:
    """The element type of a tensor or array by name: ``float32``, ``int64``, ..."""
    dtype = value.dtype  # type: ignore[attr-defined]
    return dtype.name if isinstance(dtype, np.dtype) else str(dtype).rsplit(".", 1)[-1]


def cast_like(array: np.ndarray, value: object) -> np.ndarray:
    """``array`` as ``value``'s element type where NumPy has it (float64 -> float32)."""
    try:
        return np.asarray(array).astype(dtype_of(value), copy=False)
    except TypeError:  # bfloat16 and other types NumPy lacks: Paddle converts itself
        return np.asarray(array)


def _kind(dtype: str) -> str:
    """``f`` for floating types (bfloat16 included), else NumPy's kind letter."""
    return "f" if "float" in dtype else np.dtype(dtype).kind


def kind_problem(name: str, found: object, expected: object) -> str | None:
    """Why ``found`` cannot stand for ``expected``'s numbers (floats for ints, say), or None."""
    if _kind(dtype_of(found)) == _kind(dtype_of(expected)):
        return None
    return f"{name} holds {dtype_of(found)}, the model {dtype_of(expected)}"


def fit_problem(expected: Mapping[str, object], found: Mapping[str, object]) -> str | None:
    """Why arrays ``found`` do not fit the state ``expected`` (names and shapes): the first
    difference and how many more there are; None when they fit."""
    problems = [f"it lacks {name}" for name in expected if name not in found]
    problems += [f"the model has no {name}" for name in found if name not in expected]
    problems += [
        f"{name} is {shape_of(found[name])}, the model's {shape_of(value)}"
        for name, value in expected.items()
        if name in found and shape_of(found[name]) != shape_of(value)
    ]
    problems += [
        problem
        for name, value in expected.items()
        if name in found and (problem := kind_problem(name, found[name], value))
    ]
    if not problems:
        return None
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{problems[0]}{more}"


def load_state(model: nn.Layer, arrays: Mapping[str, np.ndarray], source: Path) -> None:
    """Set ``model``'s state dict from ``arrays``; ModelError naming ``source`` and the first
    difference when they do not fit (nothing is loaded then). Fitting means the same names
    and shapes, and numbers of the same kind: float64 weights load into float32 ones."""
    state = model.state_dict()
    problem = fit_problem(state, arrays)
    if problem is not None:
        raise ModelError(f"{source}: does not fit the recipe's model: {problem}")
    model.set_state_dict({name: cast_like(arrays[name], value) for name, value in state.items()})
