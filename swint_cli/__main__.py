"""Entry point of the ``swint`` console script and of ``python -m swint_cli``."""

from __future__ import annotations

from .runtime import prepare_environment


def main() -> None:
    """Prepare the CPU environment before Paddle loads, then run the Typer app."""
    prepare_environment()
    from .cli import app

    app()


if __name__ == "__main__":
    main()
