"""``training.freeze``: parameters that neither get a gradient nor change.

Each glob matches parameter names (``*`` also matches dots: ``layer1.*``, ``*.bn1.*``). A
matched parameter gets ``stop_gradient`` and is left out of the optimizer. A BatchNorm layer
whose parameters are all frozen also keeps its running statistics as loaded: it normalises
with them in training too, as ``torchvision``'s fine-tuning recipes freeze BatchNorm.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from paddle import nn

from ..errors import UserError

BATCH_NORMS = (nn.BatchNorm1D, nn.BatchNorm2D, nn.BatchNorm3D, nn.BatchNorm, nn.SyncBatchNorm)


def _statistics_stay(layer: nn.Layer, inputs: object) -> None:
    layer.training = False  # before each forward: normalise by, and keep, the loaded statistics


def freeze(model: nn.Layer, globs: Sequence[str]) -> list[str]:
    """Freeze ``model``'s parameters matching any of ``globs`` (see the module docstring);
    returns their names. UserError naming ``training.freeze`` for a glob matching none."""
    names = [name for name, _ in model.named_parameters()]
    for glob in globs:
        if not any(fnmatch.fnmatchcase(name, glob) for name in names):
            raise UserError(f"training.freeze: {glob!r} matches no parameter of the model")
    frozen, ids = [], set()
    for name, param in model.named_parameters():
        if any(fnmatch.fnmatchcase(name, glob) for glob in globs):
            param.stop_gradient = True
            frozen.append(name)
            ids.add(id(param))
    for layer in model.sublayers(include_self=True):
        params = layer.parameters(include_sublayers=False)
        # a BatchNorm frozen by a glob: every parameter still learning (its statistics never
        # do) frozen, at least one of them by us
        ours = any(id(p) in ids for p in params) and all(p.stop_gradient for p in params)
        if isinstance(layer, BATCH_NORMS) and ours:
            layer.register_forward_pre_hook(_statistics_stay)
    return frozen
