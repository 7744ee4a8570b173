"""``sweep.yaml``: the sweep's request and its expanded job list, written once.

It is created exclusively (a temporary file hard-linked into place), so shards started
together into one directory agree on one file: the first writes it, the others check that
their own expansion lists the same jobs.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import yaml

from ..files import writing
from ..runs.layout import SWEEP
from .jobs import Job, SweepError, SweepSpec, job_records

VERSION = 1


def sweep_document(spec: SweepSpec, jobs: list[Job]) -> dict[str, object]:
    """What sweep.yaml holds: the request (recipes, grid, set, seeds) and every job."""
    return {
        "swint_sweep": VERSION,
        "recipes": spec.recipes,
        "grid": spec.grid,
        "set": spec.overrides,
        "seeds": spec.seeds,
        "jobs": job_records(jobs),
    }


def first_difference(recorded: list[dict], jobs: list[Job]) -> str | None:
    """How the recorded job list differs from ``jobs`` (the first difference), or None."""
    current = job_records(jobs)
    for old, new in zip(recorded, current, strict=False):
        if old.get("name") != new["name"]:
            return f"job {new['index']} is {new['name']}, recorded as {old.get('name')}"
        if old.get("sha256") != new["sha256"]:
            return f"job {new['name']}: its recipe {new['recipe']} now resolves differently"
    if len(recorded) != len(current):
        return f"{len(current)} jobs now, {len(recorded)} recorded"
    return None


def create_sweep_file(folder: Path, spec: SweepSpec, jobs: list[Job]) -> bool:
    """Write ``folder/sweep.yaml`` unless it exists; True when this call wrote it. An
    existing file must list the same jobs (a shard of the same sweep), else SweepError."""
    path = folder / SWEEP
    tmp = folder / f".{SWEEP}.{os.getpid()}.tmp"
    try:
        with writing(path):
            document = yaml.safe_dump(sweep_document(spec, jobs), sort_keys=False)
            tmp.write_text(document, encoding="utf-8")
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            else:
                return True
        recorded, _ = read_sweep_file(folder)
        difference = first_difference(recorded, jobs)
        if difference is not None:
            raise SweepError(f"{path}: another sweep's directory ({difference})") from None
        return False
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def read_sweep_file(folder: Path) -> tuple[list[dict], SweepSpec]:
    """The recorded jobs and request of the sweep in ``folder``; SweepError when it has no
    readable sweep.yaml."""
    path = folder / SWEEP
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SweepError(f"{folder}: not a sweep directory (no {SWEEP})") from None
    except (OSError, yaml.YAMLError) as exc:
        raise SweepError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict) or data.get("swint_sweep") != VERSION:
        raise SweepError(f"{path}: not a swint sweep file (version {VERSION})")
    try:
        spec = SweepSpec(
            recipes=list(data["recipes"]),
            grid={str(k): list(map(str, v)) for k, v in data["grid"].items()},
            overrides=list(data["set"]),
            seeds=[int(seed) for seed in data["seeds"]],
        )
        jobs = list(data["jobs"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SweepError(f"{path}: damaged ({exc.__class__.__name__}: {exc})") from None
    return jobs, spec
