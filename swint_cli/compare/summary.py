"""Per-run figures for the comparison table, and the diff of the runs' configurations."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from ..runs import Run, summarize_times
from ..runs.info import flatten

HIDDEN_KEYS = ("output.name", "output.runs_dir")  # differ between any two runs
HIDDEN_ENV_KEYS = ("start_time",)
BASE_METRICS = ("val_acc1", "val_acc5")
COLUMNS = (
    "run",
    "path",
    "backbone",
    "swint_slots",
    "params_m",
    "gflops_per_image",
    "precision",
    "epochs_done",
    "epochs",
    "best_val_acc1",
    "final_val_acc1",
    "last3_val_acc1",
    "best_val_acc5",
    "final_val_acc5",
    "last3_val_acc5",
    "final_train_loss",
    "median_step_ms",
    "p90_step_ms",
    "images_per_s",
    "wall_seconds",
    "status",
    "damaged",
    "problems",
    "missing_files",
)
MISSING = object()  # a key one run's recipe or env lacks
UNKNOWN = object()  # a run without a recipe (or env) at all


def _number(value: object) -> float | None:
    """A finite float, or None (for NaN, None, text)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _first(*values: object) -> float | None:
    """The first of ``values`` that is a finite number."""
    return next((v for v in map(_number, values) if v is not None), None)


def extra_metrics(runs: Sequence[Run]) -> list[str]:
    """``val_*`` columns of epochs.csv beyond loss, acc1 and acc5 (e.g. a later mIoU)."""
    seen: dict[str, None] = {}
    for run in runs:
        for column in run.epochs.columns:
            if column.startswith("val_") and column not in ("val_loss", *BASE_METRICS):
                seen[column] = None
    return list(seen)


LAST = 3  # epochs averaged for the ``last3_`` figures


def _best_final(run: Run, column: str) -> tuple[float | None, float | None, float | None]:
    """Best (lowest for a loss, else highest) and last value of an epochs.csv column, and the
    mean of its last :data:`LAST` values (steadier than one epoch on a small validation set)."""
    if column not in run.epochs.columns:
        return None, None, None
    values = run.epochs[column].dropna()
    if values.empty:
        return None, None, None
    best = values.min() if "loss" in column else values.max()
    return _number(best), _number(values.iloc[-1]), _number(values.iloc[-LAST:].mean())


def _images_per_second(run: Run) -> float | None:
    """Images over data + step time of the batches after warm-up (as the trainer counts)."""
    batches = run.batches
    needed = {"batch_size", "data_ms", "step_ms", "warmup"}
    if batches.empty or not needed <= set(batches.columns):
        return None
    timed = batches[batches["warmup"] == 0].dropna(subset=list(needed))
    seconds = (timed["data_ms"] + timed["step_ms"]).sum() / 1000
    return _number(timed["batch_size"].sum() / seconds) if seconds > 0 else None


def run_precision(run: Run) -> str:
    """The precision the run's CPU products ran in: env.json's ``precision`` (as run), else
    the recipe's ``training.precision``, else fp32 (runs from before the key existed)."""
    training = run.recipe.get("training") if isinstance(run.recipe.get("training"), dict) else {}
    return str(run.env.get("precision") or training.get("precision") or "fp32")


def summarize_run(run: Run, extras: Sequence[str] = ()) -> dict[str, object]:
    """The comparison row of one run (:data:`COLUMNS`, plus best/final/last3 of ``extras``).

    Accuracies and losses come from epochs.csv and step times from batches.csv (median and
    p90 of ``step_ms`` after warm-up), falling back to summary.json where the tables have no
    rows; size, FLOPs, epochs done, wall time and status come from summary.json (status as
    it stands: ``crashed`` for a ``running`` run that no process holds).
    """
    summary, recipe = run.summary, run.recipe
    params = _number(summary.get("params"))
    model = recipe.get("model") if isinstance(recipe.get("model"), dict) else {}
    training = recipe.get("training") if isinstance(recipe.get("training"), dict) else {}
    row: dict[str, object] = {
        "run": run.name,
        "path": str(run.path),
        "backbone": summary.get("backbone") or model.get("backbone"),
        "swint_slots": summary.get("swint_slots"),
        "params_m": None if params is None else params / 1e6,
        "gflops_per_image": _number(summary.get("gflops_per_image")),
        "precision": run_precision(run),
        "epochs_done": summary.get("epochs_done"),
        "epochs": summary.get("epochs") or training.get("epochs"),
    }
    if row["epochs_done"] is None and "epoch" in run.epochs.columns:
        row["epochs_done"] = int(run.epochs["epoch"].max()) if len(run.epochs) else 0
    for metric in (*BASE_METRICS, *extras):
        figures = _best_final(run, metric)
        row[f"best_{metric}"], row[f"final_{metric}"], row[f"last3_{metric}"] = figures
    for key in ("best_val_acc1", "final_val_acc1"):
        row[key] = _first(row[key], summary.get(key))
    row["final_train_loss"] = _best_final(run, "train_loss")[1]
    times = summarize_times(run.step_times())
    row["median_step_ms"] = _first(times and times.median, summary.get("median_step_ms"))
    row["p90_step_ms"] = _first(times and times.p90, summary.get("p90_step_ms"))
    epochs = run.epochs
    row["images_per_s"] = _first(
        _images_per_second(run),
        epochs["images_per_second"].mean() if "images_per_second" in epochs.columns else None,
    )
    row["wall_seconds"] = _first(
        summary.get("wall_seconds"),
        epochs["epoch_seconds"].sum() if "epoch_seconds" in epochs.columns else None,
    )
    row["status"] = run.status or "unknown (no summary.json)"
    row["damaged"] = run.damaged
    row["problems"] = "; ".join(run.problems)
    row["missing_files"] = " ".join(run.missing)
    return row


def _sections(run: Run) -> dict[str, dict[str, object] | None]:
    """The run's flattened recipe and ``env.*`` keys; None for a file it lacks."""
    recipe = {k: v for k, v in flatten(run.recipe).items() if k not in HIDDEN_KEYS}
    env = {f"env.{k}": v for k, v in run.env.items() if k not in HIDDEN_ENV_KEYS}
    return {"recipe": recipe if run.recipe else None, "env": env if run.env else None}


def config_diff(runs: Sequence[Run]) -> list[tuple[str, list[object]]]:
    """The recipe keys (dotted, lists as ``[i]``), then the ``env.json`` keys (``env.*``),
    whose values differ between the runs, in first-seen order, with each run's value.

    :data:`MISSING` marks a key a run's file lacks; :data:`UNKNOWN` a run without that file
    (it does not count as a difference). ``output.name``, ``output.runs_dir`` and
    ``env.start_time`` are left out. A list whose length differs between the runs is one
    row saying how many entries each has (``none`` for ``[]``).
    """
    sections = [_sections(run) for run in runs]
    diff = []
    for section in ("recipe", "env"):
        flats = [entry[section] for entry in sections]
        keys: dict[str, None] = {}
        for flat in flats:
            keys.update(dict.fromkeys(flat or {}))
        for key in keys:
            values = [UNKNOWN if flat is None else flat.get(key, MISSING) for flat in flats]
            if len({repr(value) for value in values if value is not UNKNOWN}) > 1:
                diff.append((key, values))
        lists = (_LIST_ITEM.match(key) for key, _ in diff)
        for prefix in dict.fromkeys(match.group(1) for match in lists if match):
            diff = _summarise_list(diff, prefix, flats)
    return diff


_LIST_ITEM = re.compile(r"([^\[]+)\[\d+\]")  # the first list along a dotted key


def _entries(count: int) -> str:
    return "none" if count == 0 else f"{count} entr{'y' if count == 1 else 'ies'}"


def _summarise_list(
    diff: list[tuple[str, list[object]]], prefix: str, flats: Sequence[dict | None]
) -> list[tuple[str, list[object]]]:
    """``diff`` with the rows of the list ``prefix`` folded into one row saying how many
    entries each run has, when the runs' lists differ in length (a rule list against
    ``[]`` would otherwise take a row per field of every rule)."""
    counts = []
    for flat in flats:
        if flat is None:
            counts.append(UNKNOWN)
            continue
        indices = {key[len(prefix) :].split("]")[0] for key in flat if key.startswith(prefix + "[")}
        counts.append(len(indices) if indices or prefix in flat else MISSING)
    if len({repr(count) for count in counts if count is not UNKNOWN}) < 2:
        return diff  # same lengths: the differing fields are worth their rows
    inside = [i for i, (key, _) in enumerate(diff) if key == prefix or key.startswith(prefix + "[")]
    summary = [count if count in (UNKNOWN, MISSING) else _entries(count) for count in counts]
    kept = [row for i, row in enumerate(diff) if i not in inside]
    kept.insert(inside[0], (prefix, summary))
    return kept
