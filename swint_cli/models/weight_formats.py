"""State dicts in other frameworks' names and layouts, converted to Paddle's.

- ``torchvision``: ``torch.nn`` names. BatchNorm's ``running_mean`` and ``running_var`` are
  Paddle's ``_mean`` and ``_variance``; ``num_batches_tracked`` has no counterpart and is
  dropped; a Linear weight is ``[out, in]`` in torch and ``[in, out]`` in Paddle (every 2-D
  ``weight``: convolutions are 4-D, norms 1-D). torchvision's ResNets then load into
  ``paddle.vision``'s, whose module names are the same.
- ``swin_official``: microsoft/Swin-Transformer's classifier, into swint's ``swin_*``
  (:mod:`.swin_transformer`), whose layers pair its blocks: stage ``i``'s block ``j`` is
  ``layers.<k>.blocks.<j % 2>`` with ``k`` the stage's first pair plus ``j // 2``, and its
  ``downsample`` (PatchMerging) is the ``merge`` of the stage's last pair; ``head`` is
  ``fc``. Linear weights are transposed as above; the buffers the model computes
  (``relative_position_index``, ``attn_mask``) are dropped, not loaded.
- ``paddle``: as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

# suffixes only torch.nn's BatchNorm writes
TORCH_BATCH_NORM = {".running_mean": "._mean", ".running_var": "._variance"}
TORCH_ONLY = ".num_batches_tracked"
# the official Swin's names: stage blocks, PatchMerging, and the buffers it computes
SWIN_BLOCK = re.compile(r"layers\.(\d+)\.blocks\.(\d+)\.(.+)")
SWIN_MERGE = re.compile(r"layers\.(\d+)\.downsample\.(.+)")
SWIN_BUFFERS = ("relative_position_index", "attn_mask")


class WeightFormatError(ValueError):
    """A state dict that its format's conversion cannot map; the reason, in words."""


def detect_format(arrays: Mapping[str, np.ndarray]) -> str:
    """``swin_official`` when the names are the official Swin's (a ``downsample`` stage, its
    buffers, or ``head`` beside ``patch_embed``); ``torchvision`` when they are ``torch.nn``'s
    (BatchNorm statistics); else ``paddle``."""
    if any(SWIN_MERGE.fullmatch(key) or key.endswith(SWIN_BUFFERS) for key in arrays) or (
        "head.weight" in arrays and "patch_embed.proj.weight" in arrays
    ):
        return "swin_official"
    torch_names = (*TORCH_BATCH_NORM, TORCH_ONLY)
    return "torchvision" if any(key.endswith(torch_names) for key in arrays) else "paddle"


def _pairs_before(arrays: Mapping[str, np.ndarray]) -> list[int]:
    """For each official stage, how many of swint's block pairs come before it."""
    depths: dict[int, int] = {}
    for key in arrays:
        if match := SWIN_BLOCK.fullmatch(key):
            stage, block = int(match[1]), int(match[2])
            depths[stage] = max(depths.get(stage, 0), block + 1)
    starts, pairs = [], 0
    for stage in range(len(depths)):
        if depths.get(stage, 0) % 2:
            raise WeightFormatError(
                f"official Swin stage {stage} has {depths.get(stage, 0)} blocks; swint's "
                "Swin pairs blocks (W-MSA + SW-MSA) and needs an even number"
            )
        starts.append(pairs)
        pairs += depths[stage] // 2
    return [*starts, pairs]


def _linear(key: str, value: np.ndarray) -> np.ndarray:
    if key.endswith(".weight") and value.ndim == 2:
        return np.ascontiguousarray(value.T)  # Linear: [out, in] -> [in, out]
    return value


def from_swin_official(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The official Swin classifier's state dict in swint's ``swin_*`` names and layouts
    (the module docstring). WeightFormatError for a stage of odd depth."""
    starts = _pairs_before(arrays)
    converted = {}
    for key, value in arrays.items():
        if key.endswith(SWIN_BUFFERS):
            continue
        if match := SWIN_BLOCK.fullmatch(key):
            stage, block, rest = int(match[1]), int(match[2]), match[3]
            key = f"layers.{starts[stage] + block // 2}.blocks.{block % 2}.{rest}"
        elif match := SWIN_MERGE.fullmatch(key):
            stage, rest = int(match[1]), match[2]
            key = f"layers.{starts[stage + 1] - 1}.merge.{rest}"
        elif key.startswith("head."):
            key = "fc." + key[len("head.") :]
        converted[key] = _linear(key, value)
    return converted


def from_torchvision(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``arrays`` in ``torch.nn``'s names and layouts, in Paddle's (the module docstring)."""
    converted = {}
    for key, value in arrays.items():
        if key.endswith(TORCH_ONLY):
            continue
        for torch_suffix, paddle_suffix in TORCH_BATCH_NORM.items():
            if key.endswith(torch_suffix):
                key = key[: -len(torch_suffix)] + paddle_suffix
        converted[key] = _linear(key, value)
    return converted


def convert(arrays: Mapping[str, np.ndarray], weights_format: str) -> dict[str, np.ndarray]:
    """``arrays`` from ``weights_format`` (``paddle``, ``torchvision`` or ``swin_official``:
    the recipe's ``WEIGHT_FORMATS``) in Paddle's names and layouts."""
    if weights_format == "torchvision":
        return from_torchvision(arrays)
    if weights_format == "swin_official":
        return from_swin_official(arrays)
    return dict(arrays)
