"""The grouped comparison as a rich table, compare.csv and report.md: one column per group,
each group's figure with its interval, and every other group tested against the baseline.
Figures are fractions in compare.csv and percentages (differences in points) on screen."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
from rich.table import Table

from ..files import write_atomic, writing
from .groups import GROUP_COLUMNS, Row
from .report import Diff, duration, markdown_table, metric_format, show_value, side_by_side
from .statistics import NO_DIFFERENCE, NO_TEST, POWER
from .summary import LAST

Show = Callable[[object], str]


def _points(value: object) -> str:
    """A difference of fractions (accuracy, IoU) in signed percentage points."""
    return "-" if value is None else f"{float(value) * 100:+.2f}"  # type: ignore[arg-type]


def _spread_points(value: object) -> str:
    return f"{float(value) * 100:.2f}"  # type: ignore[arg-type]


def _milliseconds(value: object) -> str:
    return f"{float(value):,.1f}"  # type: ignore[arg-type]


def _mean_std(prefix: str, mean: Show, std: Show) -> Callable[[Row], str]:
    """``mean ± std`` of a pooled figure (the mean alone for a group of one)."""

    def cell(row: Row) -> str:
        if row[f"{prefix}_mean"] is None:
            return "-"
        spread = row[f"{prefix}_std"]
        return mean(row[f"{prefix}_mean"]) + ("" if spread is None else f" ± {std(spread)}")

    return cell


def _interval(prefix: str, show: Show) -> Callable[[Row], str]:
    def cell(row: Row) -> str:
        low, high = row[f"{prefix}_ci_low"], row[f"{prefix}_ci_high"]
        return "-" if low is None else f"{show(low)} to {show(high)}"

    return cell


def _test(row: Row) -> str:
    test = row["test"]
    if test is None or test == NO_TEST:
        return "-" if test is None else NO_TEST
    unit = "pairs" if str(test).startswith("paired") else "runs"
    return f"{test}, {row['pairs']} {unit}"


def _number(digits: str) -> Show:
    return lambda value: "-" if value is None else f"{float(value):{digits}}"  # type: ignore[arg-type]


def last_epochs(rows: Sequence[Row]) -> str:
    """``last 3 epochs``, ``last epoch`` or ``last 1-3 epochs``: what the groups' figures
    average (fewer than :data:`~.summary.LAST` for shorter runs)."""
    counts = sorted({count for row in rows for count in row.get("epochs_averaged") or [LAST]})
    if counts == [1]:
        return "last epoch"
    shown = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"last {shown} epochs"


def plural(count: int, noun: str) -> str:
    """``1 group``, ``2 groups``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def group_display_rows(rows: Sequence[Row], baseline: int) -> list[tuple[str, list[str]]]:
    """``(label, one cell per group)`` for the printed and markdown tables; ``±`` is one
    standard deviation over the group's runs, in points for the metric."""
    metric = str(rows[0]["metric"])
    show = metric_format(metric)
    name = metric.removeprefix("val_")
    fields: list[tuple[str, Callable[[Row], str]]] = [
        ("runs (seeds)", lambda r: f"{r['n']} ({r['seeds'] or '-'})"),
        ("precision", lambda r: str(r["precision"])),
        (
            f"val {name}, mean of {last_epochs(rows)} (± SD, points)",
            _mean_std("metric", show, _spread_points),
        ),
        ("95% CI of the mean", _interval("metric", show)),
        (f"best val {name} (± SD)", _mean_std("best", show, _spread_points)),
        (f"final val {name} (± SD)", _mean_std("final", show, _spread_points)),
        ("median step ms (all steps)", lambda r: _number(",.1f")(r["step_ms_median"])),
        ("wall time", lambda r: duration(r["wall_seconds_mean"])),
        ("difference (points)", lambda r: _points(r["diff_mean"])),
        ("95% CI of the difference", _interval("diff", _points)),
        ("test", _test),
        ("p-value", lambda r: _number(".3g")(r["p_value"])),
        ("effect size (Cohen's d)", lambda r: _number(".2f")(r["effect_size"])),
        ("verdict", lambda r: "-" if r["verdict"] is None else str(r["verdict"])),
        (
            f"detectable at {POWER:.0%} power (points)",
            lambda r: _number(".2f")(
                None if r["min_detectable_diff"] is None else float(r["min_detectable_diff"]) * 100  # type: ignore[arg-type]
            ),
        ),
    ]
    table = [(label, [cell(row) for row in rows]) for label, cell in fields]
    for label, cells in table[8:]:  # the baseline is what the others are tested against
        cells[baseline] = "baseline" if label == "verdict" else ""
    return table


def column_name(group: str) -> str:
    """What a group's column is headed: for groups that share a recipe name, the keys that
    tell them apart (``quickstart [epochs=1, lr=0.1]`` -> ``epochs=1, lr=0.1``); else the
    name. ``--baseline`` accepts it."""
    base, bracket, keys = group.partition(" [")
    return keys.removesuffix("]") if bracket and keys.endswith("]") else base


def group_table(rows: Sequence[Row], baseline: int) -> Table:
    """The groups side by side: one column per group, one row per figure."""
    title = f"swint compare: {plural(len(rows), 'group')} (baseline {rows[baseline]['group']})"
    names = [column_name(str(row["group"])) for row in rows]
    return side_by_side(title, "", names, group_display_rows(rows, baseline))


def verdict_sentence(row: Row, baseline: Row) -> str:
    """One group against the baseline, in words."""
    name, base = f"**{row['group']}**", f"**{baseline['group']}**"
    if row["test"] is None:
        return f"{name}: no runs with a figure to compare."
    diff = f"{_points(row['diff_mean'])} points"
    if row["test"] == NO_TEST:
        single = [f"{who} has one run" for who, r in ((name, row), (base, baseline)) if r["n"] == 1]
        why = " and ".join(single) or "too few runs"
        return f"{name} against {base}: {diff} between the means; no test: {why}."
    interval = _interval("diff", _points)(row)
    effect = "" if row["effect_size"] is None else f", d = {float(row['effect_size']):.2f}"  # type: ignore[arg-type]
    text = (
        f"{name} against {base}: {diff} (95% CI {interval}); {_test(row)}, "
        f"p = {float(row['p_value']):.3g}{effect}: **{row['verdict']}**."  # type: ignore[arg-type]
    )
    if row["verdict"] == NO_DIFFERENCE and row["min_detectable_diff"] == 0:
        text += " The figures agree exactly, seed by seed: any true difference would show."
    elif row["verdict"] == NO_DIFFERENCE:
        text += (
            f" With {row['pairs']} {'pairs' if 'paired' in str(row['test']) else 'runs'} at this "
            f"spread, a true difference of {float(row['min_detectable_diff']) * 100:.2f} points "  # type: ignore[arg-type]
            f"would be detected with {POWER:.0%} power; more seeds narrow it."
        )
    return text


def plain_verdict(row: Row, baseline: Row) -> str | None:
    """One group against the baseline in plain words, for a reader who does not do
    statistics: how far apart, over how many seeds, and whether that can be chance. None
    where there is no comparison (the baseline itself, no figures)."""
    test, diff = row["test"], row["diff_mean"]
    if test is None or diff is None:
        return None
    name, base = str(row["group"]), str(baseline["group"])
    points = abs(float(diff)) * 100  # type: ignore[arg-type]
    direction = "higher" if float(diff) > 0 else "lower"  # type: ignore[arg-type]
    apart = f"{name} is {direction} than {base} by {points:.1f} points"
    if test == NO_TEST:
        return f"{apart}, but with one run on a side nothing tells that from chance: run seeds."
    if "paired" in str(test):
        count = plural(int(row["pairs"]), "seed")  # type: ignore[arg-type]
    else:
        count = f"{row['n']} and {plural(int(baseline['n']), 'run')}"  # type: ignore[arg-type]
    if row["verdict"] != NO_DIFFERENCE:
        return (
            f"{apart} on average over {count}, more than the seeds' spread explains: "
            f"a real difference (p = {float(row['p_value']):.2g})."  # type: ignore[arg-type]
        )
    if row["min_detectable_diff"] == 0:
        return f"{name} and {base} give the same figures, seed by seed."
    unseen = float(row["min_detectable_diff"]) * 100  # type: ignore[arg-type]
    if points == 0:
        apart = f"{name} and {base} are equal on average"
    return (
        f"{apart} on average over {count}, but the seeds disagree enough that this may be "
        f"chance; with this spread a difference under {unseen:.1f} points would likely go "
        "unseen: run more seeds to tell."
    )


def plain_verdicts(rows: Sequence[Row], baseline: int) -> list[str]:
    """:func:`plain_verdict` of every group but the baseline, in order."""
    said = (plain_verdict(row, rows[baseline]) for i, row in enumerate(rows) if i != baseline)
    return [sentence for sentence in said if sentence]


def group_markdown(rows: Sequence[Row], baseline: int, diff: Diff, plots: Sequence[str]) -> str:
    """report.md: the verdicts in words, the group table, the config diff and the plots."""
    names = [str(row["group"]) for row in rows]
    body = [[label, *cells] for label, cells in group_display_rows(rows, baseline)]
    plain = {str(row["group"]): plain_verdict(row, rows[baseline]) for row in rows}
    verdicts = [
        f"- {verdict_sentence(row, rows[baseline])}"
        + (f" In words: {plain[str(row['group'])]}" if plain[str(row["group"])] else "")
        for index, row in enumerate(rows)
        if index != baseline
    ]
    parts = [
        f"# swint compare: {plural(len(rows), 'group')}",
        f"Runs whose recipes differ only in `training.seed` form a group. Each run's figure is "
        f"the mean of its {last_epochs(rows)} of `{rows[0]['metric']}`; a group shows the mean, "
        f"standard deviation (±, in points) and the 95% confidence interval of the mean "
        f"(Student's t). Groups "
        f"are tested against the baseline **{names[baseline]}**: paired t-test over shared "
        f"seeds, Welch's t-test otherwise; verdicts at p < 0.05.",
        "## Verdicts",
        "\n".join(verdicts) or "Only the baseline.",
        "## Groups",
        markdown_table(["", *names], body),
        "## Config diff",
    ]
    if diff:
        parts.append(markdown_table(["key", *names], [[k, *map(show_value, v)] for k, v in diff]))
    else:
        parts.append("The groups' recipes agree (apart from seeds).")
    parts += ["## Plots", *(f"![{name}]({name})" for name in plots)]
    return "\n\n".join(parts) + "\n"


def write_group_report(
    folder: Path, rows: Sequence[Row], baseline: int, diff: Diff, plots: Sequence[str]
) -> None:
    """Write compare.csv (:data:`~.groups.GROUP_COLUMNS`) and report.md into ``folder``
    (WriteError naming a file that cannot be written)."""
    frame = pd.DataFrame([{c: row.get(c) for c in GROUP_COLUMNS} for row in rows])
    frame["pairs"] = frame["pairs"].astype("Int64")  # empty for the baseline, not 10.0
    with writing(folder / "compare.csv"):
        frame.to_csv(folder / "compare.csv", index=False)
    write_atomic(folder / "report.md", group_markdown(rows, baseline, diff, plots))
