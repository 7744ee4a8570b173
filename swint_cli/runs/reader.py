"""Reading run directories written by ``swint train``, whatever state they are in.

A run may be finished, interrupted, still running, or damaged (a CSV cut mid-line or with
garbage rows, an unreadable JSON file, a file leading outside the run): :func:`read_run`
keeps what can be read and lists what could not in :attr:`Run.problems`. ``swint compare``,
``export`` and ``predict`` read runs through here. Directories without any run file are not
runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .checkpoint_files import find_weights, read_weights
from .holder import live_status
from .info import RunInfo, read_info
from .layout import (
    BATCH_COLUMNS,
    BATCHES,
    ENV,
    EPOCH_COLUMNS,
    EPOCHS,
    RECIPE,
    RUN_FILES,
    SUMMARY,
    RunError,
    inside,
)
from .tables import read_table
from .timing import timed_steps

REPORT_FILES = {"compare.csv": "a swint compare report", "bench.csv": "a swint bench report"}


@dataclass
class Run:
    """What could be read of one run directory.

    ``summary``, ``recipe`` and ``env`` are the JSON/YAML mappings (empty when missing or
    unreadable); ``status`` is the summary's status as it stands (``crashed`` for a run that
    says ``running`` but that no process holds; empty without one); ``info`` is
    ``run.json`` (None for runs written before it); ``epochs`` and ``batches`` the readable
    rows of the CSV tables, every column numeric (NaN where empty).
    ``missing`` names absent files; ``problems`` says what was damaged (and makes the run
    :attr:`damaged`).
    """

    path: Path
    summary: dict = field(default_factory=dict)
    status: str = ""
    recipe: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    info: RunInfo | None = None
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
        return timed_steps(self.batches)

    def weights(self, which: str = "best") -> tuple[dict[str, np.ndarray], Path, str | None]:
        """``(arrays, file, note)`` of checkpoint ``which``; see
        :func:`~swint_cli.runs.checkpoint_files.find_weights` for the fallback and its note."""
        path, note = find_weights(self.path, which)
        return read_weights(path), path, note


def _own_file(run: Run, name: str) -> Path | None:
    """``run.path / name``, or None (with a problem noted) when it leads outside the run."""
    try:
        return inside(run.path, name)
    except RunError as exc:
        run.problems.append(str(exc))
        return None


def _read_mapping(run: Run, name: str, parse: Callable[[str], object]) -> dict:
    path = _own_file(run, name)
    if path is None:
        return {}
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


def read_run(path: Path, tables: bool = True) -> Run:
    """Everything readable in the run directory ``path`` (see :class:`Run`); ``tables=False``
    skips the CSV tables (for commands that need only the model)."""
    run = Run(path)
    run.summary = _read_mapping(run, SUMMARY, json.loads)
    if run.summary.get("status"):
        run.status = live_status(path, str(run.summary["status"]))
    run.recipe = _read_mapping(run, RECIPE, yaml.safe_load)
    run.env = _read_mapping(run, ENV, json.loads)
    try:
        run.info = read_info(path)
    except RunError as exc:
        run.problems.append(str(exc))
    if not tables:
        return run
    for name, file, columns in (
        ("epochs", EPOCHS, EPOCH_COLUMNS),
        ("batches", BATCHES, BATCH_COLUMNS),
    ):
        table = _own_file(run, file)
        if table is None:
            continue
        if not table.is_file():
            run.missing.append(file)
            continue
        try:
            frame, problems = read_table(table, columns)
        except OSError as exc:
            frame, problems = pd.DataFrame(), [f"{file}: unreadable ({exc.strerror})"]
        setattr(run, name, frame)
        run.problems += problems
    return run


def open_run(path: str | Path) -> Run:
    """The trained run in ``path`` for using its model: a directory holding ``recipe.yaml``.
    RunError when it is not one (tables are not read)."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such run directory")
    if not (path / RECIPE).is_file():
        raise RunError(f"{path}: not a run directory (no {RECIPE})")
    return read_run(path, tables=False)


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
