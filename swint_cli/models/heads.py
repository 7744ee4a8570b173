"""Classification heads: what follows the backbone's pooled features."""

from __future__ import annotations

from paddle import nn

from .errors import ModelError

HEADS = ("linear", "article")


def build_head(kind: str, in_features: int, num_classes: int) -> nn.Layer:
    """A head mapping ``[N, in_features]`` to ``[N, num_classes]`` logits.

    ``"linear"``: one Linear. ``"article"``: the SwinT article's SwinResnet head, Dropout(0.2)
    -> Linear(in, 256) -> LayerNorm -> Dropout(0.2) -> LeakyReLU -> Linear(256, num_classes).
    """
    if kind == "linear":
        return nn.Linear(in_features, num_classes)
    if kind == "article":
        return nn.Sequential(
            nn.Dropout(0.2),
            nn.Linear(in_features, 256),
            nn.LayerNorm(256),
            nn.Dropout(0.2),
            nn.LeakyReLU(),
            nn.Linear(256, num_classes),
        )
    raise ModelError(f"unknown head {kind!r} (valid: {', '.join(HEADS)})")
