"""``swint bench``: SwinT against Conv2D, and whole models, each timed in its own process."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .console import console, stderr
from .errors import user_errors
from .session_state import runtime_settings


def _announced(spec: dict) -> dict:
    """Run one measurement's worker, saying on stderr what it measures."""
    from ..bench.runner import run_worker

    what = spec["name"] + (" stride 2" if spec.get("downsample") else "")
    stderr.print(f"measuring {what} at batch {spec['batch_size']} ...", highlight=False)
    return run_worker(spec)


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
    precision: Annotated[
        str,
        typer.Option(
            help="CPU matrix products: fp32, bf16, or fp32,bf16 to measure each SwinT and "
            "model in both."
        ),
    ] = "fp32",
    recompute: Annotated[
        bool,
        typer.Option(
            "--recompute",
            help="Also measure each SwinT, and each model with SwinTs, recomputing activations.",
        ),
    ] = False,
    update_in_backward: Annotated[
        bool,
        typer.Option(
            "--update-in-backward",
            help="Also measure each model with the optimizer's update inside backward "
            "(training.optimizer.in_backward).",
        ),
    ] = False,
    calls: Annotated[
        bool,
        typer.Option(
            "--calls",
            help="Also time each call into the compiled kernels and oneDNN (GEMMs by shape) "
            "in a training step of each measurement.",
        ),
    ] = False,
    profile: Annotated[
        int,
        typer.Option(
            min=0,
            help="Also write Paddle's operator table of this many training steps of each "
            "measurement (0: none).",
        ),
    ] = 0,
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
    env.json, and with --calls or --profile breakdown.txt. CPU threads: swint --threads N bench.
    """
    from ..bench.plan import parse_channels, parse_precisions
    from ..bench.report import breakdowns, layer_tables, model_table, write_breakdowns
    from ..bench.runner import measure_all
    from ..bench.setup import set_up_bench, write_environment
    from ..runs import create_report_dir

    if device not in ("auto", "cpu", "gpu"):
        raise typer.BadParameter("expected auto, cpu or gpu", param_hint="--device")
    try:
        c_in, c_out = parse_channels(channels)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--channels") from None
    try:
        precisions = parse_precisions(precision)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--precision") from None
    if heads is not None and c_in % heads:
        raise typer.BadParameter(
            f"{heads} heads do not divide {c_in} channels", param_hint="--heads"
        )
    with user_errors():
        setup = set_up_bench(
            resolution=resolution,
            batch_size=batch_size,
            channels=(c_in, c_out),
            heads=heads,
            window_size=window_size,
            device=device,
            amp=amp,
            precisions=precisions,
            recompute=recompute,
            in_backward=update_in_backward,
            calls=calls,
            profile=profile,
            repeat=repeat,
            warmup=warmup,
            models=[name.strip() for name in (models or "").split(",") if name.strip()],
            runtime=runtime_settings(),
        )
        folder = create_report_dir(out, "bench")
    environment = write_environment(folder, setup)
    options = setup.options
    console.print(
        f"{options.device} ({environment['device_name']}), {options.threads} CPU threads, paddle "
        f"{environment['paddle']}: batch {options.batch_size} at {resolution}x{resolution}, "
        f"median of {repeat} after {warmup} warm-up",
        highlight=False,
    )
    for note in setup.notes:
        console.print(f"note: {note}", highlight=False)
    if not setup.models:
        console.print("note: layers only; add --models resnet50,swinresnet to time models")
    table = folder / "bench.csv"
    try:
        rows = measure_all(setup.specs(), table, _announced)
    except KeyboardInterrupt:
        stderr.print(f"interrupted; the measurements so far are in {table}")
        raise typer.Exit(130) from None
    for table_of_layers in layer_tables([row for row in rows if row["level"] == "layer"]):
        console.print(table_of_layers)
    if setup.models:
        console.print(model_table([row for row in rows if row["level"] == "model"]))
    written = f"{table} and env.json"
    breakdown = breakdowns(rows)
    if breakdown:
        typer.echo(breakdown)
        with user_errors():
            write_breakdowns(folder, breakdown)
        written = f"{table}, env.json and breakdown.txt"
    failed = [row for row in rows if row["status"] == "failed"]
    for row in failed:
        stderr.print(f"error: {row['name']}: {row.get('error')}", markup=False)
    typer.echo(f"wrote {written}")
    raise typer.Exit(1 if failed else 0)
