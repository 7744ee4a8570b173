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
    if not problems:
        return None
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{problems[0]}{more}"


def load_state(model: nn.Layer, arrays: Mapping[str, np.ndarray], source: Path) -> None:
    """Set ``model``'s state dict from ``arrays``; ModelError naming ``source`` and the first
    difference when they do not fit exactly (nothing is loaded then)."""
    problem = fit_problem(model.state_dict(), arrays)
    if problem is not None:
        raise ModelError(f"{source}: does not fit the recipe's model: {problem}")
    model.set_state_dict(dict(arrays))
