"""What the ``swint`` callback applied before the command that follows it runs.

The callback records the CPU settings ``tune_cpu`` returned (threads, MKL, malloc); the
commands read them back for ``swint env``, a run's env.json and the bench's workers.
"""

from __future__ import annotations

from collections.abc import Mapping

_runtime: dict[str, object] = {}


def record_runtime(settings: Mapping[str, object]) -> None:
    """Keep ``settings``, what the callback's ``tune_cpu`` applied, for the command."""
    _runtime.clear()
    _runtime.update(settings)


def runtime_settings() -> dict[str, object]:
    """A copy of what the callback's ``tune_cpu`` applied (empty before it ran)."""
    return dict(_runtime)
