"""The ``swint`` command line: a thin layer over the package's functions."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="SwinT: Swin Transformer layers shaped like Conv2D, and experiments with them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()

_state: dict[str, int] = {}


@app.callback()
def main(
    threads: int | None = typer.Option(
        None, "--threads", min=1, help="CPU threads for Paddle (default: all cores)."
    ),
) -> None:
    """Use all CPU cores (or --threads) before any command runs."""
    from .runtime import set_cpu_threads

    _state["threads"] = set_cpu_threads(threads)


@app.command("env")
def env_command() -> None:
    """Show the Paddle build, device, CPU threads and MKL setting in use."""
    from .environment import describe

    table = Table(show_header=False)
    for key, value in describe(_state["threads"]).items():
        table.add_row(key, str(value))
    console.print(table)
