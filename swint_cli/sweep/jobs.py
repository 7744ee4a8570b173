"""A sweep's jobs: recipes x grid values (cartesian) x seeds, each an ordinary training run.

A job's run lands in the sweep directory, named ``<recipe>[-<key>=<value>...]-seed<N>`` so
that recipe, grid values and seed can be read from the name; its resolved recipe's sha256
(without the ``output`` section, which only says where the run goes) is recorded so that a
resumed sweep can tell whether the recipes on disk still describe the same jobs.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from ..errors import UserError
from ..recipe import RecipeError, load_recipe
from ..runs.info import sha256_of


class SweepError(UserError):
    """Bad sweep input (options, grid, sweep directory); the message is one line."""


@dataclass(frozen=True, kw_only=True)
class SweepSpec:
    """What the command line asked for: recipes, ``--grid`` values (key -> list of values, in
    order), ``--set`` overrides applied to every job, and the seeds."""

    recipes: list[str]
    grid: dict[str, list[str]] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])


@dataclass(frozen=True, kw_only=True)
class Job:
    """One training run of the sweep."""

    index: int
    name: str
    recipe: str
    grid: dict[str, str]
    seed: int
    sha256: str

    def overrides(self, sweep_dir: Path, spec: SweepSpec) -> list[str]:
        """The ``--set`` assignments that make the job's recipe from its file, its run going
        into ``sweep_dir``."""
        return [
            *_assignments(spec.overrides, self.grid, self.seed),
            f"output.runs_dir={sweep_dir}",
            f"output.name={self.name}",
        ]


def _assignments(overrides: Sequence[str], grid: dict[str, str], seed: int) -> list[str]:
    """``--set`` first, then the grid values, then the seed: later ones win."""
    return [*overrides, *(f"{k}={v}" for k, v in grid.items()), f"training.seed={seed}"]


def parse_grid(assignments: Sequence[str]) -> dict[str, list[str]]:
    """``--grid KEY=V1,V2`` options as ``{KEY: [V1, V2]}``; SweepError for a malformed one,
    an empty value list, or a key given twice."""
    grid: dict[str, list[str]] = {}
    for assignment in assignments:
        key, sep, values = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SweepError(f"--grid {assignment}: expected KEY=VALUE1,VALUE2,...")
        listed = [value.strip() for value in values.split(",")]
        if not values.strip() or any(not value for value in listed):
            raise SweepError(f"--grid {key}: empty value in {values!r}; expected V1,V2,...")
        if key in grid:
            raise SweepError(f"--grid {key}: given twice; list all its values in one --grid")
        grid[key] = listed
    return grid


def parse_seeds(seeds: int | None, seed_list: str | None) -> list[int]:
    """``--seeds N`` (0 to N-1) or ``--seed-list 3,7``; default three seeds (0, 1, 2)."""
    if seeds is not None and seed_list is not None:
        raise SweepError("--seeds and --seed-list: give one of them")
    if seed_list is not None:
        try:
            listed = [int(part) for part in seed_list.split(",")]
        except ValueError:
            raise SweepError(f"--seed-list {seed_list}: expected integers like 3,7") from None
        if any(seed < 0 for seed in listed) or len(set(listed)) != len(listed):
            raise SweepError(f"--seed-list {seed_list}: expected distinct seeds >= 0")
        return listed
    count = 3 if seeds is None else seeds
    if count < 1:
        raise SweepError(f"--seeds {count}: expected at least 1")
    return list(range(count))


def _label(value: str) -> str:
    """A grid value as it can stand in a directory name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", value)


def _short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Each grid key's last component, or the whole key where two would share it."""
    last = [key.rsplit(".", 1)[-1] for key in keys]
    return {
        key: (short if last.count(short) == 1 else key)
        for key, short in zip(keys, last, strict=True)
    }


def job_sha256(recipe: str, overrides: Sequence[str]) -> str:
    """sha256 of the job's resolved recipe without its ``output`` section."""
    resolved = load_recipe(recipe, overrides).model_dump(mode="json")
    resolved.pop("output", None)
    return sha256_of(yaml.safe_dump(resolved, sort_keys=True))


def expand(spec: SweepSpec) -> list[Job]:
    """The jobs in order: for each recipe, each grid combination (the first key varying
    slowest), each seed. Every job's recipe is validated; a bad grid key or value is a
    SweepError naming it."""
    keys = list(spec.grid)
    short = _short_keys(keys)
    jobs: list[Job] = []
    for recipe in spec.recipes:
        for values in itertools.product(*(spec.grid[key] for key in keys)):
            grid = dict(zip(keys, values, strict=True))
            label = "".join(f"-{short[k]}={_label(v)}" for k, v in grid.items())
            for seed in spec.seeds:
                try:
                    sha = job_sha256(recipe, _assignments(spec.overrides, grid, seed))
                except RecipeError as exc:
                    raise SweepError(_grid_problem(exc, grid)) from None
                name = f"{_label(Path(recipe).stem)}{label}-seed{seed}"
                jobs.append(
                    Job(index=len(jobs), name=name, recipe=recipe, grid=grid, seed=seed, sha256=sha)
                )
    return jobs


def _grid_problem(exc: RecipeError, grid: dict[str, str]) -> str:
    """The recipe error, prefixed with the --grid option it came from when it names one."""
    message = str(exc)
    for key, value in grid.items():
        if key in message:
            return f"--grid {key}={value}: {message}"
    return message


def job_records(jobs: Sequence[Job]) -> list[dict[str, object]]:
    """The jobs as sweep.yaml lists them."""
    return [asdict(job) for job in jobs]
