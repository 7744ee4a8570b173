"""Where a sweep job stands, read from its own run directory (no sweep-wide state file).

A job's run is the directory ``<sweep>/<job name>-<YYYYmmdd-HHMMSS>[-N]``; its summary.json
says ``finished``, ``interrupted``, ``running`` (a process that died without a word) or
``failed: ...``. Earlier attempts that a retry or restart replaced are kept in
``<sweep>/attempts/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..runs.layout import CHECKPOINTS_DIR, SUMMARY, timestamp_prefix

ATTEMPTS = "attempts"
LOGS = "logs"
NOT_STARTED, FINISHED, RESUMABLE, FAILED, RESTART = (
    "not started",
    "finished",
    "resumable",
    "failed",
    "restart",  # started, but stopped before its first checkpoint
)


@dataclass(frozen=True)
class JobState:
    """The job's state and its run directory (None when not started)."""

    state: str
    run_dir: Path | None
    status: str = ""


def run_dir_of(folder: Path, name: str) -> Path | None:
    """The newest run directory of job ``name`` in the sweep ``folder``."""
    found = [
        p
        for p in folder.iterdir()
        if p.is_dir() and p.name != name and timestamp_prefix(p.name) == name
    ]
    return max(found, key=lambda p: p.stat().st_mtime_ns) if found else None


def job_state(folder: Path, name: str) -> JobState:
    """What the sweep must do for job ``name``, from its run directory's summary.json."""
    run = run_dir_of(folder, name)
    if run is None:
        return JobState(NOT_STARTED, None)
    try:
        status = str(json.loads((run / SUMMARY).read_text(encoding="utf-8")).get("status", ""))
    except (OSError, ValueError, AttributeError):
        status = ""  # killed before its summary was first written
    if status == "finished":
        return JobState(FINISHED, run, status)
    if status.startswith("failed"):
        return JobState(FAILED, run, status)
    checkpoint = run / CHECKPOINTS_DIR / "last.json"
    return JobState(RESUMABLE if checkpoint.is_file() else RESTART, run, status or "no summary")


def set_aside(folder: Path, run: Path) -> Path:
    """Move an attempt a retry or restart replaces into ``attempts/``; its new path."""
    target = folder / ATTEMPTS / run.name
    target.parent.mkdir(exist_ok=True)
    return run.rename(target)
