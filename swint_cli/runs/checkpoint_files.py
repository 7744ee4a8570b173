"""Checkpoint files of a run: weights and optimizer state as named arrays, position as JSON.

``checkpoints/`` holds, after every epoch (and at an interrupted batch)::

    last.safetensors            model state dict (structured names -> arrays)
    last.optimizer.safetensors  optimizer state (``<parameter name>::<accumulator>`` -> array)
    last.json                   where training continues, written last: the commit point
    best.safetensors            the weights of the best epoch so far

The three ``last`` files carry one ``checkpoint_id``. A save writes the two array files
under names holding the new id (``last.<id>.safetensors``), then ``last.json`` (the commit),
then renames them to their plain names: a crash before the commit leaves the previous
checkpoint whole, one after it leaves files the id still finds. A set whose ids differ is
refused rather than mixed. Runs written before this format have ``last.pdparams``,
``last.pdopt`` and ``best.pdparams`` (``paddle.save`` pickles), read through the restricted
unpickler. Every path is checked to stay inside the run directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import ArrayFileError, read_arrays, read_json, write_arrays, write_json
from ..files.write_error import WriteError, writing
from .layout import CHECKPOINTS_DIR, RunError, inside

WEIGHTS = (".safetensors", ".pdparams")  # this format, then the one before it
OPTIMIZER = (".optimizer.safetensors", ".pdopt")
LEGACY = (WEIGHTS[1], OPTIMIZER[1])
POSITION = "last.json"
ID_KEY = "checkpoint_id"
_STAGED = re.compile(r"last\.[0-9a-f]{32}(\.optimizer)?\.safetensors")


def _first_existing(run: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    for suffix in suffixes:
        path = inside(run, f"{CHECKPOINTS_DIR}/{stem}{suffix}")
        if path.is_file():
            return path
    return None


def _last_stamp(run: Path) -> str | None:
    """The ``checkpoint_id`` in ``last.json`` (None when absent, unreadable or older)."""
    try:
        position = read_json(inside(run, f"{CHECKPOINTS_DIR}/{POSITION}"))
    except (OSError, ValueError):
        return None
    stamp = position.get(ID_KEY) if isinstance(position, dict) else None
    return stamp if isinstance(stamp, str) else None


def _last_file(run: Path, stamp: str, suffix: str) -> Path:
    """The ``last`` file of checkpoint ``stamp``: still under its staged name when a save
    stopped between its commit and the rename, else under the plain name."""
    staged = inside(run, f"{CHECKPOINTS_DIR}/last.{stamp}{suffix}")
    return staged if staged.is_file() else inside(run, f"{CHECKPOINTS_DIR}/last{suffix}")


def _weights(run: Path, which: str) -> Path | None:
    stamp = _last_stamp(run) if which == "last" else None
    if stamp is not None:
        path = _last_file(run, stamp, WEIGHTS[0])
        return path if path.is_file() else None
    return _first_existing(run, which, WEIGHTS)


def find_weights(run: Path, which: str = "best") -> tuple[Path, str | None]:
    """``(weights file, note)`` of checkpoint ``which`` (``best`` or ``last``). ``best``
    falls back to ``last`` when the run has none yet, with a note saying so; no usable file
    is a :class:`RunError`."""
    found = _weights(run, which)
    if found is not None:
        return found, None
    if which == "best":
        last = _weights(run, "last")
        if last is not None:
            return last, f"{CHECKPOINTS_DIR}/best is missing; using {CHECKPOINTS_DIR}/{last.name}"
    missing = "best nor last weights" if which == "best" else "last weights"
    raise RunError(
        f"{run}: no checkpoint ({CHECKPOINTS_DIR}/ has no {missing}); "
        "has the run finished an epoch?"
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
    """Write the ``last`` checkpoint so that a crash at any point leaves a whole one (see the
    module docstring). Raises WriteError naming the ``last`` file that could not be written
    (after removing what this save staged, when that fails before the commit)."""
    folder = run / CHECKPOINTS_DIR
    stamp = uuid.uuid4().hex
    suffixes = (WEIGHTS[0], OPTIMIZER[0])
    staged = [folder / f"last.{stamp}{suffix}" for suffix in suffixes]
    try:
        for arrays, suffix, path in zip((model, optimizer), suffixes, staged, strict=True):
            with writing(folder / f"last{suffix}"):
                write_arrays(path, arrays, {ID_KEY: stamp})
        write_json(folder / POSITION, {**position, ID_KEY: stamp})  # the commit
    except WriteError:
        for path in staged:  # the space they take is what a full disk needs back
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        raise
    for suffix, path in zip(suffixes, staged, strict=True):
        with writing(folder / f"last{suffix}"):
            os.replace(path, folder / f"last{suffix}")
    for leftover in folder.iterdir():  # staged by a save that crashed before its commit
        if _STAGED.fullmatch(leftover.name):
            leftover.unlink(missing_ok=True)


def save_best_weights(run: Path, model: Mapping[str, np.ndarray]) -> None:
    write_arrays(run / CHECKPOINTS_DIR / f"best{WEIGHTS[0]}", model)


def read_training_state(run: Path) -> TrainingState:
    """The ``last`` checkpoint of ``run``, in this format or the one before; RunError naming
    the file when one is missing, unreadable, outside the run or from another checkpoint."""
    position_file = inside(run, f"{CHECKPOINTS_DIR}/{POSITION}")
    try:
        position = read_json(position_file)
    except (OSError, ValueError) as exc:
        raise RunError(f"{position_file}: cannot read ({exc})") from None
    if not isinstance(position, dict):
        raise RunError(f"{position_file}: not a checkpoint position")
    stamp = position.pop(ID_KEY, None)
    if stamp is not None:
        paths = [_last_file(run, str(stamp), suffix) for suffix in (WEIGHTS[0], OPTIMIZER[0])]
    else:
        paths = [
            inside(run, f"{CHECKPOINTS_DIR}/last{suffix}") for suffix in (WEIGHTS[1], OPTIMIZER[1])
        ]
    loaded = []
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
    return (run / CHECKPOINTS_DIR / POSITION).is_file()


def committed_position(run: Path) -> tuple[int, int] | None:
    """``(epoch, batch)`` where ``--resume`` continues ``run``, as its last checkpoint says;
    None when it has no readable one."""
    try:
        position = read_json(run / CHECKPOINTS_DIR / POSITION)
        return int(position.get("epoch", 1)), int(position.get("step", 0))  # type: ignore[union-attr]
    except (OSError, ValueError, TypeError, AttributeError):
        return None
