"""The run's CSV tables: appended row by row, repaired before a resume, read back whatever
state they are in.

Each row is written as one complete line with a single ``write`` and flushed, so a reader
(pandas, ``swint compare``) never sees a half-written row from a live run. A table damaged
by a crash or an edit is read by :func:`parse_table`, the one reader of both
:meth:`CsvTable.repair` (before a resumed run appends) and :func:`read_table` (for
comparisons): it keeps the complete rows whose values are numbers and says what it dropped.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..files import write_atomic, writing

_NAN_TEXT = ("", "nan")
INTEGER_COLUMNS = ("epoch", "step")  # where a row stands: whole numbers, never empty


def format_value(value: object) -> str:
    """A table cell: floats to 7 significant digits (6 decimals above 1e-3), bools as 0/1."""
    if isinstance(value, float):
        return format(value, ".7g") if abs(value) < 1e-3 else repr(round(value, 6))
    if isinstance(value, bool):
        return str(int(value))
    return "" if value is None else str(value)


def _line(values: Sequence[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _is_number(text: str) -> bool:
    """A number, or an empty / NaN cell."""
    if text.strip().lower() in _NAN_TEXT:
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass
class ParsedTable:
    """The readable part of a table: its header, its good rows as text, what was dropped."""

    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def records(self) -> list[dict[str, str]]:
        return [dict(zip(self.header, row, strict=True)) for row in self.rows]


def parse_table(path: Path, columns: Iterable[str]) -> ParsedTable:
    """Read ``path`` keeping the rows a run could have written.

    Dropped, and listed in ``problems``: a last line without its newline (cut off
    mid-write), lines with too many or too few fields, lines where an expected column (one
    of ``columns``, or any ``val_*``) holds something that is not a number, and lines whose
    ``epoch`` or ``step`` is not a whole number. An empty file (created, header not written
    yet) has no header and no problem. OSError propagates.
    """
    known = set(columns)
    text = path.read_bytes().decode("utf-8", errors="replace")
    table = ParsedTable()
    if not text:
        return table
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        table.problems.append(f"{path.name}: last line cut off (dropped)")
    lines = text.splitlines()
    header = lines[0].split(",") if lines else []
    if not header or header[0] not in known:
        table.problems.append(f"{path.name}: no header row")
        return table
    table.header = header
    expected = [i for i, name in enumerate(header) if name in known or name.startswith("val_")]
    counts = [i for i, name in enumerate(header) if name in INTEGER_COLUMNS]
    bad = 0
    for line in lines[1:]:
        fields = line.split(",")
        unreadable = any(c in line for c in '"\0\ufffd') or len(fields) != len(header)
        unreadable = unreadable or not all(fields[i].strip().isdigit() for i in counts)
        if unreadable or not all(_is_number(fields[i]) for i in expected):
            bad += 1
        else:
            table.rows.append(fields)
    if bad:
        table.problems.append(f"{path.name}: {bad} unreadable row{'s' if bad > 1 else ''} skipped")
    return table


def read_table(path: Path, columns: Iterable[str]) -> tuple[pd.DataFrame, list[str]]:
    """The readable rows of a run table as a DataFrame with numeric columns (NaN where a
    cell is empty; other columns converted where they can be), and the problems found."""
    table = parse_table(path, columns)
    if not table.header:
        return pd.DataFrame(), table.problems
    frame = pd.DataFrame(table.rows, columns=table.header, dtype=str)
    for column in frame.columns:
        frame[column] = pd.to_numeric(frame[column].str.strip(), errors="coerce")
    return frame, table.problems


def position_of(record: Mapping[str, str]) -> tuple[int, int]:
    """``(epoch, step)`` of a row of :meth:`ParsedTable.records` (step 0 in epochs.csv)."""
    return int(record["epoch"]), int(record.get("step") or 0)


class CsvTable:
    """A CSV file with a fixed header, appended to one row at a time."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.columns = list(columns)
        self._file: io.TextIOWrapper | None = None

    def open(self) -> None:
        """Open for appending; write the header if the file is new or empty. WriteError
        naming the table when it cannot be opened or written (so for every method)."""
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        with writing(self.path):
            self._file = open(self.path, "a", encoding="utf-8", newline="")  # noqa: SIM115
        if fresh:
            self._write(_line(self.columns))

    def _write(self, line: str) -> None:
        assert self._file is not None, "table not open"
        with writing(self.path):
            self._file.write(line)
            self._file.flush()

    def append(self, row: Mapping[str, object]) -> None:
        """Write one row (missing columns empty) and flush it to the OS."""
        self._write(_line([format_value(row.get(c)) for c in self.columns]))

    def close(self) -> None:
        """Flush the table to disk and close it (closed even when that fails)."""
        if self._file is None:
            return
        file, self._file = self._file, None
        with writing(self.path):
            try:
                file.flush()
                os.fsync(file.fileno())
            finally:
                file.close()

    def parse(self) -> ParsedTable:
        """:func:`parse_table` of this table (empty when the file does not exist)."""
        return parse_table(self.path, self.columns) if self.path.exists() else ParsedTable()

    def repair(self, keep: Callable[[dict[str, str]], bool]) -> int:
        """Rewrite the table (atomically) with the header and the readable rows that
        ``keep`` accepts: before a resumed run appends, this drops a line cut off mid-write
        and the rows that the resumed run is going to produce again. Returns the rows kept.
        """
        if not self.path.exists():
            return 0
        table = self.parse()
        kept = [record for record in table.records() if keep(record)]
        lines = [_line(self.columns)]
        lines += [_line([record.get(c, "") for c in self.columns]) for record in kept]
        write_atomic(self.path, "".join(lines))
        return len(kept)
