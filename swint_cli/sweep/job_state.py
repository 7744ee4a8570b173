"""Where a sweep job stands, read from its own run directory (no sweep-wide state file).

A job's run is the directory ``<sweep>/<job name>-<YYYYmmdd-HHMMSS>[-N]``; its summary.json
says ``finished``, ``interrupted[: why]``, ``running`` or ``failed: ...``. A run whose lock
is held is being trained (by this sweep, another one, or a shard); ``running`` with its lock
free is a process that died without a word: ``crashed``, resumed from its checkpoint.
Earlier attempts that a retry or restart replaced are kept in ``<sweep>/attempts/``.

A sweep process claims a job (``<sweep>/claims/<job>``, a lock it holds while the job's
process runs) before it looks at the job's run and starts it, so that two sweeps over one
directory never start the same job twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..files import LockOwner, ProcessLock, lock_owner, writing
from ..runs.holder import CRASHED, RUNNING, hold_run, recorded_status, run_holder
from ..runs.layout import CHECKPOINTS_DIR, timestamp_prefix

ATTEMPTS = "attempts"
LOGS = "logs"
CLAIMS = "claims"
NOT_STARTED, FINISHED, RESUMABLE, FAILED, RESTART, ELSEWHERE = (
    "not started",
    "finished",
    "resumable",
    "failed",
    "restart",  # started, but stopped before its first checkpoint
    "running elsewhere",  # its run or its claim is held by another process
)


@dataclass(frozen=True)
class JobState:
    """The job's state, its run directory (None when not started), the run's status
    (``crashed`` for a dead ``running``) and, when running elsewhere, who runs it."""

    state: str
    run_dir: Path | None
    status: str = ""
    owner: LockOwner | None = None


def run_dir_of(folder: Path, name: str) -> Path | None:
    """The newest run directory of job ``name`` in the sweep ``folder``."""
    found = [
        p
        for p in folder.iterdir()
        if p.is_dir() and p.name != name and timestamp_prefix(p.name) == name
    ]
    return max(found, key=lambda p: p.stat().st_mtime_ns) if found else None


def _claim_path(folder: Path, name: str) -> Path:
    return folder / CLAIMS / name


def job_state(folder: Path, name: str) -> JobState:
    """Where job ``name`` stands for a process that has not claimed it: running elsewhere
    while another process holds its claim, else :func:`run_state`."""
    owner = lock_owner(_claim_path(folder, name))
    if owner is not None:
        return JobState(ELSEWHERE, run_dir_of(folder, name), "running", owner)
    return run_state(folder, name)


def run_state(folder: Path, name: str) -> JobState:
    """What the sweep must do for job ``name``, from its run's lock and summary.json."""
    run = run_dir_of(folder, name)
    if run is None:
        return JobState(NOT_STARTED, None)
    owner = run_holder(run)
    if owner is not None:  # trained by a process whose sweep has gone
        return JobState(ELSEWHERE, run, "running", owner)
    status = recorded_status(run)  # empty: killed before its summary was first written
    status = CRASHED if status == RUNNING else status  # nobody holds it: it died
    if status == "finished":
        return JobState(FINISHED, run, status)
    if status.startswith("failed"):
        return JobState(FAILED, run, status)
    checkpoint = run / CHECKPOINTS_DIR / "last.json"
    return JobState(RESUMABLE if checkpoint.is_file() else RESTART, run, status or CRASHED)


def claim(folder: Path, name: str) -> ProcessLock | LockOwner:
    """Claim job ``name`` for this process (a lock to hold while its process runs), or who
    holds the claim. Raises WriteError when the claim cannot be written."""
    with writing(folder / CLAIMS):
        (folder / CLAIMS).mkdir(exist_ok=True)
    return ProcessLock.take(_claim_path(folder, name), patience=0.2)


def set_aside(folder: Path, run: Path) -> Path:
    """Move an attempt a retry or restart replaces into ``attempts/``, holding it while it
    moves; its new path. RunHeld when a process holds it."""
    target = folder / ATTEMPTS / run.name
    with hold_run(run), writing(target):
        target.parent.mkdir(exist_ok=True)
        return run.rename(target)
