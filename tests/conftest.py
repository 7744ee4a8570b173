"""Shared test setup: the tests folder on sys.path (for swin_reference), seeded RNGs, and one
CPU setting for every test, whatever ran before it.

Paddle's results depend on its CPU thread count (reductions split differently), and every
``swint`` command run in a test (``CliRunner``) applies ``tune_cpu``, which changes the count
for the rest of the process. So the tests run under ``tune_cpu``'s settings from the start,
with the thread count put back after each test: a test that calls ``train()`` directly and
one that runs ``swint train`` compute under the same settings, in any order, alone or in the
suite. ``SWINT_TEST_THREADS=1`` runs them at Paddle's own default instead (one thread, as a
library user who never calls ``tune_cpu`` gets); CI runs the layer tests that way too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import paddle
import pytest

from swint_cli.runtime import available_cores, set_cpu_threads, tune_cpu

sys.path.insert(0, str(Path(__file__).parent))

TEST_THREADS = int(os.environ.get("SWINT_TEST_THREADS") or available_cores())
tune_cpu(TEST_THREADS)


@pytest.fixture(autouse=True)
def _cpu_threads() -> Iterator[None]:
    """Every test starts and leaves the process at ``TEST_THREADS``, so a module-scoped
    fixture built between two tests sees that count too."""
    set_cpu_threads(TEST_THREADS)
    yield
    set_cpu_threads(TEST_THREADS)


@pytest.fixture(autouse=True)
def _seed() -> None:
    paddle.seed(0)
    np.random.seed(0)


def require_or_skip(switch: str, reason: str) -> None:
    """Skip a test whose prerequisite is missing on this machine, or fail it where the
    environment variable ``switch`` is 1: CI sets the switches for what its machine has, so
    a test it must run cannot quietly skip."""
    if os.environ.get(switch) == "1":
        pytest.fail(f"{reason} ({switch}=1)")
    pytest.skip(reason)


def paddle2onnx_problem() -> str | None:
    """Why ``--format onnx`` cannot work here, or None."""
    try:
        import paddle2onnx  # noqa: F401
    except Exception as exc:  # missing, or refusing this Paddle version
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"paddle2onnx not importable: {first_line}"
    return None


@pytest.fixture
def cifar_mini() -> Path:
    """The project's mini CIFAR-10 archive in ``../shared/data``; tests that take it skip
    where it is absent, and fail instead under ``SWINT_REQUIRE_CIFAR=1`` (CI)."""
    from tiny_runs import CIFAR_MINI

    if not CIFAR_MINI.is_file():
        require_or_skip("SWINT_REQUIRE_CIFAR", f"{CIFAR_MINI} not present (shared test data)")
    return CIFAR_MINI


def skip_unless_kernels_built() -> None:
    """Skip a test of the compiled CPU kernels where they cannot be built; CI, which has a C
    compiler, sets SWINT_REQUIRE_KERNELS=1 to turn that skip into a failure."""
    from swint_cli.nn.kernels import backend

    reason = backend.unavailable("kernels")
    if reason is not None:
        require_or_skip("SWINT_REQUIRE_KERNELS", reason)


@pytest.fixture
def probed_afresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """``monkeypatch``, with the fast paths probed again on first use within the test (which
    patches what the probes see) and again after its patches are undone."""
    from swint_cli.nn.kernels import backend

    backend.probe_again()
    yield monkeypatch
    monkeypatch.undo()
    backend.probe_again()
