"""A backbone's intermediate feature maps, read by forward hooks on named sublayers.

``model.features: [layer2, layer3, layer4]`` names the sublayers whose outputs feed the
detector. Hooks record each one's output while the backbone runs its own forward, so any
network works unchanged: no graph surgery, no knowledge of its ``forward``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager

import paddle
from paddle import nn

from ..errors import ModelError


def _missing(backbone: nn.Layer, name: str, index: int) -> ModelError:
    names = [path for path, _ in backbone.named_sublayers()]
    closest = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"; closest: {', '.join(closest)}" if closest else ""
    return ModelError(f"model.features[{index}]: {name!r} names no sublayer of the backbone{hint}")


class FeatureTaps:
    """``taps(images)`` runs ``backbone`` and returns the outputs of the sublayers ``names``,
    in that order (each that sublayer's output of its last call)."""

    def __init__(self, backbone: nn.Layer, names: list[str]) -> None:
        layers = dict(backbone.named_sublayers())
        for index, name in enumerate(names):
            if name not in layers:
                raise _missing(backbone, name, index)
        self.backbone, self.names = backbone, list(names)
        self._outputs: dict[str, object] = {}
        self._handles = [
            layers[name].register_forward_post_hook(self._recorder(name)) for name in names
        ]

    def remove(self) -> None:
        """Take the hooks off the backbone."""
        for handle in self._handles:
            handle.remove()

    def _recorder(self, name: str):
        def hook(layer: nn.Layer, inputs: tuple, output: object) -> None:
            self._outputs[name] = output

        return hook

    def __call__(self, images: paddle.Tensor) -> list[paddle.Tensor]:
        self._outputs.clear()
        self.backbone(images)
        maps = [self._outputs.get(name) for name in self.names]
        self._outputs.clear()  # no reference kept to the batch's activations
        return maps  # type: ignore[return-value]


def last_of_each_size(backbone: nn.Layer, names: list[str], image_size: int) -> list[str]:
    """Of the sublayers ``names`` (in forward order), the last whose output has each spatial
    size, on a ``[1, 3, S, S]`` probe (eval mode): the ends of a network's stages."""
    taps = FeatureTaps(backbone, names)
    try:
        maps = probe_maps(taps, image_size)
    finally:
        taps.remove()
    last: dict[tuple[int, ...], str] = {}
    for name, found in zip(names, maps, strict=True):
        last.pop(tuple(found.shape[2:]), None)  # re-inserted: the dict keeps the last's order
        last[tuple(found.shape[2:])] = name
    return list(last.values())


@contextmanager
def evaluating(network: nn.Layer) -> Iterator[None]:
    """Every sublayer of ``network`` in eval mode meanwhile, each flag restored afterwards
    (set directly: Paddle's global tracer mode, which ``Layer.eval()`` switches, is left)."""
    modes = [(layer, layer.training) for layer in network.sublayers(include_self=True)]
    try:
        for layer, _ in modes:
            layer.training = False
        yield
    finally:
        for layer, training in modes:
            layer.training = training


def probe_maps(taps: FeatureTaps, image_size: int) -> list[paddle.Tensor]:
    """The tapped maps of one ``[1, 3, S, S]`` zero image (eval mode, without gradients)."""
    with evaluating(taps.backbone), paddle.no_grad():
        return taps(paddle.zeros([1, 3, image_size, image_size]))
