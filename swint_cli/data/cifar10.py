"""CIFAR-10 read straight from the official python tarball (cifar-10-python.tar.gz).

Layout: ``cifar-10-batches-py/data_batch_1`` .. ``data_batch_5`` (train), ``test_batch``
(validation) and ``batches.meta`` (``b'label_names'``); each batch a pickled dict with
``b'data'`` (uint8 [N, 3072]: the R, G and B planes of a 32x32 image) and ``b'labels'``.
Any number of images per batch is accepted, so subsets in the same layout read the same way.
The pickles are loaded with :func:`~swint_cli.files.safe_load`, which builds plain data and
NumPy arrays, never arbitrary objects.
Nothing is downloaded. Decoded arrays are cached per file within the process (read-only).
"""

from __future__ import annotations

import functools
import io
import tarfile
import zlib
from pathlib import Path

import numpy as np

from ..files import safe_load
from .errors import DataError

EXPECTED = "the CIFAR-10 python tarball, cifar-10-python.tar.gz"
GIVE_PATH = "give it with --set data.path=/path/to/cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
BATCH_FORMAT = "a pickled dict with b'data' uint8 N x 3072 and b'labels'"

Split = tuple[np.ndarray, np.ndarray]  # images uint8 [N, 32, 32, 3], labels int64 [N]


def _members(path: Path) -> dict[str, bytes]:
    """Bytes of the wanted members, read in one sequential pass over the gzip stream."""
    wanted = {f"{FOLDER}/{name}" for name in (*TRAIN_BATCHES, TEST_BATCH, META)}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r|gz") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    found[member.name] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a readable .tar.gz ({exc}); expected {EXPECTED}") from None
    missing = sorted(wanted - found.keys())
    if missing:
        raise DataError(f"{path}: no member {missing[0]}; expected {EXPECTED}")
    return found


def _unpickle(path: Path, name: str, raw: bytes) -> object:
    try:
        return safe_load(io.BytesIO(raw), encoding="bytes")
    except Exception as exc:  # any failure means a malformed member
        message = f"{FOLDER}/{name} cannot be unpickled ({exc})"
        raise DataError(f"{path}: {message}; expected {EXPECTED}") from None


def _batch(path: Path, name: str, raw: bytes, num_classes: int) -> Split:
    """Decode one batch: images uint8 [N, 32, 32, 3], labels int64 [N]."""
    content = _unpickle(path, name, raw)
    data = content.get(b"data") if isinstance(content, dict) else None
    labels = content.get(b"labels") if isinstance(content, dict) else None
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        labels = None
    valid = (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == 3 * 32 * 32
        and labels is not None
        and labels.shape == (data.shape[0],)
        and ((labels >= 0) & (labels < num_classes)).all()
    )
    if not valid:
        raise DataError(
            f"{path}: {FOLDER}/{name} is not a CIFAR-10 batch ({BATCH_FORMAT}); expected {EXPECTED}"
        )
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # RGB planes -> HWC
    return np.ascontiguousarray(images), labels


def _class_names(path: Path, raw: bytes) -> list[str]:
    content = _unpickle(path, META, raw)
    names = content.get(b"label_names") if isinstance(content, dict) else None
    if not isinstance(names, list) or not names or not all(isinstance(n, bytes) for n in names):
        raise DataError(
            f"{path}: {FOLDER}/{META} has no b'label_names' list of class names; "
            f"expected {EXPECTED}"
        )
    return [name.decode("utf-8", errors="replace") for name in names]


@functools.lru_cache(maxsize=2)
def _decode(path: Path, _version: tuple[int, int]) -> tuple[Split, Split, list[str]]:
    members = _members(path)
    classes = _class_names(path, members[f"{FOLDER}/{META}"])
    parts = [
        _batch(path, name, members[f"{FOLDER}/{name}"], len(classes)) for name in TRAIN_BATCHES
    ]
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    val = _batch(path, TEST_BATCH, members[f"{FOLDER}/{TEST_BATCH}"], len(classes))
    for array in (*train, *val):
        array.flags.writeable = False  # shared by every caller through the cache
    return train, val, classes


def read_cifar10(path: str | None) -> tuple[Split, Split, list[str]]:
    """Read ``path`` (the ``data.path`` recipe key) as the CIFAR-10 python tarball.

    Returns ``(train, val, classes)``: train from ``data_batch_1..5``, val from ``test_batch``,
    each (images uint8 [N, 32, 32, 3], labels int64 [N]); class names from ``batches.meta``.
    Raises :class:`DataError` naming the path and the expected format.
    """
    if not path:
        raise DataError(f"data.path is not set: dataset cifar10 needs {EXPECTED}; {GIVE_PATH}")
    file = Path(path).expanduser()
    if not file.is_file():
        problem = "is a directory" if file.is_dir() else "no such file"
        raise DataError(f"{file}: {problem}; data.path must be {EXPECTED}: {GIVE_PATH}")
    stat = file.stat()
    return _decode(file.resolve(), (stat.st_mtime_ns, stat.st_size))
