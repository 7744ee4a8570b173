"""Where the ``swint`` commands write: results on stdout, notes and errors on stderr."""

from __future__ import annotations

from rich.console import Console

console = Console()
stderr = Console(stderr=True, highlight=False, soft_wrap=True)
