"""Models: backbones and heads by name, Conv2D -> SwinT surgery, slot listing, FLOPs.

Builds on :mod:`swint_cli.nn` (which never imports from here) and the recipe schema.
"""

from .backbones import BACKBONES, build_backbone, load_weights
from .errors import ModelError
from .slots_table import slots_table
from .small_cnn import SmallCNN
from .surgery import (
    ConvSlot,
    SurgeryReport,
    build_model,
    find_conv_slots,
    match_rules,
    model_flops,
    replace_slots,
)

__all__ = [
    "BACKBONES",
    "ConvSlot",
    "ModelError",
    "SmallCNN",
    "SurgeryReport",
    "build_backbone",
    "build_model",
    "find_conv_slots",
    "load_weights",
    "match_rules",
    "model_flops",
    "replace_slots",
    "slots_table",
]
