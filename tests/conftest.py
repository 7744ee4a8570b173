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
