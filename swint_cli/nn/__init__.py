"""The layer library: SwinT and its parts.

Imports Paddle and NumPy, and of the rest of ``swint_cli`` only :mod:`swint_cli.layer_config`
(SwinT's settings), :mod:`swint_cli.runtime` (the CPU thread count the compiled kernels use)
and :mod:`swint_cli.switches` (the fast paths' off switches).
"""

from .drop_path import DropPath
from .flops import swint_flops
from .hybrid import HybridSwinT
from .layer_scale import LayerScale
from .patch_expanding import PatchExpanding
from .patch_merging import PatchMerging
from .swin_block import SwinBlock
from .swint import SwinT
from .window_attention import WindowAttention

__all__ = [
    "DropPath",
    "HybridSwinT",
    "LayerScale",
    "PatchExpanding",
    "PatchMerging",
    "SwinBlock",
    "SwinT",
    "WindowAttention",
    "swint_flops",
]
