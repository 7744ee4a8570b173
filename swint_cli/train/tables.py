"""Append-only CSV tables that stay valid whenever the process dies.

Each row is written as one complete line with a single ``write`` and flushed, so a reader
(pandas, ``swint compare``) never sees a half-written row from a live run; a line cut by a
crash mid-write is dropped by :meth:`CsvTable.repair` before a resumed run appends.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


def _format(value: object) -> str:
    if isinstance(value, float):
        return format(value, ".7g") if abs(value) < 1e-3 else repr(round(value, 6))
    if isinstance(value, bool):
        return str(int(value))
    return "" if value is None else str(value)


class CsvTable:
    """A CSV file with a fixed header, appended to one row at a time."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.columns = list(columns)
        self._file: io.TextIOWrapper | None = None

    def _line(self, values: Sequence[object]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(values)
        return buffer.getvalue()

    def open(self) -> None:
        """Open for appending; write the header if the file is new or empty."""
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        self._file = open(self.path, "a", encoding="utf-8", newline="")  # noqa: SIM115
        if fresh:
            self._write(self._line(self.columns))

    def _write(self, line: str) -> None:
        assert self._file is not None, "table not open"
        self._file.write(line)
        self._file.flush()

    def append(self, row: Mapping[str, object]) -> None:
        """Write one row (missing columns empty) and flush it to the OS."""
        self._write(self._line([_format(row.get(c)) for c in self.columns]))

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def repair(self, keep: Callable[[dict[str, str]], bool]) -> int:
        """Rewrite the table keeping the header and the complete rows that ``keep`` accepts.

        Used before a resumed run appends: drops a trailing partial line and the rows that the
        resumed run is going to produce again. Returns the number of rows kept.
        """
        if not self.path.exists():
            return 0
        text = self.path.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]  # a line cut off mid-write
        rows = list(csv.DictReader(io.StringIO(text)))
        kept = [r for r in rows if None not in r.values() and keep(r)]
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", encoding="utf-8", newline="") as out:
            out.write(self._line(self.columns))
            for row in kept:
                out.write(self._line([row.get(c, "") for c in self.columns]))
        os.replace(tmp, self.path)
        return len(kept)
