"""``swint bench``: SwinT against Conv2D, and whole models, each timed in its own process."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .errors import stderr, user_errors

if TYPE_CHECKING:
    from ..bench.plan import BenchOptions


def _model_name(entry: str) -> str:
    return Path(entry).stem if entry.endswith((".yaml", ".yml")) else entry


def _announced(spec: dict) -> dict:
    """Run one measurement's worker, saying on stderr what it measures."""
    from ..bench.runner import run_worker

    what = spec["name"] + (" stride 2" if spec.get("downsample") else "")
    stderr.print(f"measuring {what} at batch {spec['batch_size']} ...", highlight=False)
    return run_worker(spec)


def _environment(options: BenchOptions, models: list[tuple[str, Path]]) -> dict[str, object]:
    """env.json: Paddle and machine, the CPU settings the workers inherit, the options."""
    from ..environment import describe_session
    from . import runtime_settings

    return {
        **describe_session(options.device, runtime_settings()),
        "options": asdict(options),
        "models": {name: str(path) for name, path in models},
    }


def _measure(specs: list[dict], table: Path) -> list[dict]:
    """Measure every spec (retrying out-of-memory at half the batch), rewriting ``table``
    after each; on Ctrl-C keep what was measured and exit 130."""
    from ..bench.runner import measure_with_retry, write_csv

    rows: list[dict] = []
    try:
        for spec in specs:
            rows += measure_with_retry(spec, _announced)
            write_csv(table, rows)
    except KeyboardInterrupt:
        stderr.print(f"interrupted; the measurements so far are in {table}")
        raise typer.Exit(130) from None
    return rows


def bench_command(
    resolution: Annotated[int, typer.Option(min=1, help="Input height and width.")] = 224,
    batch_size: Annotated[
        int | None,
        typer.Option(
            min=1, help="Batch size (default: 8 on GPU; on CPU 8 up to 56x56, 1 at 224x224)."
        ),
    ] = None,
    channels: Annotated[str, typer.Option(help="Layer channels IN:OUT.")] = "96:96",
    heads: Annotated[
        int | None, typer.Option(min=1, help="SwinT heads (default: width 32, 3 for 96).")
    ] = None,
    window_size: Annotated[int, typer.Option(min=1, help="SwinT window side.")] = 7,
    device: Annotated[str, typer.Option(help="auto, cpu or gpu.")] = "auto",
    amp: Annotated[bool, typer.Option("--amp", help="Mixed precision (GPU only).")] = False,
    repeat: Annotated[int, typer.Option(min=1, help="Timed runs per measurement.")] = 10,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed runs before them.")] = 2,
    models: Annotated[
        str | None,
        typer.Option(
            help="Also time these models: comma-separated names of recipes/ "
            "(resnet50, swinresnet) or recipe files; built at --resolution."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Report directory (default: runs/bench-<timestamp>/).")
    ] = None,
) -> None:
    """Time SwinT against Conv2D(3x3), and optionally whole models, in fresh processes.

    Layers: same channels, with and without downsampling (stride 2). Writes bench.csv and
    env.json. CPU threads: swint --threads N bench.
    """
    from ..bench.plan import (
        GPU_BATCH,
        BenchOptions,
        default_batch,
        layer_specs,
        model_specs,
        parse_channels,
        resolve_model,
    )
    from ..bench.report import layer_table, model_table
    from ..environment import resolve_device
    from ..runs import create_report_dir
    from . import console, runtime_settings

    if device not in ("auto", "cpu", "gpu"):
        raise typer.BadParameter("expected auto, cpu or gpu", param_hint="--device")
    try:
        c_in, c_out = parse_channels(channels)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--channels") from None
    if heads is not None and c_in % heads:
        raise typer.BadParameter(
            f"{heads} heads do not divide {c_in} channels", param_hint="--heads"
        )
    notes = []
    with user_errors():
        resolved = resolve_device(device)
        names = [name.strip() for name in (models or "").split(",") if name.strip()]
        chosen = [(_model_name(name), resolve_model(name, resolution)) for name in names]
        if batch_size is None:
            batch_size = default_batch(resolved, resolution)
            if resolved == "cpu" and batch_size < GPU_BATCH:
                notes.append(f"batch {batch_size} chosen for CPU at {resolution}; use --batch-size")
        if amp and resolved == "cpu":
            notes.append("--amp is ignored on CPU")
        runtime = runtime_settings()
        options = BenchOptions(
            resolution,
            batch_size,
            c_in,
            c_out,
            heads,
            window_size,
            resolved,
            amp and resolved == "gpu",
            repeat,
            warmup,
            threads=runtime.get("threads"),  # type: ignore[arg-type]
            malloc=bool(runtime.get("malloc_tuned", True)),
        )
        folder = create_report_dir(out, "bench")
    environment = _environment(options, chosen)
    (folder / "env.json").write_text(json.dumps(environment, indent=2) + "\n", encoding="utf-8")
    console.print(
        f"{resolved} ({environment['device_name']}), {options.threads} CPU threads, paddle "
        f"{environment['paddle']}: batch {batch_size} at {resolution}x{resolution}, median "
        f"of {repeat} after {warmup} warm-up",
        highlight=False,
    )
    for note in notes:
        console.print(f"note: {note}", highlight=False)
    if not chosen:
        console.print("note: layers only; add --models resnet50,swinresnet to time models")
    rows = _measure(layer_specs(options) + model_specs(options, chosen), folder / "bench.csv")
    console.print(layer_table([row for row in rows if row["level"] == "layer"]))
    if chosen:
        console.print(model_table([row for row in rows if row["level"] == "model"]))
    failed = [row for row in rows if row["status"] == "failed"]
    for row in failed:
        stderr.print(f"error: {row['name']}: {row.get('error')}", markup=False)
    typer.echo(f"wrote {folder / 'bench.csv'} and env.json")
    raise typer.Exit(1 if failed else 0)
