"""The library's public model functions, for Python users (``swint_cli.swap``,
``swint_cli.build_model``): the CLI's own acts on a network you hold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from paddle import nn

from ..recipe import Recipe, ReplaceRule, load_recipe
from ..recipe.loading import validate
from .surgery import SurgeryReport, replace_slots
from .surgery import build_model as build_recipe_model


def swap(
    model: nn.Layer,
    rules: Sequence[ReplaceRule | Mapping[str, object]],
    image_size: int = 224,
) -> SurgeryReport:
    """Replace the Conv2D slots of ``model`` that ``rules`` name with SwinT layers, in place,
    as a recipe's ``model.replace`` does: each rule a :class:`ReplaceRule` or its mapping
    (``{"slots": "layer3.*.conv2", "num_heads": 8, "window_size": 7}``). ``image_size`` is
    the input the slots' feature maps are probed at. Returns what was swapped.

    Raises:
        RecipeError: a rule with an unknown key or a bad value. ModelError: a rule naming
            no slot, or a SwinT that does not fit its slot.
    """
    checked = [
        rule
        if isinstance(rule, ReplaceRule)
        else validate({"model": {"replace": [dict(rule)]}}, "rules").model.replace[0]
        for rule in rules
    ]
    return replace_slots(model, checked, image_size)


def build_model(recipe: str | Path | Mapping[str, object]) -> nn.Layer:
    """The model of ``recipe`` (a YAML path or its mapping), built and weighted as
    ``swint train`` builds it (the model section and ``data.image_size`` only), in train
    mode. RecipeError or ModelError for what does not fit."""
    loaded: Recipe = (
        load_recipe(recipe) if isinstance(recipe, (str, Path)) else validate(dict(recipe), "recipe")
    )
    model, _ = build_recipe_model(loaded.model, loaded.data.image_size, loaded.task)
    model.train()
    return model
