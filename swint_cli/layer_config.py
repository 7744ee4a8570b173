"""SwinT's hyperparameters, written once: the layer, a recipe's replace rule, the surgery
that applies it and the Swin Transformer backbone all take :class:`SwinTConfig`.

Channels, input size and down/upsampling are where a layer stands, not how it is built, so
they are the layer's own arguments. Standard library only: recipes validate against these
fields without loading Paddle. Each field's ``metadata`` holds the bounds a recipe enforces
(``gt``, ``ge``, ``lt``, ``integer``, ``choices``); :meth:`SwinTConfig.__post_init__`
enforces them too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

RESIDUAL_NORMS = ("pre", "post", "post_zero")  # where each block branch's LayerNorm sits

_COUNT = {"gt": 0, "integer": True}
_POSITIVE = {"gt": 0}
_RATE = {"ge": 0, "lt": 1}


@dataclass(frozen=True, kw_only=True)
class SwinTConfig:
    """How a SwinT is built (its two Swin blocks); see :class:`~swint_cli.nn.SwinT`.

    ``num_heads`` None picks heads of width 32; ``qk_scale`` None is ``head_dim ** -0.5``;
    ``layer_scale`` None adds no LayerScale. Raises ValueError for a value out of bounds.
    """

    num_heads: int | None = field(default=None, metadata=_COUNT)
    window_size: int = field(default=7, metadata=_COUNT)
    mlp_ratio: float = field(default=4.0, metadata=_POSITIVE)
    qkv_bias: bool = True
    qk_scale: float | None = field(default=None, metadata=_POSITIVE)
    dropout: float = field(default=0.0, metadata=_RATE)
    attention_dropout: float = field(default=0.0, metadata=_RATE)
    droppath: float = field(default=0.0, metadata=_RATE)
    residual_norm: str = field(default="pre", metadata={"choices": RESIDUAL_NORMS})
    layer_scale: float | None = field(default=None, metadata=_POSITIVE)
    recompute: bool = False  # recompute the activations in backward: less memory

    def __post_init__(self) -> None:
        for spec in fields(self):
            problem = out_of_bounds(spec.metadata, getattr(self, spec.name))
            if problem is not None:
                raise ValueError(f"{spec.name} must be {problem}, got {getattr(self, spec.name)!r}")


def out_of_bounds(bounds: dict, value: object) -> str | None:
    """What ``value`` should be under ``bounds`` (a field's metadata), or None when it is
    within them (None always is: it means the default)."""
    if value is None:
        return None
    if "choices" in bounds:
        return None if value in bounds["choices"] else f"one of {', '.join(bounds['choices'])}"
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if bounds.get("integer") and not (number and isinstance(value, int) and value > 0):
        return "a positive int"
    if bounds.get("gt") == 0 and not (number and value > 0):  # type: ignore[operator]
        return "positive"
    if "lt" in bounds and not (number and 0 <= value < bounds["lt"]):  # type: ignore[operator]
        return f"in [0, {bounds['lt']})"
    return None
