"""Entry point of the ``swint`` console script and of ``python -m swint_cli``."""

from __future__ import annotations

import sys

from .runtime import prepare_environment


def main() -> None:
    """Prepare the CPU environment (and Paddle's logging: ``swint --verbose`` keeps it)
    before Paddle loads, then run the Typer app."""
    prepare_environment(verbose="--verbose" in sys.argv[1:])
    from .cli import app

    app()


if __name__ == "__main__":
    main()
