"""One ``swint compare``: read the runs (sweep directories expanded), group them by
configuration or keep one column per run, and write the report directory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from rich.console import RenderableType
from rich.text import Text

from ..errors import UserError
from ..runs import Run, RunError, create_report_dir, not_a_run, read_runs
from ..runs.layout import SWEEP, timestamp_prefix
from .group_report import column_name, group_table, plain_verdicts, write_group_report
from .groups import SEED_KEY, group_rows, group_runs, key_metric
from .plots import write_group_plots, write_plots
from .report import diff_table, summary_table, write_report
from .summary import config_diff, extra_metrics, summarize_run

NO_DIFF = "config diff: the recipes agree"


@dataclass(frozen=True)
class Comparison:
    """What a comparison printed and where its report went (None: not written)."""

    tables: list[RenderableType]
    folder: Path | None


def _sweep_runs(folder: Path) -> list[Path]:
    """The run directories of the sweep in ``folder``, in the order of its job list."""
    try:
        recorded = yaml.safe_load((folder / SWEEP).read_text(encoding="utf-8"))
        order = {str(job["name"]): index for index, job in enumerate(recorded["jobs"])}
    except (OSError, yaml.YAMLError, TypeError, KeyError):
        order = {}
    runs = [child for child in folder.iterdir() if child.is_dir() and not_a_run(child) is None]
    return sorted(
        runs, key=lambda run: (order.get(timestamp_prefix(run.name), len(order)), run.name)
    )


def expand_sweeps(paths: Sequence[Path]) -> list[Path]:
    """``paths`` with each sweep directory (one holding ``sweep.yaml``) replaced by its run
    directories, in the order of its jobs."""
    expanded: list[Path] = []
    for path in paths:
        expanded += _sweep_runs(path) if (path / SWEEP).is_file() else [path]
    return expanded


def _unfinished(run: Run) -> str | None:
    """How far a run still running, interrupted or crashed got (its figures are not its
    final ones); None for a run that ended (finished or failed) or that records no status."""
    if run.status not in ("running", "crashed") and not run.status.startswith("interrupted"):
        return None
    done, planned = run.summary.get("epochs_done", "?"), run.summary.get("epochs", "?")
    return f"{run.status}, {done}/{planned} epochs"


def _baseline_index(names: list[str], baseline: str | None) -> int:
    """The group ``--baseline`` names: by its whole name, by what its column is headed
    (:func:`~.group_report.column_name`), or by a part of its name no other group shares."""
    if baseline is None:
        return 0
    for candidates in (names, [column_name(name) for name in names]):
        if baseline in candidates:
            return candidates.index(baseline)
    matching = [index for index, name in enumerate(names) if baseline in name]
    if len(matching) == 1:
        return matching[0]
    listed = "; ".join(names)
    why = f"{len(matching)} groups match it" if matching else "no group matches it"
    raise UserError(f"--baseline {baseline}: {why} (groups: {listed})")


def compare(
    paths: Sequence[Path],
    out: Path | None,
    warn: Callable[[str], object],
    group: bool = True,
    baseline: str | None = None,
) -> Comparison:
    """Compare the runs among ``paths``: as groups of seeds tested against ``baseline`` (a
    group's name; default the first group), or with ``group=False`` one column per run. The
    report directory (compare.csv, report.md, plots) is written only to ``out``.
    Groups leave out runs still running, interrupted or crashed, with a warning naming
    them.

    Raises:
        UserError: no readable run among ``paths``, an unknown baseline, or a report
            directory that cannot be made.
    """
    runs: list[Run] = read_runs(expand_sweeps(paths), warn)
    if not runs:
        raise RunError(f"none of the {len(paths)} paths given is a readable run directory")
    for run in runs:
        if run.damaged:
            warn(f"{run.path} is damaged ({'; '.join(run.problems)}); showing what is readable")
    extras = extra_metrics(runs)
    if not group:
        rows = [summarize_run(run, extras) for run in runs]
        diff = config_diff(runs)
        tables: list[RenderableType] = [summary_table(rows, extras)]
        if len(runs) > 1:
            tables.append(diff_table([str(r["run"]) for r in rows], diff) if diff else NO_DIFF)
        if out is None:
            return Comparison(tables, None)
        folder = create_report_dir(out, "compare")
        write_report(folder, rows, extras, diff, write_plots(runs, folder))
        return Comparison(tables, folder)

    unfinished = {run.name: why for run in runs if (why := _unfinished(run)) is not None}
    if unfinished:
        listed = "; ".join(f"{name} ({why})" for name, why in unfinished.items())
        warn(f"left out of the groups, not finished: {listed}")
        runs = [run for run in runs if run.name not in unfinished]
        if not runs:
            raise RunError("no run among the paths has finished: nothing to group")
    groups = group_runs(runs, extras)
    index = _baseline_index([g.name for g in groups], baseline)
    metric = key_metric(runs)
    rows = group_rows(groups, metric, index, warn)
    diff = [
        (key, values)
        for key, values in config_diff([g.runs[0] for g in groups])
        if key != SEED_KEY and not key.startswith("env.")  # env differs run by run
    ]
    said = [Text(sentence) for sentence in plain_verdicts(rows, index)]  # no markup in names
    tables: list[RenderableType] = [group_table(rows, index), *said]
    if len(groups) > 1:
        columns = [column_name(g.name) for g in groups]
        tables.append(diff_table(columns, diff) if diff else NO_DIFF)
    if out is None:
        return Comparison(tables, None)
    folder = create_report_dir(out, "compare")
    write_group_report(folder, rows, index, diff, write_group_plots(groups, metric, folder))
    return Comparison(tables, folder)
