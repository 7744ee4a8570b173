"""User-facing failures: one line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

EXIT_USAGE = 2

stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions whose message is meant for the user (bad recipe, data, model, run dir)."""
    from ..data import DataError
    from ..models import ModelError
    from ..recipe import RecipeError
    from ..train.run_dir import RunError

    return (RecipeError, DataError, ModelError, RunError)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn user-facing exceptions into ``error: <message>`` and exit code 2."""
    try:
        yield
    except user_error_types() as exc:
        stderr.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
