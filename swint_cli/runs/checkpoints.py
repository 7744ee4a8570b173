"""Checkpoint files of a run: weights and optimizer state as named arrays, position as JSON.

``checkpoints/`` holds, after every epoch (and at an interrupted batch)::

    last.safetensors            model state dict (structured names -> arrays)
    last.optimizer.safetensors  optimizer state (``<parameter name>::<accumulator>`` -> array)
    last.json                   where training continues, written last: the commit point
    best.safetensors            the weights of the best epoch so far

The three ``last`` files carry one ``checkpoint_id``; a set whose ids differ (a crash
between two writes) is refused rather than mixed. Runs written before this format have
``last.pdparams``, ``last.pdopt`` and ``best.pdparams`` (``paddle.save`` pickles), read
through the restricted unpickler. Every path is checked to stay inside the run directory.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import ArrayFileError, read_arrays, read_json, write_arrays, write_json
from .layout import CHECKPOINTS, RunError, inside

WEIGHTS = (".safetensors", ".pdparams")  # this format, then the one before it
OPTIMIZER = (".optimizer.safetensors", ".pdopt")
POSITION = "last.json"
ID_KEY = "checkpoint_id"


def _first_existing(run: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    for suffix in suffixes:
        path = inside(run, f"{CHECKPOINTS}/{stem}{suffix}")
        if path.is_file():
            return path
    return None


def find_weights(run: Path, which: str = "best") -> tuple[Path, str | None]:
    """``(weights file, note)`` of checkpoint ``which`` (``best`` or ``last``). ``best``
    falls back to ``last`` when the run has none yet, with a note saying so; no usable file
    is a :class:`RunError`."""
    found = _first_existing(run, which, WEIGHTS)
    if found is not None:
        return found, None
    if which == "best":
        last = _first_existing(run, "last", WEIGHTS)
        if last is not None:
            return last, f"{CHECKPOINTS}/best is missing; using {CHECKPOINTS}/{last.name}"
    missing = "best nor last weights" if which == "best" else "last weights"
    raise RunError(
        f"{run}: no checkpoint ({CHECKPOINTS}/ has no {missing}); has the run finished an epoch?"
    )


def read_weights(path: Path) -> dict[str, np.ndarray]:
    """The named arrays in a weights file; RunError naming it when unreadable."""
    try:
        return read_arrays(path)[0]
    except ArrayFileError as exc:
        raise RunError(str(exc)) from None


@dataclass(frozen=True, kw_only=True)
class TrainingState:
    """What ``--resume`` continues from: model and optimizer arrays and the position."""

    model: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray]
    position: dict  # the trainer's position fields
    weights_file: Path
    optimizer_file: Path


def save_training_state(
    run: Path,
    model: Mapping[str, np.ndarray],
    optimizer: Mapping[str, np.ndarray],
    position: Mapping[str, object],
) -> None:
    """Write the ``last`` checkpoint; ``last.json`` goes last, so a crash leaves the previous
    position in force. Raises OSError."""
    folder = run / CHECKPOINTS
    stamp = {ID_KEY: uuid.uuid4().hex}
    write_arrays(folder / f"last{WEIGHTS[0]}", model, stamp)
    write_arrays(folder / f"last{OPTIMIZER[0]}", optimizer, stamp)
    write_json(folder / POSITION, {**position, **stamp})


def save_best_weights(run: Path, model: Mapping[str, np.ndarray]) -> None:
    write_arrays(run / CHECKPOINTS / f"best{WEIGHTS[0]}", model)


def read_training_state(run: Path) -> TrainingState:
    """The ``last`` checkpoint of ``run``, in this format or the one before; RunError naming
    the file when one is missing, unreadable, outside the run or from another checkpoint."""
    position_file = inside(run, f"{CHECKPOINTS}/{POSITION}")
    try:
        position = read_json(position_file)
    except (OSError, ValueError) as exc:
        raise RunError(f"{position_file}: cannot read ({exc})") from None
    if not isinstance(position, dict):
        raise RunError(f"{position_file}: not a checkpoint position")
    stamp = position.pop(ID_KEY, None)
    suffixes = (WEIGHTS[0], OPTIMIZER[0]) if stamp is not None else (WEIGHTS[1], OPTIMIZER[1])
    loaded, paths = [], [inside(run, f"{CHECKPOINTS}/last{suffix}") for suffix in suffixes]
    for path in paths:
        if not path.is_file():
            raise RunError(f"{path}: missing; the last checkpoint is incomplete")
        try:
            arrays, metadata = read_arrays(path)
        except ArrayFileError as exc:
            raise RunError(str(exc)) from None
        if stamp is not None and metadata.get(ID_KEY) != stamp:
            raise RunError(
                f"{path}: from another checkpoint than {position_file} "
                "(interrupted while writing?); the last checkpoint is unusable"
            )
        loaded.append(arrays)
    return TrainingState(
        model=loaded[0],
        optimizer=loaded[1],
        position=position,
        weights_file=paths[0],
        optimizer_file=paths[1],
    )


def has_position(run: Path) -> bool:
    return (run / CHECKPOINTS / POSITION).is_file()
