"""Named-array files: weights and optimizer state as ``name -> NumPy array``.

New files are safetensors (``.safetensors``): a JSON header and raw array bytes, nothing that
can run code. Files written by ``paddle.save`` (``.pdparams``, ``.pdopt``, or any other name)
are pickles and are read through :func:`~swint_cli.files.safe_pickle.safe_load`, which builds
plain data only; PyTorch checkpoints (``.pth``, ``.pt``) through
:mod:`~swint_cli.files.torch_checkpoint`, which builds state dicts only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save

from ..errors import UserError
from .atomic import replace_atomically
from .safe_pickle import RefusedPickle, safe_load
from .torch_checkpoint import TORCH_SUFFIXES, CheckpointError, read_torch_checkpoint

SAFETENSORS = ".safetensors"
PADDLE_NAME_TABLE = "StructuredToParameterName@@"  # paddle.save's own bookkeeping entry


class ArrayFileError(UserError):
    """A file that is not a readable mapping of names to arrays: ``path: reason``."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def write_arrays(
    path: Path, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None
) -> None:
    """Write ``arrays`` (and string ``metadata``) to the safetensors file ``path``, atomically.
    Raises :class:`~.write_error.WriteError` when the file cannot be written."""
    contiguous = {name: np.ascontiguousarray(value) for name, value in arrays.items()}

    def write(tmp: Path) -> None:
        # serialised in memory and written by Python, so that a full disk is an OSError
        # (safetensors' own file writer reports it as a SafetensorError with no errno)
        tmp.write_bytes(save(contiguous, metadata=dict(metadata or {})))

    replace_atomically(path, write)


def _from_pickle(path: Path) -> dict[str, np.ndarray]:
    try:
        with open(path, "rb") as file:
            data = safe_load(file)
    except OSError as exc:
        raise ArrayFileError(path, f"cannot read ({exc.strerror or exc})") from None
    except RefusedPickle as exc:
        raise ArrayFileError(path, f"not loaded: {exc}") from None
    except Exception as exc:  # truncated or malformed pickles raise many types
        raise ArrayFileError(path, f"not a readable weights file ({exc})") from None
    if not isinstance(data, dict):
        raise ArrayFileError(path, f"holds a {type(data).__name__}, not a state dict")
    arrays = {}
    for name, value in data.items():
        if name == PADDLE_NAME_TABLE:
            continue
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], np.ndarray):
            value = value[1]  # Paddle 2.x stores some tensors as (name, array)
        if not isinstance(name, str) or not isinstance(value, np.ndarray):
            raise ArrayFileError(path, f"entry {name!r} is not an array")
        arrays[name] = value
    return arrays


def _from_torch(path: Path) -> dict[str, np.ndarray]:
    try:
        return read_torch_checkpoint(path)
    except OSError as exc:
        raise ArrayFileError(path, f"cannot read ({exc.strerror or exc})") from None
    except RefusedPickle as exc:
        raise ArrayFileError(path, f"not loaded: {exc}") from None
    except CheckpointError as exc:
        raise ArrayFileError(path, str(exc)) from None


def read_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(arrays, metadata)`` of a safetensors file, a PyTorch checkpoint (``.pth``, ``.pt``:
    :mod:`.torch_checkpoint`) or a ``paddle.save`` pickle of a state dict (metadata empty
    for the last two). Raises :class:`ArrayFileError` naming ``path``."""
    if path.suffix in TORCH_SUFFIXES:
        return _from_torch(path), {}
    if path.suffix != SAFETENSORS:
        return _from_pickle(path), {}
    try:
        with safe_open(str(path), framework="numpy") as file:
            metadata = dict(file.metadata() or {})
            return {name: file.get_tensor(name) for name in file.keys()}, metadata  # noqa: SIM118
    except OSError as exc:
        raise ArrayFileError(path, f"cannot read ({exc.strerror or exc})") from None
    except (SafetensorError, ValueError) as exc:
        raise ArrayFileError(path, f"not a readable safetensors file ({exc})") from None
