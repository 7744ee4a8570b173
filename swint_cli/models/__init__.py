"""Models: backbones and heads by name, Conv2D -> SwinT surgery, slot listing, FLOPs.

Builds on :mod:`swint_cli.nn` (which never imports from here). The recipe schema reads the
backbone registry (:mod:`.registry`) from here; this package names the schema's types only
for annotations, so importing either package first works.
"""

from .backbones import build_backbone
from .errors import ModelError
from .registry import BACKBONES, Backbone
from .slots_table import slots_table
from .small_cnn import SmallCNN
from .surgery import (
    ConvSlot,
    SurgeryReport,
    apply_model_section,
    build_model,
    find_conv_slots,
    match_rules,
    model_flops,
    replace_slots,
)
from .weights import WeightsReport, load_weights

__all__ = [
    "BACKBONES",
    "Backbone",
    "ConvSlot",
    "ModelError",
    "SmallCNN",
    "SurgeryReport",
    "WeightsReport",
    "apply_model_section",
    "build_backbone",
    "build_model",
    "find_conv_slots",
    "load_weights",
    "match_rules",
    "model_flops",
    "replace_slots",
    "slots_table",
]
