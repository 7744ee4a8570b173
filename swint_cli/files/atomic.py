"""Files replaced atomically: a reader sees the old or the new content, never half."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from .write_error import writing


def replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` for a temporary file beside ``path``, flush it to disk, then rename
    it over ``path``. On any failure the temporary file is removed and ``path`` is untouched.
    Raises :class:`~.write_error.WriteError` naming ``path`` for an OS error."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with writing(path):
            write(tmp)
            with open(tmp, "rb") as written:
                os.fsync(written.fileno())
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # a read-only file system refuses this too
            tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically; WriteError when it cannot be."""
    replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, data: object, indent: int | None = 2) -> None:
    """Replace ``path`` with ``data`` as JSON (indented, unless ``indent`` is None), atomically."""
    write_atomic(path, json.dumps(data, indent=indent) + "\n")


def read_json(path: Path) -> object:
    """The JSON value in ``path``. Raises OSError or ValueError (json.JSONDecodeError)."""
    return json.loads(path.read_text(encoding="utf-8"))
