"""Report directories of ``swint compare`` and ``swint bench``: new, never overwritten."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ..train.run_dir import RunError

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
    try:
        if out is not None:
            if out.exists() and (not out.is_dir() or any(out.iterdir())):
                raise RunError(f"{out}: already exists and is not empty; choose another --out")
            out.mkdir(parents=True, exist_ok=True)
            return out
        stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
        root.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, 1000):
            path = root / (f"{prefix}-{stamp}" if attempt == 1 else f"{prefix}-{stamp}-{attempt}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return path
    except OSError as exc:
        where = exc.filename or out or root
        raise RunError(f"{where}: cannot create report directory ({exc.strerror or exc})") from None
    raise RunError(f"{root}: no free report directory name for {prefix}-{stamp}")
