"""The comparison's figures, drawn with matplotlib's Agg canvas (no display, no pyplot)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..runs import Run, summarize_times

WIDTH, HEIGHT, DPI = 10.0, 4.0, 120
CURVES, STEP_TIME = "curves.png", "step_time.png"


def _label(run: Run) -> str:
    return f"{run.name} (damaged)" if run.damaged else run.name


def _colour(index: int) -> str:
    return f"C{index % 10}"  # the default cycle, so a run has one colour in every figure


def _save(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=DPI)


def _key_metric(runs: Sequence[Run]) -> tuple[str, str, str]:
    """(column, title, axis label) of the validation metric to draw: mean IoU when every run
    with epochs has it (segmentation), else top-1 accuracy."""
    tables = [run.epochs for run in runs if not run.epochs.empty]
    if tables and all("val_miou" in table.columns for table in tables):
        return "val_miou", "Validation mean IoU", "mean IoU (%)"
    return "val_acc1", "Validation accuracy", "top-1 accuracy (%)"


def plot_curves(runs: Sequence[Run], path: Path) -> None:
    """Train loss and the validation metric (top-1 accuracy, or mean IoU for segmentation
    runs) per epoch, one line per run, shared x axis."""
    figure = Figure(figsize=(WIDTH, HEIGHT), layout="constrained")
    loss_axes, acc_axes = figure.subplots(1, 2, sharex=True)
    metric, title, label = _key_metric(runs)
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
    for axes in (loss_axes, acc_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
    if drawn:
        handles, labels = loss_axes.get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3))
    else:
        figure.text(0.5, 0.5, "no completed epochs yet", ha="center", va="center")
    figure.suptitle("Training curves per run")
    _save(figure, path)


def plot_step_times(runs: Sequence[Run], path: Path) -> None:
    """One box per run of the training step times after warm-up: quartiles, whiskers at the
    5th and 95th percentile, the median and number of steps written above (log scale when
    the medians differ more than 20-fold)."""
    timed = [(index, run, run.step_times()) for index, run in enumerate(runs)]
    timed = [entry for entry in timed if entry[2].size]
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
        labels = [_label(run) for _, run, _ in timed]
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
        title="Training step time per run, after warm-up (box: quartiles; whiskers: p5-p95)",
        xlabel="run",
        ylabel="step time (ms)",
    )
    axes.grid(axis="y", alpha=0.3)
    _save(figure, path)


def write_plots(runs: Sequence[Run], folder: Path) -> list[str]:
    """Write :data:`CURVES` and :data:`STEP_TIME` into ``folder``; return their names."""
    plot_curves(runs, folder / CURVES)
    plot_step_times(runs, folder / STEP_TIME)
    return [CURVES, STEP_TIME]
