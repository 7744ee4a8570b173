"""Checks and inputs several test files share."""

from __future__ import annotations

import numpy as np


def one_error_line(output: str, *needles: str, alone: bool = True) -> str:
    """The one ``error: ...`` line of a command's output, holding every needle; no
    traceback. ``alone``: nothing else was printed either."""
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and (len(lines) == 1 or not alone), output
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def randn(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Standard normal float32 values of ``shape`` from ``rng``."""
    return rng.standard_normal(shape).astype("float32")


def bench_spec(level: str, name: str, **fields: object) -> dict[str, object]:
    """A ``swint bench`` worker's measurement spec: one CPU thread, fp32, no AMP, the
    allocator tuned, as the bench tests measure; ``fields`` add to or replace these."""
    return {
        "level": level,
        "name": name,
        "device": "cpu",
        "amp": False,
        "threads": 1,
        "malloc": True,
        **fields,
    }
