"""Backbones by name, with a fresh head, and loading local weights into them."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from paddle import nn

from ..files import ArrayFileError, read_arrays
from ..nn.batched_conv import batch_small_convs, retype_layers
from ..nn.heads import build_head
from ..nn.layers import Linear
from .errors import ModelError
from .registry import backbone_names, find_backbone
from .relative_position_tables import resize_table, table_side
from .state import cast_like, kind_problem, shape_of
from .swin_transformer import SWIN_CONFIGS
from .weight_formats import WeightFormatError, to_paddle

HEAD = "fc"  # every classification backbone's head, fed [N, features] pooled features


def _built(name: str, factory: Callable[..., nn.Layer], num_classes: int, args: dict) -> nn.Layer:
    """``factory(num_classes, **args)``; ModelError naming ``model.args`` when they do not
    fit it (with the keywords it takes)."""
    takes = [p for p in inspect.signature(factory).parameters if p != "num_classes"]
    unknown = sorted(set(args) - set(takes))
    if unknown:
        offered = f"takes {', '.join(takes)}" if takes else "takes none"
        raise ModelError(f"model.args: {name} has no {unknown[0]!r} ({offered})")
    try:
        return factory(num_classes, **args)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"model.args of {name}: {exc}") from None


def build_backbone(
    name: str,
    num_classes: int,
    head: str = "linear",
    patch_size: int | None = None,
    args: Mapping[str, object] | None = None,
) -> nn.Layer:
    """The registered backbone ``name`` (:data:`~.registry.BACKBONES`), randomly initialised
    (nothing is downloaded), with ``head`` as its ``fc``.

    A classification model maps ``[N, 3, H, W]`` images to ``[N, num_classes]`` logits.
    ResNets come from ``paddle.vision.models`` (head input 512 for resnet18/34, 2048 for
    resnet50/101); swin_t/s/b are :class:`~.swin_transformer.SwinTransformer` with
    ``patch_size`` (default 4). ``args`` (``model.args``) go to the factory as keywords:
    a ResNet's ``width``; a Swin's ``embed_dim``, ``depths``, ``num_heads``, ``window_size``,
    ``patch_size`` and ``mlp_ratio``. A segmentation model (``unet``) predicts per pixel
    with its own 1x1 head; ``head`` must be linear. Their convolutions are
    :class:`~swint_cli.nn.batched_conv.BatchedConv2D`: ``Conv2D`` with faster CPU paths;
    their Linear layers compute through the layer library's products (oneDNN, bf16 autocast:
    :mod:`swint_cli.nn.precision`) with the same parameters.
    """
    backbone = find_backbone(name)
    if backbone is None:
        raise ModelError(f"unknown backbone {name!r} (valid: {', '.join(backbone_names())})")
    if patch_size is not None and name not in SWIN_CONFIGS:
        raise ModelError(
            f"model.patch_size applies to {', '.join(SWIN_CONFIGS)} only, not to {name}"
        )
    chosen = dict(args or {})
    if patch_size is not None:
        if chosen.get("patch_size", patch_size) != patch_size:
            raise ModelError("model.patch_size and model.args.patch_size differ: give one")
        chosen["patch_size"] = patch_size
    model = _built(name, backbone.factory, num_classes, chosen)
    if backbone.task == "segmentation":
        if head != "linear":
            raise ModelError(
                f"model.head: {name} predicts per pixel; expected linear, got {head!r}"
            )
    else:
        in_features = model.fc.weight.shape[0]  # Linear weight is (in, out)
        try:
            model.fc = build_head(head, in_features, num_classes)
        except ValueError as exc:
            raise ModelError(str(exc)) from None
    batch_small_convs(model)
    compute_linears_with_products(model)
    return model


def compute_linears_with_products(model: nn.Layer) -> int:
    """Turn every plain ``paddle.nn.Linear`` in ``model`` into the layer library's
    :class:`~swint_cli.nn.layers.Linear`, in place (same parameters, names and state dict).
    Returns how many layers were changed."""
    return retype_layers(model, nn.Linear, Linear)


TABLE = "relative_position_bias_table"


def _is_head(key: str) -> bool:
    return key.startswith(HEAD + ".")


def _more(items: list[str]) -> str:
    return f" (+{len(items) - 1} more)" if len(items) > 1 else ""


def _resized_tables(state: dict[str, np.ndarray], own: dict[str, object]) -> dict[str, np.ndarray]:
    """``state`` with each relative-position bias table resized to the model's window
    where the two differ (:func:`~.relative_position_tables.resize_table`)."""
    resized = dict(state)
    for key, value in state.items():
        if key.endswith(TABLE) and key in own and shape_of(own[key]) != shape_of(value):
            rows, heads = shape_of(own[key])
            tables = table_side(rows) and value.ndim == 2 and table_side(value.shape[0])
            if tables and value.shape[1] == heads:
                resized[key] = resize_table(value, rows)
    return resized


def load_weights(model: nn.Layer, path: str) -> list[str]:
    """Load the state dict in the local file ``path`` into ``model`` (the plain backbone,
    before any surgery): a ``.safetensors`` file (``checkpoints/best.safetensors`` of a run
    of the same backbone without replace rules, say), a ``paddle.save`` pickle such as a
    ``.pdparams``, read through the restricted unpickler (plain data only, never code), or
    a PyTorch checkpoint (``.pth``, ``.pt``: read without torch; torchvision's and the
    official Swin's names and layouts converted, :mod:`.weight_formats`).

    Outside the head (the ``fc`` sublayer) the file must match the model exactly: a key the
    file lacks would leave a layer randomly initialised, a key the model lacks or a shape
    that differs means the file is for another model; each is a :class:`ModelError` naming
    the path and the first such key (with both shapes). Head keys load when the file has them
    with the model's shape; the others keep their initialisation, the common case of
    ImageNet weights loaded into a model with another number of classes or another head.
    Relative-position bias tables for another window size are resized to the model's
    (bicubic, per head, as timm does).

    Returns:
        The model's head keys that were not loaded (empty when everything was).
    """
    if not Path(path).is_file():
        raise ModelError(f"weights file {path} not found")
    try:
        state, _ = read_arrays(Path(path))
    except ArrayFileError as exc:
        raise ModelError(f"weights file {exc}") from None
    try:
        state, _ = to_paddle(state)
    except WeightFormatError as exc:
        raise ModelError(f"weights file {path}: {exc}") from None

    own = model.state_dict()
    state = _resized_tables(state, own)
    problems, skipped = [], []
    for key, value in own.items():
        if key in state and shape_of(state[key]) == shape_of(value):
            continue
        if _is_head(key):
            skipped.append(key)
        elif key not in state:
            problems.append(f"the file lacks {key}")
        else:
            found, wanted = shape_of(state[key]), shape_of(value)
            problems.append(f"{key} has shape {found} in the file, {wanted} in the model")
    problems += [
        problem
        for key, value in own.items()
        if key in state and key not in skipped and (problem := kind_problem(key, state[key], value))
    ]
    problems += [f"the model has no {key}" for key in state if key not in own and not _is_head(key)]
    if problems:
        first = f"{problems[0]}{_more(problems)}"
        raise ModelError(f"weights file {path} does not fit the model: {first}")
    # Skipped keys get their current value, so Paddle does not warn about them.
    model.set_state_dict(
        {key: own[key] if key in skipped else cast_like(state[key], own[key]) for key in own}
    )
    return skipped
