"""``swint compare``: runs side by side, their config diff, a report directory with plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .errors import stderr, user_errors


def _warn(line: str) -> None:
    stderr.print(f"warning: {line}", markup=False)


def compare_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Run directories, e.g. runs/*; other paths are skipped with a warning.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Report directory (default: runs/compare-<timestamp>/)."),
    ] = None,
) -> None:
    """Compare training runs side by side, with the recipe keys that differ.

    Writes a report directory with compare.csv, report.md, curves.png and step_time.png.
    """
    from ..compare.plots import write_plots
    from ..compare.report import diff_table, summary_table, write_report
    from ..compare.summary import config_diff, extra_metrics, summarize_run
    from ..runs import RunError, create_report_dir, read_runs
    from . import console

    with user_errors():
        runs = read_runs(paths, _warn)
        if not runs:
            raise RunError(f"none of the {len(paths)} paths given is a readable run directory")
        folder = create_report_dir(out, "compare")
    for run in runs:
        if run.damaged:
            _warn(f"{run.path} is damaged ({'; '.join(run.problems)}); showing what is readable")
    extras = extra_metrics(runs)
    rows = [summarize_run(run, extras) for run in runs]
    diff = config_diff(runs)
    console.print(summary_table(rows, extras))
    if len(runs) > 1:
        console.print(diff_table(rows, diff) if diff else "config diff: the runs' recipes agree")
    write_report(folder, rows, extras, diff, write_plots(runs, folder))
    typer.echo(f"report: {folder}")
