"""Unpickling that builds data and never runs code.

``pickle.load`` calls whatever callable a file names, so a planted ``.pdparams`` or data file
can run any command. :func:`safe_load` admits only what Paddle checkpoints and the CIFAR-10
batches hold: dicts (plain and ordered), lists, tuples, numbers, strings, bytes and NumPy
arrays. Any other global is refused with :class:`pickle.UnpicklingError` before it is called.
"""

from __future__ import annotations

import codecs
import collections
import pickle
from typing import BinaryIO

import numpy as np

# NumPy's reconstructors of arrays and scalars, named numpy.core.* in pickles written by
# NumPy 1 and numpy._core.* by NumPy 2; taken from NumPy itself rather than by either name.
_ARRAY = np.zeros(0).__reduce__()[0]
_SCALAR = np.float64(0).__reduce__()[0]
ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _ARRAY,
    ("numpy._core.multiarray", "_reconstruct"): _ARRAY,
    ("numpy.core.multiarray", "scalar"): _SCALAR,
    ("numpy._core.multiarray", "scalar"): _SCALAR,
    ("_codecs", "encode"): codecs.encode,  # bytes in protocol 2 pickles
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "tuple"): tuple,
    ("builtins", "list"): list,
    ("builtins", "dict"): dict,
}


class RefusedPickle(pickle.UnpicklingError):
    """A pickle that names something other than plain data: it could run code."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        found = ALLOWED.get((module, name))
        if found is None:
            raise RefusedPickle(f"refused to load {module}.{name}: not plain data")
        return found


def safe_load(file: BinaryIO, encoding: str = "ASCII") -> object:
    """Unpickle ``file`` admitting only plain data (see the module docstring).

    ``encoding`` is how Python 2 strings are read (``"bytes"`` keeps them as bytes). Raises
    :class:`RefusedPickle` for anything but plain data, and other exceptions (usually
    :class:`pickle.UnpicklingError`) for a malformed file."""
    return _RestrictedUnpickler(file, encoding=encoding).load()
