"""Reading and writing files safely: atomic replacement, pickles that cannot run code, and
named-array files (safetensors) for weights and optimizer state, write errors that name
their file, and locks held by one process.

Imports only the standard library, NumPy and safetensors: data, models and runs build on it.
"""

from .arrays import ArrayFileError, read_arrays, write_arrays
from .atomic import read_json, write_atomic, write_json
from .digest import file_sha256
from .process_lock import LockOwner, ProcessLock, lock_owner
from .safe_pickle import RefusedPickle, safe_load
from .write_error import WriteError, writing

__all__ = [
    "ArrayFileError",
    "LockOwner",
    "ProcessLock",
    "RefusedPickle",
    "WriteError",
    "file_sha256",
    "lock_owner",
    "read_arrays",
    "read_json",
    "safe_load",
    "write_arrays",
    "write_atomic",
    "write_json",
    "writing",
]
