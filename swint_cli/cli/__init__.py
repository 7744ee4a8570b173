"""The ``swint`` command line: a thin layer over the package's functions."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from .bench import bench_command
from .compare import compare_command
from .console import console
from .export import export_command, predict_command
from .session_state import record_runtime, runtime_settings
from .slots import slots_command
from .sweep import sweep_command
from .train import train_command

app = typer.Typer(
    help="SwinT: Swin Transformer layers shaped like Conv2D, and experiments with them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# Commands that run no Paddle code in this process: they leave Paddle unloaded (fast).
WITHOUT_PADDLE = ("compare", "sweep")


@app.callback()
def main(
    ctx: typer.Context,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads for Paddle (default: all cores).")
    ] = None,
    no_tune: Annotated[
        bool,
        typer.Option(
            "--no-tune", help="Leave glibc malloc alone (it is tuned to keep freed memory)."
        ),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", help="Show Paddle's own log lines (hidden by default)."),
    ] = False,
) -> None:
    """Apply the CPU settings (threads, MKL path, allocator) before any command runs; Paddle's
    thread count only for a command that runs Paddle here (not for --help). ``--verbose`` is
    read before Paddle loads, by ``swint_cli.__main__``."""
    from ..runtime import tune_cpu

    paddle = ctx.invoked_subcommand not in WITHOUT_PADDLE and "--help" not in sys.argv[1:]
    record_runtime(tune_cpu(threads, malloc=not no_tune, paddle=paddle))


@app.command("env")
def env_command() -> None:
    """Show the Paddle build, device, CPU threads, MKL setting, compiled CPU kernels and the
    value of every switch (environment variable) swint reads."""
    from ..environment import describe
    from ..switches import switch_values

    table = Table(show_header=False)
    for key, value in {**describe(), **runtime_settings(), **switch_values()}.items():
        table.add_row(key, str(value))
    console.print(table)


app.command("train")(train_command)
app.command("slots")(slots_command)
app.command("sweep")(sweep_command)
app.command("compare")(compare_command)
app.command("bench")(bench_command)
app.command("export")(export_command)
app.command("predict")(predict_command)
