"""Shared test setup: the tests folder on sys.path (for swin_reference), seeded RNGs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

sys.path.insert(0, str(Path(__file__).parent))

if os.environ.get("SWINT_TEST_TUNE_CPU") == "1":
    # CI runs the layer tests once more with the process-wide CPU settings of `swint`.
    from swint_cli import tune_cpu

    tune_cpu()


@pytest.fixture(autouse=True)
def _seed() -> None:
    paddle.seed(0)
    np.random.seed(0)


def skip_unless_kernels_built() -> None:
    """Skip a test of the compiled CPU kernels where they cannot be built; CI, which has a C
    compiler, sets SWINT_REQUIRE_KERNELS=1 to turn that skip into a failure."""
    from swint_cli.nn import kernels

    state = kernels.status()
    if not state["built"]:
        reason = f"compiled kernels unavailable: {state['origin']}"
        if os.environ.get("SWINT_REQUIRE_KERNELS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
