"""Rich tables of bench rows, one column per measured layer or model.

Layers: SwinT and Conv2D side by side for each stride, with a SwinT / Conv2D ratio column
(times compared per image, since out-of-memory retries may leave different batches).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from ..files import write_atomic
from .plan import variant_label

LAYER_NOTE = (
    "GFLOPs: multiply-accumulates per image (the Swin paper's count) from SwinT.flops, and "
    "for Conv2D from paddle.flops or, where it fails, the formula k*k*Cin*Cout*Ho*Wo; "
    "GFLOP/s: the forward pass's; of matmul: that over a "
    "square paddle.matmul of similar size in the same process; ratios of times per image."
)
MODEL_NOTE = "train: the trainer's step, the recipe's loss and optimizer; GFLOPs from model_flops"


def _num(value: float) -> str:
    """About three significant figures, without exponents: 0.523, 12.3, 1234."""
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"


@dataclass(frozen=True)
class Metric:
    """A table row: its label, the cell of a successful measurement, and optionally the
    number a ratio compares (``same_batch``: only between runs at the same batch)."""

    label: str
    cell: Callable[[dict], str]
    number: Callable[[dict], float] | None = None
    same_batch: bool = False


def _shown(key: str, scale: float = 1.0) -> Callable[[dict], str]:
    return lambda row: _num(row[key] / scale)


def _spread(prefix: str) -> Callable[[dict], str]:
    return lambda row: f"{_num(row[prefix + '_ms_p10'])}-{_num(row[prefix + '_ms_p90'])}"


def _plain(key: str) -> Callable[[dict], float]:
    return lambda row: row[key]


def _per_image(key: str) -> Callable[[dict], float]:
    return lambda row: row[key] / row["batch_size"]


def _timings(infer: str, train: str) -> tuple[Metric, ...]:
    return (
        Metric(f"{infer} ms", _shown("fwd_ms_median"), _per_image("fwd_ms_median")),
        Metric("  p10-p90", _spread("fwd")),
        Metric(f"{train} ms", _shown("train_ms_median"), _per_image("train_ms_median")),
        Metric("  p10-p90", _spread("train")),
        Metric(f"{infer} img/s", _shown("fwd_images_per_s"), _plain("fwd_images_per_s")),
        Metric(f"{train} img/s", _shown("train_images_per_s"), _plain("train_images_per_s")),
    )


_COSTS = (
    Metric("GFLOPs/image", _shown("gflops"), _plain("gflops")),
    Metric("FLOPs by", lambda row: row["flops_source"]),
    Metric("peak MB", _shown("peak_mem_mb"), _plain("peak_mem_mb"), same_batch=True),
    Metric("GFLOP/s", _shown("achieved_gflops_per_s"), _plain("achieved_gflops_per_s")),
    Metric("of matmul", lambda row: f"{row['matmul_fraction']:.0%}"),
)
LAYER_METRICS = (
    *_timings("fwd", "fwd+bwd"),
    Metric("params", lambda row: f"{row['params']:,}", _plain("params")),
    *_COSTS,
)
MODEL_METRICS = (
    Metric("backbone", lambda row: row["backbone"]),
    Metric("SwinT slots", lambda row: str(row["swint_slots"])),
    *_timings("infer", "train"),
    Metric("params (M)", _shown("params", 1e6)),
    *_COSTS,
)


def _ok(row: dict | None) -> bool:
    return row is not None and row["status"] == "ok"


def _column(tries: Sequence[dict], metrics: Sequence[Metric]) -> list[str]:
    """Cells of one measurement: its last try's values, then the batch and every status."""
    last = tries[-1]
    cells = [metric.cell(last) if _ok(last) else "-" for metric in metrics]
    return [*cells, str(last["batch_size"]), ", ".join(row["status"] for row in tries)]


def _ratio(metric: Metric, a: dict | None, b: dict | None) -> str:
    if metric.number is None or not (_ok(a) and _ok(b)):
        return ""
    if metric.same_batch and a["batch_size"] != b["batch_size"]:  # type: ignore[index]
        return "-"
    denominator = metric.number(b)  # type: ignore[arg-type]
    return f"{metric.number(a) / denominator:.2f}x" if denominator else "-"  # type: ignore[arg-type]


def _group(rows: Sequence[dict], key: Callable[[dict], object]) -> dict[object, list[dict]]:
    groups: dict[object, list[dict]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups


def layer_tables(rows: Sequence[dict]) -> list[Table]:
    """One :func:`layer_table` per SwinT setting measured (precision, recompute), each
    against the same Conv2D rows."""
    convs = [row for row in rows if row["name"] != "SwinT"]
    swints = _group([row for row in rows if row["name"] == "SwinT"], variant_label)
    return [layer_table([*found, *convs]) for found in swints.values()] or [layer_table(convs)]


def layer_table(rows: Sequence[dict]) -> Table:
    """SwinT, Conv2D and SwinT / Conv2D columns for stride 1, then for stride 2."""
    first = rows[0]
    variant = next((variant_label(row) for row in rows if row["name"] == "SwinT"), "")
    title = (
        f"SwinT{' ' + variant if variant else ''} vs Conv2D(3x3): {first['in_channels']}->"
        f"{first['out_channels']} channels at {first['resolution']}x{first['resolution']}"
    )
    swint_ok = next((row for row in rows if row["name"] == "SwinT" and _ok(row)), None)
    if swint_ok is not None:
        title += f", SwinT heads {swint_ok['heads']} window {swint_ok['window_size']}"
    table = Table(title=title, caption=LAYER_NOTE)
    table.add_column("", no_wrap=True)
    groups = _group(rows, lambda row: (row["name"], bool(row["downsample"])))
    columns: list[list[str]] = []
    for downsample in (False, True):
        swint, conv = groups.get(("SwinT", downsample)), groups.get(("Conv2D", downsample))
        stride = "stride 2" if downsample else "stride 1"
        for name, tries in (("SwinT", swint), ("Conv2D", conv)):
            if tries:
                table.add_column(f"{name}\n{stride}", justify="right", overflow="fold")
                columns.append(_column(tries, LAYER_METRICS))
        if swint and conv:
            table.add_column(f"SwinT/\nConv2D\n{stride}", justify="right")
            ratios = [_ratio(m, swint[-1], conv[-1]) for m in LAYER_METRICS]
            columns.append([*ratios, "", ""])
    labels = [metric.label for metric in LAYER_METRICS] + ["batch", "status"]
    for index, label in enumerate(labels):
        table.add_row(label, *(column[index] for column in columns))
    return table


BREAKDOWNS = {
    "calls_table": "compiled calls per training step",
    "profile_table": "Paddle's operators",
}


def breakdowns(rows: Sequence[dict]) -> str:
    """The ``--calls`` and ``--profile`` tables of every measurement, each under a heading
    naming the measurement (``SwinT stride 2 bf16: compiled calls per training step``);
    empty when none was asked for."""
    sections = []
    for row in rows:
        what = row["name"] + (" stride 2" if row.get("downsample") else "")
        what += f" {label}" if (label := variant_label(row)) else ""
        for key, title in BREAKDOWNS.items():
            if row.get(key):
                sections.append(f"== {what}, batch {row['batch_size']}: {title} ==\n{row[key]}")
    return "\n\n".join(sections)


def write_breakdowns(folder: Path, text: str) -> Path:
    """``text`` of :func:`breakdowns` as ``folder/breakdown.txt``; WriteError when it
    cannot be written."""
    path = folder / "breakdown.txt"
    write_atomic(path, text + "\n")
    return path


def model_table(rows: Sequence[dict]) -> Table:
    """One column per model: inference and training step, size and cost."""
    table = Table(title="Models", caption=MODEL_NOTE)
    table.add_column("", no_wrap=True)
    groups = _group(rows, lambda row: " ".join(filter(None, (row["name"], variant_label(row)))))
    columns = [_column(tries, MODEL_METRICS) for tries in groups.values()]
    for name in groups:
        table.add_column(str(name), justify="right", overflow="fold")
    labels = [metric.label for metric in MODEL_METRICS] + ["batch", "status"]
    for index, label in enumerate(labels):
        table.add_row(label, *(column[index] for column in columns))
    return table
