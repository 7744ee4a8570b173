"""The comparison as a rich table, compare.csv and report.md: one column per run."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
from rich.table import Table

from ..files import write_atomic, writing
from .summary import COLUMNS, MISSING, UNKNOWN

Row = dict[str, object]
Diff = list[tuple[str, list[object]]]


def _percent(value: object) -> str:
    return "-" if value is None else f"{float(value):.1%}"  # type: ignore[arg-type]


def _fixed(digits: int) -> Callable[[object], str]:
    return lambda value: "-" if value is None else f"{float(value):,.{digits}f}"  # type: ignore[arg-type]


def _plain(value: object) -> str:
    return "-" if value is None else str(value)


def duration(value: object) -> str:
    if value is None:
        return "-"
    minutes, seconds = divmod(round(float(value)), 60)  # type: ignore[arg-type]
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s"


def _epochs(row: Row) -> str:
    done, total = row["epochs_done"], row["epochs"]
    return f"{_plain(done)}/{total}" if total is not None else _plain(done)


def _status(row: Row) -> str:
    return f"{row['status']} (damaged)" if row["damaged"] else str(row["status"])


def metric_format(metric: str) -> Callable[[object], str]:
    """Accuracy-like ``val_*`` fractions (acc, IoU, mAP) as percentages, others with 4 digits."""
    return _percent if any(kind in metric for kind in ("acc", "iou", "map")) else _fixed(4)


def display_rows(rows: Sequence[Row], extras: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``(label, one cell per run)`` for the printed and markdown tables."""
    fields: list[tuple[str, Callable[[Row], str]]] = [
        ("backbone", lambda r: _plain(r["backbone"])),
        ("SwinT slots", lambda r: _plain(r["swint_slots"])),
        ("params (M)", lambda r: _fixed(2)(r["params_m"])),
        ("GFLOPs/image", lambda r: _fixed(3)(r["gflops_per_image"])),
        ("precision", lambda r: _plain(r["precision"])),
        ("epochs done", _epochs),
    ]
    for metric in ("val_acc1", "val_acc5", *extras):
        if all(r[f"best_{metric}"] is None and r[f"final_{metric}"] is None for r in rows):
            continue  # a metric none of the runs has (accuracy, for detection runs)
        show = metric_format(metric)
        label = metric.removeprefix("val_")
        fields.append((f"best val {label}", lambda r, m=metric, f=show: f(r[f"best_{m}"])))
        fields.append((f"final val {label}", lambda r, m=metric, f=show: f(r[f"final_{m}"])))
        fields.append((f"last-3 mean val {label}", lambda r, m=metric, f=show: f(r[f"last3_{m}"])))
    fields += [
        ("final train loss", lambda r: _fixed(4)(r["final_train_loss"])),
        ("median step ms", lambda r: _fixed(1)(r["median_step_ms"])),
        ("p90 step ms", lambda r: _fixed(1)(r["p90_step_ms"])),
        ("images/s", lambda r: _fixed(1)(r["images_per_s"])),
        ("wall time", lambda r: duration(r["wall_seconds"])),
        ("status", _status),
    ]
    return [(label, [cell(row) for row in rows]) for label, cell in fields]


def show_value(value: object) -> str:
    """A config value as YAML would write it; ``-`` for a missing key, ``?`` if unknown."""
    if value is MISSING:
        return "-"
    if value is UNKNOWN:
        return "?"
    return value if isinstance(value, str) else json.dumps(value)


def side_by_side(
    title: str, corner: str, names: Sequence[str], body: Sequence[tuple[str, Sequence[str]]]
) -> Table:
    """A table with one column per name and one row per ``(label, cells)``; on a narrow
    terminal labels and cells wrap between words, never inside one."""
    table = Table(title=title)
    table.add_column(corner)
    for name in names:
        table.add_column(name, justify="right")
    for label, cells in body:
        table.add_row(label, *cells)
    return table


def summary_table(rows: Sequence[Row], extras: Sequence[str]) -> Table:
    """The runs side by side: one column per run, one row per figure."""
    names = [str(row["run"]) for row in rows]
    return side_by_side(f"swint compare: {len(rows)} runs", "", names, display_rows(rows, extras))


def diff_table(names: Sequence[str], diff: Diff) -> Table:
    """The differing recipe and env keys (output.name/runs_dir and start times left out),
    one column per run or group in ``names``."""
    body = [(key, [show_value(value) for value in values]) for key, values in diff]
    return side_by_side("config diff (keys whose values differ)", "key", names, body)


def csv_frame(rows: Sequence[Row], extras: Sequence[str], diff: Diff) -> pd.DataFrame:
    """compare.csv: one row per run; :data:`COLUMNS` with ``best_``/``final_``/``last3_`` of
    the extra ``val_*`` metrics after ``last3_val_acc5``, then one column per differing
    config key."""
    at = COLUMNS.index("last3_val_acc5") + 1
    extra = [f"{kind}_{metric}" for metric in extras for kind in ("best", "final", "last3")]
    columns = [*COLUMNS[:at], *extra, *COLUMNS[at:]]
    frame = pd.DataFrame([{c: row.get(c) for c in columns} for row in rows], columns=columns)
    for key, values in diff:
        frame[key] = ["" if v is MISSING or v is UNKNOWN else show_value(v) for v in values]
    return frame


def markdown_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *map(line, body)])


def markdown_report(
    rows: Sequence[Row], extras: Sequence[str], diff: Diff, plots: Sequence[str]
) -> str:
    """report.md: the table, the config diff, damage and missing files, and the plots."""
    names = [str(row["run"]) for row in rows]
    parts = [
        f"# swint compare: {len(rows)} runs",
        "## Runs",
        markdown_table(
            ["", *names], [[label, *cells] for label, cells in display_rows(rows, extras)]
        ),
        "## Config diff",
        "Recipe keys (and `env.*` keys of env.json) whose values differ; `output.name`, "
        "`output.runs_dir` and `env.start_time` are not shown. `-`: key absent; `?`: no file.",
    ]
    if diff:
        parts.append(markdown_table(["key", *names], [[k, *map(show_value, v)] for k, v in diff]))
    else:
        parts.append("No differences.")
    notes = []
    for row in rows:
        found = [str(row["problems"])] if row["problems"] else []
        if row["missing_files"]:
            found.append(f"missing {row['missing_files']}")
        if found:
            notes.append(f"- **{row['run']}**: " + "; ".join(found))
    if notes:
        parts += ["## Damaged or incomplete runs", "\n".join(notes)]
    parts += ["## Plots", *(f"![{name}]({name})" for name in plots)]
    return "\n\n".join(parts) + "\n"


def write_report(
    folder: Path, rows: Sequence[Row], extras: Sequence[str], diff: Diff, plots: Sequence[str]
) -> None:
    """Write compare.csv and report.md into ``folder`` (WriteError naming a file that
    cannot be written)."""
    with writing(folder / "compare.csv"):
        csv_frame(rows, extras, diff).to_csv(folder / "compare.csv", index=False)
    write_atomic(folder / "report.md", markdown_report(rows, extras, diff, plots))
