"""Report directories of ``swint compare`` and ``swint bench``: new, never overwritten."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ..train.run_dir import RunError, new_timestamped_dir

DEFAULT_ROOT = Path("runs")


def create_report_dir(
    out: Path | None, prefix: str, root: Path = DEFAULT_ROOT, now: datetime | None = None
) -> Path:
    """Create and return the directory a report goes to.

    ``out`` when given: created, or reused only if it is an empty directory. Otherwise
    ``<root>/<prefix>-<YYYYmmdd-HHMMSS>``, suffixed ``-2``, ``-3``, ... when taken.

    Raises:
        RunError: ``out`` holds files, or a directory cannot be created.
    """
    if out is None:
        return new_timestamped_dir(root, prefix, now)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(f"{out}: already exists and is not empty; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"{out}: cannot create report directory ({exc.strerror or exc})") from None
    return out
