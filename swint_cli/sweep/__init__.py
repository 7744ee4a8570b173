"""``swint sweep``: recipes x grid values x seeds as ordinary training runs in one sweep
directory, resumable, several at a time, and shardable across processes or machines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..runs.layout import SWEEP, new_timestamped_dir
from ..runtime import available_cores
from .jobs import Job, SweepError, SweepSpec, expand, parse_grid, parse_seeds
from .runner import Progress, SweepRunner
from .sweep_file import create_sweep_file, first_difference, read_sweep_file

__all__ = [
    "Progress",
    "SweepError",
    "SweepOptions",
    "SweepSpec",
    "parse_grid",
    "parse_seeds",
    "parse_shard",
    "prepare_sweep",
    "run_sweep",
]


@dataclass(frozen=True, kw_only=True)
class SweepOptions:
    """How to run: ``parallel`` jobs at a time, this process's ``shard`` ``(i, n)`` (1-based),
    whether failed jobs run again."""

    parallel: int = 1
    shard: tuple[int, int] = (1, 1)
    retry_failed: bool = False


def parse_shard(text: str | None) -> tuple[int, int]:
    """``--shard I/N`` as ``(I, N)`` with 1 <= I <= N; ``(1, 1)`` when not given."""
    if text is None:
        return (1, 1)
    index, sep, count = text.partition("/")
    try:
        shard = (int(index), int(count))
    except ValueError:
        shard = (0, 0)
    if not sep or shard[1] < 1 or not 1 <= shard[0] <= shard[1]:
        raise SweepError(f"--shard {text}: expected I/N with 1 <= I <= N, e.g. 1/4")
    return shard


def _default_folder(spec: SweepSpec) -> Path:
    name = "+".join(Path(recipe).stem for recipe in spec.recipes)[:60]
    return new_timestamped_dir(Path("runs"), f"sweep-{name}")


def prepare_sweep(
    spec: SweepSpec | None, out: Path | None, resume: Path | None, shard: tuple[int, int]
) -> tuple[Path, SweepSpec, list[Job]]:
    """The sweep directory, its request and all its jobs, before anything runs.

    A new sweep (``spec``) expands and validates every job, then creates ``out`` (default
    ``runs/sweep-<recipes>-<timestamp>/``) and its sweep.yaml; an existing ``out`` is refused
    unless ``shard`` is given, in which case it must be (or become) the same sweep. With
    ``resume``, the recorded request is expanded again from the recipes on disk and must
    give the recorded jobs. Raises SweepError (or another UserError) with one line.
    """
    if resume is not None:
        recorded, spec = read_sweep_file(resume)
        jobs = expand(spec)
        difference = first_difference(recorded, jobs)
        if difference is not None:
            raise SweepError(
                f"{resume / SWEEP}: the recipes changed since it started ({difference})"
            )
        return resume, spec, jobs
    assert spec is not None
    jobs = expand(spec)
    if out is None:
        folder = _default_folder(spec)
    else:
        sharded = shard != (1, 1)
        if out.exists() and any(out.iterdir()) and not sharded:
            raise SweepError(f"--out {out}: already exists; use --resume {out} to continue it")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SweepError(f"--out {out}: cannot create ({exc.strerror or exc})") from None
        folder = out
    create_sweep_file(folder, spec, jobs)
    return folder, spec, jobs


def run_sweep(
    folder: Path,
    spec: SweepSpec,
    jobs: list[Job],
    options: SweepOptions,
    report: Callable[[Progress], object],
) -> int:
    """Run this shard's jobs; the exit code (0 all finished, 1 any failed, 130 stopped)."""
    index, count = options.shard
    mine = [job for job in jobs if job.index % count == index - 1]
    threads = max(1, available_cores() // options.parallel)
    runner = SweepRunner(
        folder=folder,
        spec=spec,
        jobs=mine,
        parallel=options.parallel,
        threads=threads,
        retry_failed=options.retry_failed,
        report=report,
    )
    return runner.run()
