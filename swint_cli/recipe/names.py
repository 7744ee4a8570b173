"""The names a recipe may use, without the code that builds them: backbones with their
tasks, heads and precisions (SwinT's own settings, residual norm placements among them, are
``layer_config.SwinTConfig``).

Reading a recipe (``swint compare``, ``swint sweep``) must not load Paddle, so these lists
live here, not beside the Paddle code. The backbone list is the one list: the models'
registry gives each of these names its factory. The layer library's own tuples (``HEADS``,
``PRECISIONS`` in ``nn/``) are checked against these by the tests.
"""

from __future__ import annotations

from typing import Literal

Task = Literal["classification", "segmentation"]

BACKBONE_TASKS: dict[str, Task] = {
    "resnet18": "classification",
    "resnet34": "classification",
    "resnet50": "classification",
    "resnet101": "classification",
    "small_cnn": "classification",
    "swin_t": "classification",
    "swin_s": "classification",
    "swin_b": "classification",
    "unet": "segmentation",
}
HEADS = ("linear", "article")  # nn/heads.py
PRECISIONS = ("fp32", "bf16")  # nn/precision.py
WEIGHT_FORMATS = ("paddle", "torchvision", "swin_official")  # models/weight_formats.py


def backbone_names(task: str | None = None) -> tuple[str, ...]:
    """The backbones' names (of those serving ``task``, when given), in registry order."""
    return tuple(name for name, serves in BACKBONE_TASKS.items() if task is None or serves == task)
