"""The comparison's figures, drawn with matplotlib's Agg canvas (no display, no pyplot)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..files import writing
from ..runs import Run, summarize_times
from .groups import Group, key_metric

WIDTH, HEIGHT, DPI = 10.0, 4.0, 120
CURVES, STEP_TIME = "curves.png", "step_time.png"


def _label(run: Run) -> str:
    return f"{run.name} (damaged)" if run.damaged else run.name


def _colour(index: int) -> str:
    return f"C{index % 10}"  # the default cycle, so a run has one colour in every figure


def _save(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)
    with writing(path):
        figure.savefig(path, dpi=DPI)


METRIC_LABELS = {
    "val_miou": ("Validation mean IoU", "mean IoU (%)"),
    "val_map": ("Validation box mAP@[.5:.95]", "mAP (%)"),
    "val_acc1": ("Validation accuracy", "top-1 accuracy (%)"),
}


def _finish_curves(figure: Figure, axes_pair: Sequence, drawn: bool, title: str) -> None:
    for axes in axes_pair:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
    if drawn:
        handles, labels = axes_pair[0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3))
    else:
        figure.text(0.5, 0.5, "no completed epochs yet", ha="center", va="center")
    figure.suptitle(title)


def plot_curves(runs: Sequence[Run], path: Path) -> None:
    """Train loss and the validation metric (top-1 accuracy, or mean IoU for segmentation
    runs) per epoch, one line per run, shared x axis."""
    figure = Figure(figsize=(WIDTH, HEIGHT), layout="constrained")
    loss_axes, acc_axes = figure.subplots(1, 2, sharex=True)
    metric = key_metric(runs)
    title, label = METRIC_LABELS[metric]
    drawn = False
    for index, run in enumerate(runs):
        epochs = run.epochs
        if epochs.empty or "epoch" not in epochs.columns:
            continue
        style = {"color": _colour(index), "marker": "o", "label": _label(run)}
        if "train_loss" in epochs.columns:
            loss_axes.plot(epochs["epoch"], epochs["train_loss"], **style)
        if metric in epochs.columns:
            acc_axes.plot(epochs["epoch"], epochs[metric] * 100, **style)
        drawn = True
    loss_axes.set(title="Training loss", xlabel="epoch", ylabel="training loss")
    acc_axes.set(title=title, xlabel="epoch", ylabel=label)
    _finish_curves(figure, (loss_axes, acc_axes), drawn, "Training curves per run")
    _save(figure, path)


def plot_step_times(sets: Sequence[tuple[str, np.ndarray]], path: Path, what: str) -> None:
    """One box per ``(label, step times)`` set (a run's, or a group's pooled): quartiles,
    whiskers at the 5th and 95th percentile, the median and number of steps written above
    (log scale when the medians differ more than 20-fold); ``what`` names the sets."""
    timed = [(index, label, times) for index, (label, times) in enumerate(sets) if times.size]
    figure = Figure(figsize=(WIDTH, HEIGHT), layout="constrained")
    axes = figure.subplots()
    if timed:
        boxes = axes.boxplot(
            [times for _, _, times in timed],
            whis=(5, 95),
            showfliers=False,
            patch_artist=True,
            medianprops={"color": "black"},
        )
        for box, (index, _, _) in zip(boxes["boxes"], timed, strict=True):
            box.set(facecolor=_colour(index), alpha=0.6)
        positions = range(1, len(timed) + 1)
        labels = [label for _, label, _ in timed]
        axes.set_xticks(positions, labels, rotation=10 if len(timed) > 3 else 0)
        medians = [summarize_times(times).median for _, _, times in timed]  # type: ignore[union-attr]
        if max(medians) > 20 * min(medians):
            axes.set_yscale("log")
        upper_caps = boxes["caps"][1::2]  # the caps come as (lower, upper) per box
        for position, median, cap, (_, _, times) in zip(
            positions, medians, upper_caps, timed, strict=True
        ):
            axes.annotate(
                f"{median:.0f} ms, n={times.size}",
                (position, float(cap.get_ydata()[0])),
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                fontsize="small",
            )
        axes.margins(y=0.15)
    else:
        axes.text(0.5, 0.5, "no timed steps yet", ha="center", va="center")
    axes.set(
        title=f"Training step time per {what}, after warm-up (box: quartiles; whiskers: p5-p95)",
        xlabel=what,
        ylabel="step time (ms)",
    )
    axes.grid(axis="y", alpha=0.3)
    _save(figure, path)


def write_plots(runs: Sequence[Run], folder: Path) -> list[str]:
    """Write :data:`CURVES` and :data:`STEP_TIME` into ``folder``, one line and box per run;
    return their names."""
    plot_curves(runs, folder / CURVES)
    plot_step_times([(_label(run), run.step_times()) for run in runs], folder / STEP_TIME, "run")
    return [CURVES, STEP_TIME]


def _epoch_spread(runs: Sequence[Run], column: str) -> pd.DataFrame:
    """Per epoch, the mean and std (ddof 1; 0 for one run) of ``column`` over ``runs``."""
    tables = [
        run.epochs[["epoch", column]].dropna()
        for run in runs
        if not run.epochs.empty and {"epoch", column} <= set(run.epochs.columns)
    ]
    if not tables:
        return pd.DataFrame(columns=["mean", "std"])
    by_epoch = pd.concat(tables).groupby("epoch")[column]
    return pd.DataFrame({"mean": by_epoch.mean(), "std": by_epoch.std().fillna(0.0)})


def plot_group_curves(groups: Sequence[Group], metric: str, path: Path) -> None:
    """Train loss and the validation ``metric`` per epoch: each group's mean over its runs
    as a line, with a band of one standard deviation either side."""
    figure = Figure(figsize=(WIDTH, HEIGHT), layout="constrained")
    loss_axes, metric_axes = figure.subplots(1, 2, sharex=True)
    drawn = False
    for index, group in enumerate(groups):
        label = f"{group.name} (n={len(group.runs)})"
        for axes, column, scale in ((loss_axes, "train_loss", 1), (metric_axes, metric, 100)):
            spread = _epoch_spread(group.runs, column) * scale
            if spread.empty:
                continue
            epochs = spread.index.to_numpy()
            axes.plot(epochs, spread["mean"], color=_colour(index), marker="o", label=label)
            low, high = spread["mean"] - spread["std"], spread["mean"] + spread["std"]
            axes.fill_between(epochs, low, high, color=_colour(index), alpha=0.2, linewidth=0)
            drawn = True
    title, ylabel = METRIC_LABELS.get(metric, (metric, metric))
    loss_axes.set(title="Training loss", xlabel="epoch", ylabel="training loss")
    metric_axes.set(title=title, xlabel="epoch", ylabel=ylabel)
    _finish_curves(
        figure, (loss_axes, metric_axes), drawn, "Training curves: group mean ± 1 std over seeds"
    )
    _save(figure, path)


def write_group_plots(groups: Sequence[Group], metric: str, folder: Path) -> list[str]:
    """Write :data:`CURVES` (group means with std bands) and :data:`STEP_TIME` (each group's
    steps pooled) into ``folder``; return their names."""
    plot_group_curves(groups, metric, folder / CURVES)
    pooled = [(group.name, group.step_times()) for group in groups]
    plot_step_times(pooled, folder / STEP_TIME, "group")
    return [CURVES, STEP_TIME]
