"""``swint compare``: runs side by side, their config diff, a report directory with plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .console import console, stderr
from .errors import user_errors


def _warn(line: str) -> None:
    stderr.print(f"warning: {line}", markup=False)


def compare_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Run directories or sweep directories, e.g. runs/*; other paths are skipped "
            "with a warning.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            help="Write compare.csv, report.md and the plots to this new directory (without "
            "it, only the tables are printed)."
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            help="The group the others are tested against (default: the first): its name, its "
            "column's heading, or a part of its name no other group shares."
        ),
    ] = None,
    no_group: Annotated[
        bool,
        typer.Option("--no-group", help="One column per run instead of groups of seeds."),
    ] = False,
) -> None:
    """Compare runs: groups of seeds with intervals, tests and verdicts against a baseline.

    Runs whose recipes differ only in training.seed form a group; runs still running,
    interrupted or crashed (killed while running) are left out of the groups, with a
    warning. With --out DIR, writes compare.csv, report.md, curves.png and step_time.png
    there.
    """
    from ..compare.comparison import compare

    if no_group and baseline is not None:
        raise typer.BadParameter(
            "--baseline needs groups; drop --no-group", param_hint="--baseline"
        )
    with user_errors():
        comparison = compare(paths, out, _warn, group=not no_group, baseline=baseline)
    for table in comparison.tables:
        console.print(table)
    if comparison.folder is None:
        typer.echo("report: not written (--out DIR writes compare.csv, report.md and plots)")
    else:
        typer.echo(f"report: {comparison.folder}")
