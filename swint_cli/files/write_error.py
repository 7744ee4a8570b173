"""A file that could not be written, named: the one error every writer raises for an OS
failure (a full disk, a quota, permission denied, a read-only file system), so that every
command can say which file and why in one line, and training can stop resumably."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import UserError

# What makes the file system writable again, by errno, for "... continues once ...".
_REMEDY = {
    errno.ENOSPC: "there is space",
    errno.EDQUOT: "there is space in your quota",
    errno.EROFS: "the file system is writable",
    errno.EACCES: "you may write there",
    errno.EPERM: "you may write there",
}


class WriteError(UserError):
    """``<reason> writing <path>``, e.g. ``no space left on device writing run/epochs.csv``.

    ``errno`` and ``reason`` (the OS's words, lower case) come from the OSError ``error``,
    ``path`` is the file the writer meant to write (not a temporary name)."""

    def __init__(self, path: Path, error: OSError) -> None:
        self.path, self.error = Path(path), error
        self.errno = error.errno
        strerror = error.strerror or (os.strerror(error.errno) if error.errno else str(error))
        self.reason = strerror[:1].lower() + strerror[1:]
        super().__init__(f"{self.reason} writing {self.path}")

    @property
    def remedy(self) -> str:
        """What has to change before writing again, e.g. ``there is space``."""
        return _REMEDY.get(self.errno or 0, "the cause is fixed")


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an OSError raised inside the block into a :class:`WriteError` naming ``path``;
    a WriteError from a nested block (a temporary file's) is renamed to ``path`` too."""
    try:
        yield
    except WriteError as exc:
        raise WriteError(path, exc.error) from None
    except OSError as exc:
        raise WriteError(path, exc) from None
