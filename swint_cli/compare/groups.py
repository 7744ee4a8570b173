"""Runs of one configuration with different seeds, pooled into one group per configuration.

Runs whose resolved recipes differ only in ``training.seed`` (and ``output.name``,
``output.runs_dir``) form a group. Each run gives one figure, the mean of the last
:data:`~.summary.LAST` epochs of the task's validation metric; a group's figures become a
mean with its interval (:mod:`.statistics`), and every group is tested against a baseline.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from pydantic import ValidationError

from ..recipe import Recipe
from ..runs import Run, summarize_times
from ..runs.info import flatten
from .report import show_value
from .statistics import Difference, Spread, compare_to_baseline, describe
from .summary import HIDDEN_KEYS, LAST, config_diff, summarize_run

Row = dict[str, object]
SEED_KEY = "training.seed"
_SEED_SUFFIX = re.compile(r"-seed\d+$")  # sweep jobs' names end in their seed
POOLED = {  # compare.csv prefix -> per-run row column ({m}: the metric)
    "best": "best_{m}",
    "final": "final_{m}",
    "step_ms": "median_step_ms",
    "wall_seconds": "wall_seconds",
}


def key_metric(runs: Sequence[Run]) -> str:
    """The validation metric groups are judged by: ``val_miou`` when every run with epochs
    has it (segmentation), ``val_map`` when every one has that (detection), else
    ``val_acc1``."""
    tables = [run.epochs for run in runs if not run.epochs.empty]
    for metric in ("val_miou", "val_map"):
        if tables and all(metric in table.columns for table in tables):
            return metric
    return "val_acc1"


def _resolved(recipe: dict) -> dict:
    """``recipe`` with the schema's defaults for keys it lacks (a run from before a key was
    added groups with runs that have the key at its default); as written if it no longer
    validates."""
    try:
        return Recipe.model_validate(recipe).model_dump(mode="json")
    except ValidationError:
        return recipe


def _configuration(run: Run) -> str:
    """The run's flattened recipe (defaults filled in) without seed and names: equal for
    runs of one group."""
    flat = flatten(_resolved(run.recipe))
    kept = {k: v for k, v in flat.items() if k not in (*HIDDEN_KEYS, SEED_KEY)}
    return repr(sorted(kept.items())) if run.recipe else f"no recipe: {run.path}"


def seed_of(run: Run) -> int:
    """``training.seed`` of the run's recipe (the schema's default 0 where absent)."""
    training = run.recipe.get("training") if isinstance(run.recipe.get("training"), dict) else {}
    seed = training.get("seed", 0)
    return seed if isinstance(seed, int) else 0


def _base_name(run: Run) -> str:
    output = run.recipe.get("output") if isinstance(run.recipe.get("output"), dict) else {}
    return _SEED_SUFFIX.sub("", str(output.get("name") or run.name))


@dataclass
class Group:
    """Runs of one configuration; ``rows`` are their :func:`summarize_run` rows."""

    name: str
    runs: list[Run]
    rows: list[Row] = field(default_factory=list)

    def figures(self, metric: str) -> dict[int, float]:
        """Each seed's figure (mean of the last epochs of ``metric``); runs without a finite
        value are left out, and runs sharing a seed are averaged."""
        by_seed: dict[int, list[float]] = {}
        for run, row in zip(self.runs, self.rows, strict=True):
            value = row.get(f"last3_{metric}")
            if value is not None:
                by_seed.setdefault(seed_of(run), []).append(float(value))
        return {seed: sum(values) / len(values) for seed, values in by_seed.items()}

    def shared_seeds(self) -> dict[int, list[str]]:
        """The seeds two or more of the group's runs share, with those runs' names (a sweep
        run twice into one directory, or a run copied): their figures are averaged."""
        by_seed: dict[int, list[str]] = {}
        for run in self.runs:
            by_seed.setdefault(seed_of(run), []).append(run.name)
        return {seed: names for seed, names in by_seed.items() if len(names) > 1}

    def step_times(self) -> np.ndarray:
        """Every timed step of the group's runs (warm-up left out), pooled: the one set the
        table's median step time and step_time.png both describe."""
        times = [run.step_times() for run in self.runs]
        return np.concatenate(times) if times else np.array([])


def group_runs(runs: Sequence[Run], extras: Sequence[str]) -> list[Group]:
    """The runs' groups in first-seen order, named by their recipes' ``output.name`` (less a
    ``-seedN`` suffix); groups that would share a name get the keys that tell them apart."""
    by_config: dict[str, Group] = {}
    for run in runs:
        group = by_config.setdefault(_configuration(run), Group(_base_name(run), []))
        group.runs.append(run)
        group.rows.append(summarize_run(run, extras))
    groups = list(by_config.values())
    _disambiguate(groups)
    return groups


def _disambiguate(groups: list[Group]) -> None:
    """Append ``key=value`` of the keys that differ to names several groups share."""
    for name in {g.name for g in groups}:
        same = [g for g in groups if g.name == name]
        if len(same) < 2:
            continue
        diff = [(k, v) for k, v in config_diff([g.runs[0] for g in same]) if k != SEED_KEY]
        diff = [(k, v) for k, v in diff if not k.startswith("env.")]
        for index, group in enumerate(same):
            keys = ", ".join(f"{k.rsplit('.', 1)[-1]}={show_value(v[index])}" for k, v in diff)
            group.name = f"{name} [{keys or index + 1}]"


def _pooled(rows: Sequence[Row], column: str) -> Spread | None:
    values = [float(row[column]) for row in rows if row.get(column) is not None]  # type: ignore[arg-type]
    return describe(values) if values else None


GROUP_COLUMNS = (
    "group",
    "n",
    "seeds",
    "runs",
    "precision",
    "metric",
    "metric_mean",
    "metric_std",
    "metric_ci_low",
    "metric_ci_high",
    *(f"{prefix}_{stat}" for prefix in POOLED for stat in ("mean", "std")),
    "step_ms_median",  # of all the group's steps pooled, as step_time.png shows them
    "diff_mean",
    "diff_ci_low",
    "diff_ci_high",
    "p_value",
    "test",
    "pairs",
    "effect_size",
    "verdict",
    "min_detectable_diff",
)


def averaged_epochs(row: Row) -> int:
    """How many last epochs a run's figure averages: :data:`~.summary.LAST`, or fewer for a
    run with fewer epochs."""
    done = row.get("epochs_done")
    return min(LAST, int(done)) if isinstance(done, int | float) and done >= 1 else LAST


def group_rows(
    groups: Sequence[Group], metric: str, baseline: int, warn: Callable[[str], object]
) -> list[Row]:
    """One compare.csv row (:data:`GROUP_COLUMNS`) per group; the comparison columns are
    empty for the baseline (``groups[baseline]``) and for groups without figures."""
    reference = groups[baseline].figures(metric)
    rows = []
    for index, group in enumerate(groups):
        figures = group.figures(metric)
        left_out = len(group.runs) - sum(
            1 for row in group.rows if row.get(f"last3_{metric}") is not None
        )
        if left_out:
            warn(f"group {group.name}: {left_out} run(s) without a finite {metric} left out")
        for seed, names in group.shared_seeds().items():
            warn(
                f"group {group.name}: {', '.join(names)} share seed {seed}; their mean counts once"
            )
        spread = describe(list(figures.values())) if figures else None
        row: Row = {
            "group": group.name,
            "epochs_averaged": sorted({averaged_epochs(r) for r in group.rows}),
            "n": spread.n if spread else 0,
            "seeds": " ".join(map(str, sorted(figures))),
            "runs": " ".join(run.name for run in group.runs),
            "precision": " ".join(dict.fromkeys(str(r["precision"]) for r in group.rows)),
            "metric": metric,
            "metric_mean": spread and spread.mean,
            "metric_std": spread and spread.std,
            "metric_ci_low": spread and spread.ci_low,
            "metric_ci_high": spread and spread.ci_high,
        }
        for prefix, column in POOLED.items():
            pooled = _pooled(group.rows, column.format(m=metric))
            row[f"{prefix}_mean"], row[f"{prefix}_std"] = (
                (pooled.mean, pooled.std) if pooled else (None, None)
            )
        steps = summarize_times(group.step_times())
        row["step_ms_median"] = steps.median if steps else None
        difference: Difference | None = None
        if index != baseline and figures and reference:
            difference = compare_to_baseline(reference, figures)
        for column in GROUP_COLUMNS[GROUP_COLUMNS.index("diff_mean") :]:
            row[column] = getattr(difference, column) if difference else None
        rows.append(row)
    return rows
