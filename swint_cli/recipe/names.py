"""The names a recipe may use, without the code that builds them: backbones with their
tasks, heads and precisions (SwinT's own settings, residual norm placements among them, are
``layer_config.SwinTConfig``).

Reading a recipe (``swint compare``, ``swint sweep``) must not load Paddle, so these lists
live here, not beside the Paddle code. The backbone list is the one list: the models'
registry gives each of these names its factory. The layer library's own tuples (``HEADS``,
``PRECISIONS`` in ``nn/``) are checked against these by the tests.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Literal

Task = Literal["classification", "segmentation", "detection"]

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


# a network of the user's own: ``path/to/file.py:factory`` or ``package.module:factory``
FACTORY = re.compile(r"(?P<source>[^:]+\.py|[A-Za-z_][\w.]*):(?P<name>[A-Za-z_]\w*)")
ENTRY_POINTS = "swint.backbones"  # packages register backbone names here (timm's register_model)


def is_factory(backbone: str) -> bool:
    """True for ``path/to/file.py:factory`` and ``package.module:factory``."""
    return FACTORY.fullmatch(backbone) is not None


def is_own_network(backbone: str) -> bool:
    """True for a network of the user's own: a factory, or a name a package registers."""
    return is_factory(backbone) or backbone in registered_backbones()


@cache
def registered_backbones() -> dict[str, str]:
    """Backbone names installed packages register in the ``swint.backbones`` entry-point
    group, each with its ``module:factory``."""
    return {point.name: point.value for point in entry_points(group=ENTRY_POINTS)}


def resolve_factory(backbone: str, folder: Path) -> str:
    """``backbone`` with a relative ``file.py`` factory made absolute from ``folder`` (the
    recipe's); any other backbone as it is."""
    match = FACTORY.fullmatch(backbone)
    if match is None or not match["source"].endswith(".py") or Path(match["source"]).is_absolute():
        return backbone
    return f"{(folder / match['source']).resolve()}:{match['name']}"


def backbone_names(task: str | None = None) -> tuple[str, ...]:
    """The backbones' names (of those serving ``task``, when given), in registry order."""
    return tuple(name for name, serves in BACKBONE_TASKS.items() if task is None or serves == task)
