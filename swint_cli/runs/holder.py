"""Who trains a run: the process holding ``RUN/lock`` (see :mod:`swint_cli.files.process_lock`).

``swint train`` takes the lock before it writes anything in the run and holds it to the end,
so a second writer is refused, and a run whose summary still says ``running`` while nobody
holds its lock has crashed (killed, or its machine lost): readers call it ``crashed``, and
``--resume`` (or a resumed sweep) continues it from its checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..files.process_lock import LockOwner, ProcessLock, lock_owner
from .layout import LOCK, SUMMARY, RunError

RUNNING, CRASHED = "running", "crashed"


class RunHeld(RunError):
    """The run is being trained by another process: ``RUN is being trained by pid N on HOST
    since T``."""

    def __init__(self, run: Path, owner: LockOwner) -> None:
        super().__init__(f"{run} is being trained by {owner}")
        self.owner = owner


def hold_run(run: Path, announce: bool = True) -> ProcessLock:
    """Hold ``run`` for this process (released by the lock's ``release``) and, unless
    ``announce`` is False (checks that must leave the run as it was come first), write who
    holds it. Raises RunHeld when another process holds it, WriteError when its lock file
    cannot be written."""
    taken = ProcessLock.take(run / LOCK, announce=announce)
    if isinstance(taken, LockOwner):
        raise RunHeld(run, taken)
    return taken


def run_holder(run: Path) -> LockOwner | None:
    """The process training ``run`` now, or None."""
    return lock_owner(run / LOCK)


def recorded_status(run: Path) -> str:
    """The status ``run``'s summary.json records; empty when it has none readable (a run
    killed before its summary was first written)."""
    try:
        summary = json.loads((run / SUMMARY).read_text(encoding="utf-8"))
        return str(summary.get("status", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def live_status(run: Path, recorded: str) -> str:
    """The run's status as it stands: its summary's ``recorded`` status, except ``crashed``
    for ``running`` when no process holds the run."""
    if recorded == RUNNING and run_holder(run) is None:
        return CRASHED
    return recorded
