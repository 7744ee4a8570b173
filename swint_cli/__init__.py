"""swint: SwinT, a Swin Transformer layer shaped like ``paddle.nn.Conv2D``, and its CLI.

``from swint_cli import SwinT`` imports Paddle; importing ``swint_cli`` alone does not, so the
``swint`` command can set CPU environment variables before Paddle loads.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["SwinT", "SwinTConfig", "__version__", "build_model", "swap", "tune_cpu"]

from .layer_config import SwinTConfig
from .runtime import tune_cpu


def __getattr__(name: str) -> Any:
    if name == "SwinT":
        from .nn import SwinT

        return SwinT
    if name in ("swap", "build_model"):
        from .models import api

        return getattr(api, name)
    raise AttributeError(f"module 'swint_cli' has no attribute {name!r}")
