"""Conv2D -> SwinT surgery: find a model's Conv2D slots, replace the ones recipe rules name.

A slot is a ``paddle.nn.Conv2D`` sublayer (or a ``Conv2DTranspose``, whose stride-2 form a
SwinT with ``upsample=True`` replaces), named by its dotted path (``layer2.0.conv2``). Its
input and output sizes come from one forward pass of a dummy image, so a SwinT can be built
for exactly the resolution the convolution sees.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

import paddle
from paddle import nn

from ..nn import HybridSwinT, SwinT
from ..recipe.names import is_own_network
from .backbones import build_backbone
from .detection.fcos import BACKBONE, PYRAMID
from .errors import ModelError
from .user_networks import check_output
from .weights import WeightsFile, WeightsReport, load_state, read_weights, under

if TYPE_CHECKING:  # the schema imports the backbone registry from this package
    from ..recipe.schema import ModelSection, ReplaceRule

__all__ = [
    "ConvSlot",
    "ModelError",
    "SurgeryReport",
    "build_model",
    "find_conv_slots",
    "match_rules",
    "model_flops",
    "replace_slots",
]

Hook = Callable[[nn.Layer, tuple[paddle.Tensor, ...], paddle.Tensor], None]  # forward post hook
SLOT_TYPES = (nn.Conv2D, nn.Conv2DTranspose)


@dataclass(frozen=True)
class ConvSlot:
    """One Conv2D sublayer and the sizes it sees on a ``3 x S x S`` image."""

    path: str
    in_channels: int
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    groups: int
    dilation: tuple[int, int]
    input_size: tuple[int, int]  # (H, W)
    output_size: tuple[int, int]  # (H, W)
    params: int
    transposed: bool = False  # a Conv2DTranspose


@dataclass
class SurgeryReport:
    """What :func:`replace_slots` (and :func:`build_model`) did.

    ``replaced`` holds ``(path, rule_index, slot)`` in slot order; ``swint_count`` counts
    every SwinT in the model afterwards; ``weights`` is :func:`load_weights`' report (None
    without ``model.weights``), its tensors of swapped slots marked ``swapped``. ``within``
    is where the swapped network sits in the model trained (``backbone`` in a detector; the
    slot paths are the network's own).
    """

    replaced: list[tuple[str, int, ConvSlot]]
    params_before: int
    params_after: int
    swint_count: int
    weights: WeightsReport | None = None
    within: str = ""

    def model_paths(self) -> list[str]:
        """The replaced slots' paths in the model trained."""
        prefix = f"{self.within}." if self.within else ""
        return [prefix + path for path, _, _ in self.replaced]


def _count_params(model: nn.Layer) -> int:
    return sum(math.prod(p.shape) for p in model.parameters())


def _count_swint(model: nn.Layer) -> int:
    return sum(isinstance(layer, SwinT) for layer in model.sublayers(include_self=True))


def _probe(model: nn.Layer, image_size: int, hooks: Iterable[tuple[nn.Layer, Hook]]) -> None:
    """Run ``model`` once on a ``[1, 3, S, S]`` zero image, in eval mode and without gradients,
    with the forward post hooks ``hooks`` attached meanwhile.

    Every sublayer's ``training`` flag is restored afterwards (set directly, so Paddle's
    global tracer mode, which ``Layer.eval()`` switches, is left alone).
    """
    modes = [(layer, layer.training) for layer in model.sublayers(include_self=True)]
    handles = [layer.register_forward_post_hook(hook) for layer, hook in hooks]
    try:
        for layer, _ in modes:
            layer.training = False
        with paddle.no_grad():
            model(paddle.zeros([1, 3, image_size, image_size]))
    finally:
        for handle in handles:
            handle.remove()
        for layer, training in modes:
            layer.training = training


def find_conv_slots(model: nn.Layer, image_size: int) -> list[ConvSlot]:
    """Every ``paddle.nn.Conv2D`` and ``Conv2DTranspose`` of ``model`` that a
    ``3 x image_size x image_size`` image reaches, in ``named_sublayers`` order (definition
    order, as ``print(model)`` and the state dict list them; not forward order).

    One eval-mode, no-grad forward pass of a batch-1 dummy image records each Conv2D's input
    and output size (its first call, if it runs more than once); the hooks are removed and
    the training flags restored afterwards. A Conv2D the forward pass never calls is left out.
    """
    convs = {
        path: layer for path, layer in model.named_sublayers() if isinstance(layer, SLOT_TYPES)
    }
    sizes: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {}

    def recorder(path: str) -> Hook:
        def hook(layer: nn.Layer, inputs: tuple[paddle.Tensor, ...], output: paddle.Tensor):
            # inputs[0]: (1, C_in, H, W) -> output: (1, C_out, H', W')
            sizes.setdefault(path, (tuple(inputs[0].shape[2:]), tuple(output.shape[2:])))

        return hook

    _probe(model, image_size, [(layer, recorder(path)) for path, layer in convs.items()])
    return [
        ConvSlot(
            path=path,
            in_channels=layer._in_channels,
            out_channels=layer._out_channels,
            kernel=tuple(layer.weight.shape[2:]),  # weight: (C_out, C_in / groups, kh, kw)
            stride=tuple(layer._stride),
            groups=layer._groups,
            dilation=tuple(layer._dilation),
            input_size=sizes[path][0],
            output_size=sizes[path][1],
            params=_count_params(layer),
            transposed=isinstance(layer, nn.Conv2DTranspose),
        )
        for path, layer in convs.items()
        if path in sizes
    ]


def _no_match(model: nn.Layer, slots: list[ConvSlot], where: str, pattern: str) -> ModelError:
    layer = dict(model.named_sublayers()).get(pattern)
    if isinstance(layer, SLOT_TYPES):
        kind = type(layer).__name__
        return ModelError(f"{where}: {pattern!r} is a {kind} the forward pass never calls")
    if layer is not None:
        return ModelError(f"{where}: {pattern!r} is a {type(layer).__name__}, not a Conv2D")
    closest = difflib.get_close_matches(pattern, [s.path for s in slots], n=3, cutoff=0)
    hint = f"; closest slots: {', '.join(closest)}" if closest else "; the model has no Conv2D"
    return ModelError(f"{where}: {pattern!r} matches no Conv2D slot{hint}")


def _refusal(slot: ConvSlot) -> str | None:
    """Why SwinT cannot stand in for ``slot``, or None when it can."""
    if slot.groups != 1:
        return f"groups={slot.groups}; SwinT replaces only ungrouped convolutions (groups=1)"
    if slot.dilation != (1, 1):
        return f"dilation={slot.dilation}; SwinT replaces only undilated convolutions"
    if slot.stride not in ((1, 1), (2, 2)):
        scale = "doubles it (transposed" if slot.transposed else "halves it ("
        return f"stride={slot.stride}; SwinT keeps the size (stride 1) or {scale} stride 2)"
    return None


def match_rules(model: nn.Layer, slots: list[ConvSlot], rules: list[ReplaceRule]) -> dict[str, int]:
    """Which slots the rules replace: ``{path: index of the rule that wins}``, in slot order.

    Each rule's ``slots`` are exact paths or globs matched with :func:`fnmatch.fnmatchcase`
    against the dotted paths (``*`` also spans dots: ``layer2.*.conv2``, ``*conv2``). Rules
    apply in order; where several match a slot, the LAST one wins (its settings build the
    SwinT), so a broad rule can be followed by narrower exceptions.

    Raises:
        ModelError: a pattern matches no slot (naming the 3 closest slots, or what the
            sublayer it names is when it is not a Conv2D), or a matched Conv2D is grouped,
            dilated or has a stride other than 1 or 2 in both directions.
    """
    claimed: dict[str, int] = {}
    for index, rule in enumerate(rules):
        for number, pattern in enumerate(rule.slots):
            hits = [s.path for s in slots if fnmatchcase(s.path, pattern)]
            if not hits:
                raise _no_match(model, slots, f"model.replace[{index}].slots[{number}]", pattern)
            claimed.update(dict.fromkeys(hits, index))
    for slot in slots:
        if slot.path in claimed and (reason := _refusal(slot)):
            raise ModelError(f"model.replace[{claimed[slot.path]}] ({slot.path}): {reason}")
    return {s.path: claimed[s.path] for s in slots if s.path in claimed}


def _swap(model: nn.Layer, path: str, layer: nn.Layer) -> nn.Layer:
    """Put ``layer`` at dotted ``path`` as its parent's attribute; return the layer it replaces.

    ``layer`` takes over the replaced layer's training flag.
    """
    parent_path, _, name = path.rpartition(".")
    parent = model
    for part in filter(None, parent_path.split(".")):
        parent = getattr(parent, part)
    old = getattr(parent, name)
    for sublayer in layer.sublayers(include_self=True):
        sublayer.training = old.training
    setattr(parent, name, layer)
    return old


def _swint_for(slot: ConvSlot, rule: ReplaceRule, where: str) -> SwinT:
    try:
        return SwinT.from_config(
            slot.in_channels,
            slot.out_channels,
            rule.swint_config(),
            input_resolution=slot.input_size,
            downsample=slot.stride == (2, 2) and not slot.transposed,
            upsample=slot.stride == (2, 2) and slot.transposed,
        )
    except ValueError as exc:
        raise ModelError(f"{where}: {exc}") from None


def _replacement(conv: nn.Layer, swint: SwinT, rule: ReplaceRule) -> nn.Layer:
    """What goes into the slot: the SwinT, or with ``hybrid`` the convolution kept with the
    SwinT beside it (:class:`HybridSwinT`, starting equal to the convolution)."""
    return HybridSwinT(conv, swint) if rule.hybrid else swint


def _verify(model: nn.Layer, expected: list[tuple[str, SwinT, list[int]]], image_size: int) -> None:
    """Run the dummy image; each ``(where, swint, shape)``: the SwinT must output ``shape``."""

    def checker(where: str, shape: list[int]) -> Hook:
        def hook(layer: nn.Layer, inputs: tuple[paddle.Tensor, ...], output: paddle.Tensor):
            if list(output.shape) != shape:
                raise ModelError(
                    f"{where}: SwinT gives {list(output.shape)} where the Conv2D gave {shape}; "
                    "only convolutions that keep the map (padding k//2), halve it (stride 2) or, "
                    "transposed, double it can be replaced"
                )

        return hook

    hooks = [(swint, checker(where, shape)) for where, swint, shape in expected]
    _probe(model, image_size, hooks)


def replace_slots(model: nn.Layer, rules: list[ReplaceRule], image_size: int) -> SurgeryReport:
    """Replace, in place, each Conv2D slot the rules name by a SwinT built for it.

    Slots are found on a ``3 x image_size x image_size`` image (:func:`find_conv_slots`) and
    matched as :func:`match_rules` says (globs or exact paths; the LAST matching rule wins).
    Each SwinT takes the slot's channels and input size as ``input_resolution``,
    ``downsample=True`` for a stride-2 slot (``upsample=True`` for a stride-2 transposed
    one), and the rule's settings; the kernel size plays no part. A rule with ``hybrid``
    keeps the convolution and adds the SwinT beside it (:class:`~swint_cli.nn.HybridSwinT`).
    A dummy forward pass then checks every SwinT gives its Conv2D's output shape.

    Raises:
        ModelError: see :func:`match_rules`; a rule whose settings SwinT refuses
            (``model.replace[1] (layer2.0.conv2): num_heads (5) must divide in_channels (128)``);
            a SwinT whose output shape differs from the Conv2D's. The model is unchanged then.
    """
    params_before = _count_params(model)
    if not rules:
        return SurgeryReport([], params_before, params_before, _count_swint(model))
    slots = {s.path: s for s in find_conv_slots(model, image_size)}
    claimed = match_rules(model, list(slots.values()), rules)
    where = {path: f"model.replace[{index}] ({path})" for path, index in claimed.items()}
    new = {path: _swint_for(slots[path], rules[i], where[path]) for path, i in claimed.items()}
    layers = dict(model.named_sublayers())
    originals = {
        path: _swap(model, path, _replacement(layers[path], new[path], rules[claimed[path]]))
        for path in new
    }
    expected = [
        (where[path], swint, [1, slots[path].out_channels, *slots[path].output_size])
        for path, swint in new.items()
    ]
    try:
        _verify(model, expected, image_size)
    except Exception:
        for path, conv in originals.items():
            _swap(model, path, conv)
        raise
    return SurgeryReport(
        replaced=[(path, index, slots[path]) for path, index in claimed.items()],
        params_before=params_before,
        params_after=_count_params(model),
        swint_count=_count_swint(model),
    )


def build_model(
    section: ModelSection, image_size: int, task: str = "classification"
) -> tuple[nn.Layer, SurgeryReport]:
    """The recipe's model: backbone and head, local weights if any, then the ``replace`` rules
    applied at ``image_size`` (:func:`apply_model_section`). A network of the user's own is
    first checked to give ``task``'s output shape. A detection model is
    :func:`~.detector.build_detector`'s; a detector's weights give a classifier its backbone."""
    if task == "detection":
        from .detector import build_detector  # it builds on this module

        return build_detector(section, image_size)
    model = build_backbone(
        section.backbone, section.num_classes, section.head, section.patch_size, section.args
    )
    if is_own_network(section.backbone):
        check_output(model, section.backbone, task, section.num_classes, image_size)
    weights, of_detector = section_weights(section)
    if of_detector:
        weights = weights.part(BACKBONE + ".")
    return model, apply_model_section(model, section, image_size, weights)


def section_weights(section: ModelSection) -> tuple[WeightsFile | None, bool]:
    """``model.weights`` read (None when unset), and whether they are a detector's (named
    ``backbone.``, ``pyramid.``, ``head.``)."""
    if not section.weights:
        return None, False
    weights = read_weights(section.weights, section.weights_format)
    return weights, weights.has_prefix(PYRAMID + ".")


def holds_swint(weights: WeightsFile, model: nn.Layer) -> bool:
    """Whether ``weights`` holds tensors inside a Conv2D slot of the plain ``model`` that the
    slot lacks (``layer3.0.conv2.blocks.0...``): the SwinT of a swint run's own weights."""
    own = model.state_dict()
    slots = [path for path, layer in model.named_sublayers() if isinstance(layer, SLOT_TYPES)]
    return any(key not in own and under(key, slots) for key in weights.state)


def apply_model_section(
    model: nn.Layer,
    section: ModelSection,
    image_size: int,
    weights: WeightsFile | None = None,
    prefix: str = "",
) -> SurgeryReport:
    """Load ``weights`` (``section.weights`` as :func:`section_weights` reads them; None: no
    weights) into the backbone ``model`` and apply ``section``'s ``replace`` rules at
    ``image_size``; the report includes the load report.

    Weights of a plain network load before the surgery, so the slots it swaps start fresh
    (a hybrid slot keeps its convolution's); weights holding SwinT layers (a swint run's own)
    load after it, into the SwinT of the same paths. ``prefix`` is the backbone's place in
    the file's names (``backbone.`` for a detector's weights)."""
    if weights is None:
        return replace_slots(model, section.replace, image_size)
    load = functools.partial(
        load_state, skip=section.weights_skip, strict=section.weights_strict, prefix=prefix
    )
    if holds_swint(weights, model):
        report = replace_slots(model, section.replace, image_size)
        swapped = [path for path, _, _ in report.replaced]
        return dataclasses.replace(report, weights=load(model, weights, swapped=swapped))
    loaded = load(model, weights)
    before = {prefix + key: id(tensor) for key, tensor in model.state_dict().items()}
    report = replace_slots(model, section.replace, image_size)
    # the loaded tensors the surgery dropped (a hybrid slot keeps its convolution's)
    kept = {id(tensor) for tensor in model.state_dict().values()}
    gone = sorted(key for key, at in before.items() if at not in kept)
    return dataclasses.replace(report, weights=loaded.swapped(gone))


def _counted_layers(layer: nn.Layer) -> Iterator[nn.Layer]:
    """Conv2D, Conv2DTranspose, Linear and SwinT sublayers, not descending into SwinT."""
    for child in layer.children():
        if isinstance(child, (SwinT, *SLOT_TYPES, nn.Linear)):
            yield child
        else:
            yield from _counted_layers(child)


def model_flops(model: nn.Layer, image_size: int) -> int:
    """Multiply-accumulates of one forward pass of one ``3 x image_size x image_size`` image.

    Counted through hooks on one dummy forward pass: Conv2D as
    ``k_h * k_w * C_in / groups * C_out * H_out * W_out``; Conv2DTranspose as
    ``k_h * k_w * C_in * C_out / groups * H_in * W_in``; Linear as ``in * out`` per row
    (per token for ``[..., in]`` inputs); SwinT by its analytic ``flops(H, W)`` (its own
    Linear layers are not counted again). Everything else (normalisation, activations,
    pooling, additions) counts zero, as in the Swin paper's accounting.
    """
    total = 0

    def count(layer: nn.Layer, inputs: tuple[paddle.Tensor, ...], output: paddle.Tensor):
        nonlocal total
        if isinstance(layer, SwinT):
            total += layer.flops(*inputs[0].shape[2:])
        elif isinstance(layer, nn.Conv2D):
            # weight (C_out, C_in / groups, kh, kw) x output positions (C_out, H_out, W_out)
            total += math.prod(layer.weight.shape[1:]) * math.prod(output.shape[1:])
        elif isinstance(layer, nn.Conv2DTranspose):
            # weight (C_in, C_out / groups, kh, kw) x input positions (C_in, H_in, W_in)
            total += math.prod(layer.weight.shape[1:]) * math.prod(inputs[0].shape[1:])
        else:
            total += math.prod(inputs[0].shape[:-1]) * math.prod(layer.weight.shape)

    unique = {id(layer): layer for layer in _counted_layers(model)}  # shared layers once
    _probe(model, image_size, [(layer, count) for layer in unique.values()])
    return int(total)
