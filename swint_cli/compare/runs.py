"""Reading run directories written by ``swint train``, whatever state they are in.

A run may be finished, interrupted, still running, or damaged (a CSV cut mid-line or with
garbage rows, an unreadable JSON file): :func:`read_run` keeps what can be read and lists
what could not in :attr:`Run.problems`. Directories without any run file are not runs.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..train.run_dir import BATCH_COLUMNS, EPOCH_COLUMNS

RUN_FILES = ("summary.json", "recipe.yaml", "epochs.csv", "batches.csv")
REPORT_FILES = {"compare.csv": "a swint compare report", "bench.csv": "a swint bench report"}
_NAN_TEXT = ("", "nan")


@dataclass
class Run:
    """What could be read of one run directory.

    ``summary``, ``recipe`` and ``env`` are the JSON/YAML mappings (empty when missing or
    unreadable); ``epochs`` and ``batches`` the readable rows of the CSV tables, every
    column numeric (NaN where empty). ``missing`` names absent files; ``problems`` says
    what was damaged (and makes the run :attr:`damaged`).
    """

    path: Path
    summary: dict = field(default_factory=dict)
    recipe: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    epochs: pd.DataFrame = field(default_factory=pd.DataFrame)
    batches: pd.DataFrame = field(default_factory=pd.DataFrame)
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def damaged(self) -> bool:
        return bool(self.problems)

    def step_times(self) -> np.ndarray:
        """``step_ms`` of the batches not marked as warm-up."""
        batches = self.batches
        if batches.empty or not {"step_ms", "warmup"} <= set(batches.columns):
            return np.empty(0)
        steps = batches.loc[batches["warmup"] == 0, "step_ms"]
        return steps.dropna().to_numpy(dtype=float)


def _numeric(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Text column -> numbers, and which rows held something that is not a number."""
    text = values.fillna("\0").astype(str).str.strip()  # a missing field (short row) is bad
    numbers = pd.to_numeric(text.where(~text.str.lower().isin(_NAN_TEXT), "nan"), errors="coerce")
    return numbers, numbers.isna() & ~text.str.lower().isin(_NAN_TEXT)


def read_table(path: Path, columns: Iterable[str]) -> tuple[pd.DataFrame, list[str]]:
    """The readable rows of a run CSV with numeric columns, and the problems found.

    Dropped, and reported: a last line without its newline (cut off mid-write), lines with
    too many fields, too few, or a value of an expected column (``columns``, and any
    ``val_*``) that is not a number. Other extra columns are converted where they can be.
    """
    known = set(columns)
    text = path.read_bytes().decode("utf-8", errors="replace")
    if not text:
        return pd.DataFrame(), []  # created, header not written yet
    problems = []
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        problems.append(f"{path.name}: last line cut off (dropped)")
    lines = text.splitlines()
    header = lines[0].split(",") if lines else []
    expected = [c for c in header if c in known or c.startswith("val_")]
    if not expected or header[0] not in known:
        return pd.DataFrame(), [*problems, f"{path.name}: no header row"]
    body = [line for line in lines[1:] if not any(c in line for c in '"\0\ufffd')]
    bad = len(lines) - 1 - len(body)
    skipped: list[list[str]] = []
    try:
        raw = pd.read_csv(
            io.StringIO("\n".join([lines[0], *body]) + "\n"),
            dtype=str,
            keep_default_na=False,
            engine="python",
            on_bad_lines=skipped.append,
        )
    except (pd.errors.ParserError, csv.Error) as exc:
        return pd.DataFrame(), [*problems, f"{path.name}: cannot parse ({exc})"]
    frame, garbage = pd.DataFrame(index=raw.index), pd.Series(False, index=raw.index)
    for column in raw.columns:
        frame[column], unreadable = _numeric(raw[column])
        if column in expected:
            garbage |= unreadable
    bad += len(skipped) + int(garbage.sum())
    if bad:
        problems.append(f"{path.name}: {bad} unreadable row{'s' if bad > 1 else ''} skipped")
    return frame[~garbage].reset_index(drop=True), problems


def _read_mapping(path: Path, run: Run, parse: Callable[[str], object]) -> dict:
    if not path.is_file():
        run.missing.append(path.name)
        return {}
    try:
        data = parse(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError, yaml.YAMLError):
        data = None
    if not isinstance(data, dict):
        run.problems.append(f"{path.name}: unreadable")
        return {}
    return data


def not_a_run(path: Path) -> str | None:
    """Why ``path`` is not a run directory, or None when it is one."""
    if not path.exists():
        return "no such file or directory"
    if not path.is_dir():
        return "not a directory"
    for name, what in REPORT_FILES.items():
        if (path / name).is_file():
            return what
    if any((path / name).is_file() for name in RUN_FILES):
        return None
    try:
        runs = sum(1 for child in path.iterdir() if child.is_dir() and not_a_run(child) is None)
    except OSError as exc:
        return f"unreadable directory ({exc.strerror})"
    hint = f"; it holds {runs} runs: give {path}/*" if runs else ""
    return f"not a run directory (none of {', '.join(RUN_FILES)}){hint}"


def read_run(path: Path) -> Run:
    """Everything readable in the run directory ``path`` (see :class:`Run`)."""
    run = Run(path)
    run.summary = _read_mapping(path / "summary.json", run, json.loads)
    run.recipe = _read_mapping(path / "recipe.yaml", run, yaml.safe_load)
    run.env = _read_mapping(path / "env.json", run, json.loads)
    for name, columns in (("epochs", EPOCH_COLUMNS), ("batches", BATCH_COLUMNS)):
        table = path / f"{name}.csv"
        if not table.is_file():
            run.missing.append(table.name)
            continue
        try:
            frame, problems = read_table(table, columns)
        except OSError as exc:
            frame, problems = pd.DataFrame(), [f"{table.name}: unreadable ({exc.strerror})"]
        setattr(run, name, frame)
        run.problems += problems
    return run


def _readable(run: Run) -> bool:
    return bool(run.summary or run.recipe or not run.epochs.empty or not run.batches.empty)


def read_runs(paths: Iterable[Path], warn: Callable[[str], object]) -> list[Run]:
    """The runs among ``paths`` in the order given, each once; ``warn`` gets one line for
    every path skipped (not a run, or nothing in it readable)."""
    runs, seen = [], set()
    for path in paths:
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        reason = not_a_run(path)
        if reason is None:
            run = read_run(path)
            if _readable(run):
                runs.append(run)
                continue
            reason = "nothing readable (" + "; ".join(run.problems + run.missing) + ")"
        warn(f"skipping {path}: {reason}")
    return runs
