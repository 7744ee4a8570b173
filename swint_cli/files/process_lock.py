"""A file held by one process at a time: ``flock`` on a lock file that also says who holds it.

The kernel drops the lock when its holder exits, however it exits (SIGKILL included), so a
crash never leaves a stale lock. While held, the file holds one JSON line: the holder's
pid, host and start time, for messages. A process that forks (a data loader's workers)
closes its copies of held locks in the child, so that only the holder keeps them.

On NFS, Linux turns ``flock`` into a POSIX lock on the whole file, which NFSv4 (and NFSv3
with its lock manager) enforce across hosts; docs/runs.md says which file systems do not.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .write_error import writing

_HELD: set[int] = set()  # descriptors of the locks this process holds
_NOT_SUPPORTED = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)
RETRY_SECONDS = 0.05


def _close_in_child() -> None:
    for fd in _HELD:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_close_in_child)


@dataclass(frozen=True)
class LockOwner:
    """Who holds a lock, as its file says (None for what it does not say yet)."""

    pid: int | None = None
    host: str | None = None
    since: str | None = None  # ISO time, seconds

    def __str__(self) -> str:
        if self.pid is None:
            return "another process"
        return f"pid {self.pid} on {self.host or 'an unknown host'} since {self.since or '?'}"


def _read_owner(fd: int) -> LockOwner:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8", errors="replace") or "null")
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict):
        return LockOwner()  # the holder has not written its line yet
    pid, host, since = (data.get(key) for key in ("pid", "host", "since"))
    return LockOwner(
        pid if isinstance(pid, int) else None,
        host if isinstance(host, str) else None,
        since if isinstance(since, str) else None,
    )


class ProcessLock:
    """A lock this process holds on ``path``; :meth:`release` (or leaving the ``with``
    block) gives it up. ``supported`` is False where the file system refused ``flock``:
    the file is then written but guards nothing."""

    def __init__(self, path: Path, fd: int, supported: bool) -> None:
        self.path, self._fd, self.supported = path, fd, supported

    @classmethod
    def take(
        cls, path: Path, patience: float = 1.0, announce: bool = True
    ) -> ProcessLock | LockOwner:
        """Hold ``path`` (created if missing) and, with ``announce``, write who holds it; or,
        when another process holds it for longer than ``patience`` seconds, return its
        :class:`LockOwner`. Raises WriteError when the file cannot be created or written."""
        with writing(path):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            supported = _lock(fd, fcntl.LOCK_EX, patience)
        except BlockingIOError:
            owner = _read_owner(fd)
            os.close(fd)
            return owner
        except BaseException:
            os.close(fd)
            raise
        _HELD.add(fd)
        lock = cls(path, fd, supported)
        if announce:
            try:
                lock.announce()
            except BaseException:
                lock.release()
                raise
        return lock

    def announce(self) -> None:
        """Write this process's pid, host and start time into the lock file (for the
        messages of the processes it turns away). Raises WriteError."""
        since = datetime.now().astimezone().isoformat(timespec="seconds")
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": since}
        with writing(self.path):
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, (json.dumps(owner) + "\n").encode(), 0)

    def release(self) -> None:
        """Give the lock up (its file stays, naming the last holder); again is a no-op."""
        if self._fd < 0:
            return  # released already: its descriptor number may be another lock's now
        fd, self._fd = self._fd, -1
        if fd in _HELD:  # else closed in a forked child
            _HELD.discard(fd)
            os.close(fd)  # closing the only descriptor drops the flock

    def __enter__(self) -> ProcessLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _lock(fd: int, kind: int, patience: float) -> bool:
    """``flock`` ``fd``, retrying for ``patience`` seconds (a reader's probe holds it for a
    moment); False when the file system does not support locks. BlockingIOError if held."""
    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(RETRY_SECONDS)
        except OSError as exc:
            if exc.errno in _NOT_SUPPORTED:
                return False
            raise


def lock_owner(path: Path) -> LockOwner | None:
    """Who holds the lock on ``path`` now; None when nobody does (or there is no such file,
    or its file system has no locks). Takes a shared lock for a moment: never blocks."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            _lock(fd, fcntl.LOCK_SH, patience=0)
        except BlockingIOError:
            return _read_owner(fd)
        except OSError:
            return None
        return None
    finally:
        os.close(fd)  # drops the probe's shared lock with it
