"""User-facing failures: one line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from .console import stderr

EXIT_USAGE = 2


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn :class:`~swint_cli.errors.UserError` (bad recipe, data, model, run directory,
    file) into ``error: <message>`` on stderr and exit code 2."""
    from ..errors import UserError

    try:
        yield
    except UserError as exc:
        stderr.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
