"""PyTorch checkpoints (``.pth``, ``.pt``) read as data, without torch and without running code.

A checkpoint written by ``torch.save`` (torch >= 1.6) is a zip archive: ``<top>/data.pkl``
pickles the object graph, and each tensor storage is a raw little-endian buffer
``<top>/data/<key>``. The pickle is read by an unpickler that admits only the globals a
state dict needs (``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` and
``_rebuild_parameter``, and the typed storages) and builds each tensor as a NumPy array over
its storage's buffer; any other global is refused by name before anything is called, as
``torch.load(weights_only=True)`` refuses what its allowlist lacks. Pre-1.6 checkpoints (one
legacy pickle stream) are refused in one line.
"""

from __future__ import annotations

import collections
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .safe_pickle import RefusedPickle

TORCH_SUFFIXES = (".pth", ".pt")
# torch's typed storages, by the name its pickles give them, and their element types
STORAGES = {
    "DoubleStorage": "<f8",
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "BFloat16Storage": "<u2",  # NumPy has no bfloat16: the raw bits, widened below
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}
ZIP_MAGIC = b"PK\x03\x04"
# the keys training scripts wrap a state dict in ({'model': ..., 'epoch': ...})
WRAPPERS = ("state_dict", "model", "model_state", "module")


class CheckpointError(ValueError):
    """A file that is not a readable zip-format PyTorch state dict; the reason, in words."""


@dataclass(frozen=True)
class _Storage:
    dtype: str
    key: str
    numel: int


def _bfloat16_to_float32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: object, archive: zipfile.ZipFile, top: str) -> None:
        super().__init__(file)  # type: ignore[arg-type]
        self.archive, self.top = archive, top
        self.buffers: dict[str, bytes] = {}

    def find_class(self, module: str, name: str) -> object:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return self.rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return lambda data, requires_grad, hooks, *rest: data
        if module == "torch" and name in STORAGES:
            return name
        raise RefusedPickle(f"refused to load {module}.{name}: not plain data")

    def persistent_load(self, pid: object) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise RefusedPickle(f"refused a persistent id {pid!r:.80}: not a tensor storage")
        _, storage, key, _, numel = pid
        if storage not in STORAGES:
            raise RefusedPickle(f"refused a storage of type {storage!r}")
        return _Storage(STORAGES[storage], str(key), int(numel))

    def rebuild_tensor(
        self,
        storage: _Storage,
        offset: int,
        size: tuple[int, ...],
        stride: tuple[int, ...],
        *rest: object,
    ) -> np.ndarray:
        """A copy of the tensor ``size`` at element ``offset`` with element ``stride``."""
        if storage.key not in self.buffers:
            self.buffers[storage.key] = self.archive.read(f"{self.top}/data/{storage.key}")
        flat = np.frombuffer(self.buffers[storage.key], dtype=storage.dtype)
        if flat.size < storage.numel:
            raise CheckpointError(
                f"storage {storage.key} holds {flat.size} of {storage.numel} values"
            )
        last = (
            offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) if size else offset
        )
        if offset < 0 or (all(size) and last >= flat.size):
            raise CheckpointError(f"a tensor reaches past the end of storage {storage.key}")
        view = np.lib.stride_tricks.as_strided(
            flat[offset:], shape=tuple(size), strides=[s * flat.itemsize for s in stride]
        )
        array = np.array(view)  # a copy: the buffer is the archive's
        return _bfloat16_to_float32(array) if storage.dtype == "<u2" else array


def _top_folder(archive: zipfile.ZipFile) -> str:
    pickles = [name for name in archive.namelist() if name.endswith("/data.pkl")]
    if len(pickles) != 1:
        raise CheckpointError("no data.pkl in the archive: not a torch.save checkpoint")
    return pickles[0][: -len("/data.pkl")]


def _state_dict(data: object) -> Mapping[str, np.ndarray]:
    """The state dict in ``data``: itself, or under one of :data:`WRAPPERS`."""
    if isinstance(data, Mapping):
        for key in WRAPPERS:
            if isinstance(data.get(key), Mapping):
                return _state_dict(data[key])
        if all(isinstance(value, np.ndarray) for value in data.values()):
            return data
        odd = next(key for key, value in data.items() if not isinstance(value, np.ndarray))
        raise CheckpointError(f"entry {odd!r} is not a tensor (and no state_dict/model entry)")
    raise CheckpointError(f"holds a {type(data).__name__}, not a state dict")


def read_torch_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """The state dict of the PyTorch checkpoint ``path`` as NumPy arrays (bfloat16 widened
    to float32), unwrapped from ``{'model': ...}`` or ``{'state_dict': ...}``.

    Raises:
        RefusedPickle: the pickle names a global outside the allowlist (the name is given);
            nothing it names has run.
        CheckpointError: a legacy (pre-1.6) file, a damaged or truncated archive, or no
            state dict inside. OSError when the file cannot be read.
    """
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as file:
            damaged = file.read(4) == ZIP_MAGIC
        if damaged:
            raise CheckpointError("a damaged or truncated checkpoint (no zip directory)")
        raise CheckpointError(
            "not a zip-format PyTorch checkpoint (written by torch < 1.6, or not a checkpoint); "
            "re-save it with torch.save from torch >= 1.6"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            top = _top_folder(archive)
            byteorder = f"{top}/byteorder"
            if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
                raise CheckpointError("a big-endian checkpoint; only little-endian ones are read")
            with archive.open(f"{top}/data.pkl") as file:
                data = _Unpickler(file, archive, top).load()
    except (RefusedPickle, CheckpointError):
        raise
    except Exception as exc:  # damaged archives and pickles raise many types
        raise CheckpointError(f"a damaged or truncated checkpoint ({exc})") from None
    return dict(_state_dict(data))
