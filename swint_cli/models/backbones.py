"""Backbones by name, with a fresh head."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

from paddle import nn

from ..nn.batched_conv import batch_small_convs, retype_layers
from ..nn.heads import build_head
from ..nn.layers import Linear
from ..recipe.names import is_own_network
from .errors import ModelError
from .registry import backbone_names, find_backbone
from .swin_transformer import SWIN_CONFIGS
from .user_networks import load_factory

HEAD = "fc"  # every classification backbone's head, fed [N, features] pooled features


def _built(name: str, factory: Callable[..., nn.Layer], num_classes: int, args: dict) -> nn.Layer:
    """``factory(num_classes, **args)``; ModelError naming ``model.args`` when they do not
    fit it (with the keywords it takes)."""
    parameters = list(inspect.signature(factory).parameters.values())[1:]  # after the classes
    takes = [p.name for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD]
    open_ended = len(takes) < len(parameters)  # **kwargs: the factory checks its own
    unknown = [] if open_ended else sorted(set(args) - set(takes))
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
    if is_own_network(name):
        return _user_network(name, num_classes, head, patch_size, args)
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


def _user_network(
    name: str,
    num_classes: int,
    head: str,
    patch_size: int | None,
    args: Mapping[str, object] | None,
) -> nn.Layer:
    """A network of the user's own (:mod:`.user_networks`), with its own head, its
    convolutions and Linear layers on the library's faster paths (same state dict)."""
    if head != "linear" or patch_size is not None:
        setting = "model.head" if head != "linear" else "model.patch_size"
        raise ModelError(f"{setting}: a network of your own keeps its own; leave it unset")
    network = _built(name, load_factory(name), num_classes, dict(args or {}))
    if not isinstance(network, nn.Layer):
        raise ModelError(
            f"model.backbone: {name} returned a {type(network).__name__}, "
            "expected a paddle.nn.Layer"
        )
    batch_small_convs(network)
    compute_linears_with_products(network)
    return network


def compute_linears_with_products(model: nn.Layer) -> int:
    """Turn every plain ``paddle.nn.Linear`` in ``model`` into the layer library's
    :class:`~swint_cli.nn.layers.Linear`, in place (same parameters, names and state dict).
    Returns how many layers were changed."""
    return retype_layers(model, nn.Linear, Linear)
