"""``swint sweep``: recipes x grid x seeds as training runs in one resumable sweep directory."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .console import stderr
from .errors import user_errors

if TYPE_CHECKING:
    from ..sweep import Progress


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "estimate after the first job"
    minutes = round(seconds / 60)
    return (
        f"about {minutes // 60}h {minutes % 60:02d}m left"
        if minutes >= 60
        else (f"about {minutes} min left")
    )


def sweep_command(
    recipes: Annotated[
        list[Path] | None,
        typer.Argument(help="Recipe YAML files (not with --resume).", show_default=False),
    ] = None,
    grid: Annotated[
        list[str] | None,
        typer.Option(help="KEY=V1,V2: one job per value, crossed with every other --grid."),
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override a recipe key in every job.")
    ] = None,
    seeds: Annotated[
        int | None, typer.Option(help="Seeds 0 to N-1 per configuration (default 3).")
    ] = None,
    seed_list: Annotated[
        str | None, typer.Option(help="Explicit seeds, e.g. 3,7 (instead of --seeds).")
    ] = None,
    jobs: Annotated[
        int, typer.Option(min=1, help="Jobs at a time; the cores are split between them.")
    ] = 1,
    out: Annotated[
        Path | None,
        typer.Option(help="Sweep directory (default: runs/sweep-<recipes>-<timestamp>/)."),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(help="Continue this sweep directory: skip finished jobs, resume the rest."),
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="With --resume: run failed jobs again.")
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(help="I/N: run only jobs whose index mod N is I-1 (array jobs, machines)."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Plain log lines, no progress line.")
    ] = False,
) -> None:
    """Run recipes x --grid values x seeds as ordinary training runs in one sweep directory.

    Jobs another process is running (another sweep over the directory, a shard) are left
    alone. Exit code 0 when every job finished or runs elsewhere, 1 when any failed, 130
    when stopped (resume with --resume), 75 when a file could not be written (a full disk;
    resume with --resume once it can), 2 for bad input. Compare the result with: swint
    compare SWEEP_DIR.
    """
    from ..sweep import (
        Progress,
        SweepOptions,
        SweepSpec,
        parse_grid,
        parse_seeds,
        parse_shard,
        prepare_sweep,
        run_sweep,
    )

    with user_errors():
        shard_of = parse_shard(shard)
        if resume is not None:
            given = recipes or grid or overrides or seeds is not None or seed_list or out
            if given:
                raise typer.BadParameter(
                    "--resume continues the recorded sweep: give no recipes, --grid, --set, "
                    "--seeds, --seed-list or --out",
                    param_hint="--resume",
                )
            spec = None
        else:
            if not recipes:
                raise typer.BadParameter("give recipe files or --resume SWEEP_DIR")
            spec = SweepSpec(
                recipes=[str(recipe) for recipe in recipes],
                grid=parse_grid(grid or []),
                overrides=list(overrides or []),
                seeds=parse_seeds(seeds, seed_list),
            )
        if retry_failed and resume is None:
            raise typer.BadParameter("--retry-failed needs --resume", param_hint="--retry-failed")
        folder, spec, all_jobs = prepare_sweep(spec, out, resume, shard_of)
    typer.echo(f"sweep: {folder} ({len(all_jobs)} jobs)")
    options = SweepOptions(parallel=jobs, shard=shard_of, retry_failed=retry_failed)

    status = None if quiet else stderr.status("starting")
    last = Progress(total=len(all_jobs))

    def report(progress: Progress) -> None:
        nonlocal last
        last = progress
        counts = (
            f"finished {progress.finished}/{progress.total}, running {progress.running}, "
            f"failed {progress.failed}, left {progress.left}; {_duration(progress.seconds_left)}"
        )
        others = [
            f"{count} {what}"
            for count, what in (
                (progress.elsewhere, "running elsewhere"),
                (progress.interrupted, "interrupted"),
            )
            if count
        ]
        if others:
            counts = f"{counts} ({', '.join(others)})"
        if status is None:
            typer.echo(f"{progress.event} | {counts}" if progress.event else counts)
            return
        if progress.event:
            stderr.print(progress.event, markup=False)
        status.update(counts)

    if status is not None:
        status.start()
    try:
        code = run_sweep(folder, spec, all_jobs, options, report)
    finally:
        if status is not None:
            status.stop()
    for line in closing_lines(folder, code, last):
        stderr.print(line, markup=False)
    typer.echo(f"next: swint compare {folder}")
    raise typer.Exit(code)


def closing_lines(folder: Path, code: int, progress: Progress) -> list[str]:
    """What the sweep says at its end beyond its counts: how to continue it."""
    lines = []
    if progress.elsewhere:
        lines.append(
            f"{progress.elsewhere} job(s) left alone: another process is running them; "
            f"swint sweep --resume {folder} after it ends checks them"
        )
    if code == 130:
        lines.append(f"interrupted: continue with swint sweep --resume {folder}")
    elif code == 75:
        lines.append(
            f"stopped: a file could not be written (above); once it can, continue with "
            f"swint sweep --resume {folder}"
        )
    elif code == 1:
        lines.append(
            f"some jobs failed (logs in {folder}/logs); rerun them with "
            f"swint sweep --resume {folder} --retry-failed"
        )
    return lines
