"""Shared fixtures: deterministic seeds and helpers to copy SwinT weights into NumPy dicts."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _seed() -> None:
    paddle.seed(0)
    np.random.seed(0)
