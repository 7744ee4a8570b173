"""State dicts in other frameworks' names and layouts, converted to Paddle's.

- ``torchvision``: ``torch.nn`` names. BatchNorm's ``running_mean`` and ``running_var`` are
  Paddle's ``_mean`` and ``_variance``; ``num_batches_tracked`` has no counterpart and is
  dropped; a Linear weight is ``[out, in]`` in torch and ``[in, out]`` in Paddle (every 2-D
  ``weight``: convolutions are 4-D, norms 1-D). torchvision's ResNets then load into
  ``paddle.vision``'s, whose module names are the same.
- ``paddle``: as it is.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

# suffixes only torch.nn's BatchNorm writes
TORCH_BATCH_NORM = {".running_mean": "._mean", ".running_var": "._variance"}
TORCH_ONLY = ".num_batches_tracked"


def detect_format(arrays: Mapping[str, np.ndarray]) -> str:
    """``torchvision`` when the names are ``torch.nn``'s (BatchNorm statistics), else
    ``paddle``."""
    torch_names = (*TORCH_BATCH_NORM, TORCH_ONLY)
    return "torchvision" if any(key.endswith(torch_names) for key in arrays) else "paddle"


def from_torchvision(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``arrays`` in ``torch.nn``'s names and layouts, in Paddle's (the module docstring)."""
    converted = {}
    for key, value in arrays.items():
        if key.endswith(TORCH_ONLY):
            continue
        for torch_suffix, paddle_suffix in TORCH_BATCH_NORM.items():
            if key.endswith(torch_suffix):
                key = key[: -len(torch_suffix)] + paddle_suffix
        if key.endswith(".weight") and value.ndim == 2:
            value = np.ascontiguousarray(value.T)  # Linear: [out, in] -> [in, out]
        converted[key] = value
    return converted


def to_paddle(arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], str]:
    """``arrays`` converted from the format :func:`detect_format` finds, and that format."""
    found = detect_format(arrays)
    return (from_torchvision(arrays) if found == "torchvision" else dict(arrays)), found
