"""Classification heads: what follows a backbone's pooled features, by name.

:data:`HEADS` is the one list of head names: recipes validate ``model.head`` against it.
"""

from __future__ import annotations

from collections.abc import Callable

from paddle import nn


def _article_head(in_features: int, num_classes: int) -> nn.Layer:
    """The SwinT article's SwinResnet head."""
    return nn.Sequential(
        nn.Dropout(0.2),
        nn.Linear(in_features, 256),
        nn.LayerNorm(256),
        nn.Dropout(0.2),
        nn.LeakyReLU(),
        nn.Linear(256, num_classes),
    )


_BUILDERS: dict[str, Callable[[int, int], nn.Layer]] = {
    "linear": nn.Linear,
    "article": _article_head,
}
HEADS = tuple(_BUILDERS)


def build_head(kind: str, in_features: int, num_classes: int) -> nn.Layer:
    """A head mapping ``[N, in_features]`` to ``[N, num_classes]`` logits.

    ``"linear"``: one Linear. ``"article"``: the SwinT article's SwinResnet head, Dropout(0.2)
    -> Linear(in, 256) -> LayerNorm -> Dropout(0.2) -> LeakyReLU -> Linear(256, num_classes).
    Raises ValueError for a name not in :data:`HEADS`.
    """
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise ValueError(f"unknown head {kind!r} (valid: {', '.join(HEADS)})")
    return builder(in_features, num_classes)
