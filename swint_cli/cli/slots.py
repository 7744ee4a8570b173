"""``swint slots``: every Conv2D slot of a backbone, and which ones a recipe replaces."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .console import console
from .errors import user_errors


def slots_command(
    target: Annotated[
        str, typer.Argument(help="A backbone name (e.g. resnet50) or a recipe YAML file.")
    ],
    resolution: Annotated[
        int | None,
        typer.Option(min=1, help="Input size to probe (default: the recipe's, else 224)."),
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Recipe override, as for train.")
    ] = None,
) -> None:
    """List Conv2D and Conv2DTranspose slots: path, in/out, kernel, stride, input, replaced."""
    from ..models import build_backbone, build_model, find_conv_slots, slots_table
    from ..recipe import load_recipe

    with user_errors():
        is_recipe = target.endswith((".yaml", ".yml")) or Path(target).is_file()
        if is_recipe:
            recipe = load_recipe(target, overrides or [])
            model = recipe.model
            name, num_classes, head = model.backbone, model.num_classes, model.head
            patch_size, size = model.patch_size, resolution or recipe.data.image_size
            args = model.args
        else:
            name, num_classes, head, size = target, 10, "linear", resolution or 224
            patch_size, args = None, {}
        backbone = build_backbone(name, num_classes, head, patch_size, args)
        slots = find_conv_slots(backbone, size)  # before any slot is replaced
        line = f"{len(slots)} Conv2D slots of {name} at {size}x{size}"
        replaced, hybrid = None, set()
        weights = None
        if is_recipe:
            _, report = build_model(recipe.model, size, recipe.task)  # weights as train loads them
            weights = report.weights
            replaced = {path for path, _, _ in report.replaced}
            rules = recipe.model.replace
            hybrid = {path for path, index, _ in report.replaced if rules[index].hybrid}
            line += (
                f"; the recipe replaces {len(report.replaced)} (SwinT layers in the model: "
                f"{report.swint_count}); params "
                f"{report.params_before:,} -> {report.params_after:,}"
            )
        console.print(slots_table(slots, replaced, hybrid))
        console.print(line, highlight=False)
        for weights_line in weights.lines() if weights is not None else []:
            console.print(weights_line, highlight=False, markup=False, soft_wrap=True)
