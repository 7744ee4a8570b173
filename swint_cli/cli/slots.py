"""``swint slots``: every Conv2D slot of a backbone, and which ones a recipe replaces."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
    """List Conv2D slots: path, channels, kernel, stride, input size, params, replaced."""
    from ..models import build_backbone, build_model, find_conv_slots, match_rules, slots_table
    from ..recipe import load_recipe
    from ..recipe.schema import ModelSection
    from . import console

    with user_errors():
        is_recipe = target.endswith((".yaml", ".yml")) or Path(target).is_file()
        if is_recipe:
            recipe = load_recipe(target, overrides or [])
            section = recipe.model
            size = resolution or recipe.data.image_size
        else:
            section = ModelSection.model_construct(backbone=target, num_classes=10, replace=[])
            size = resolution or 224
        backbone = build_backbone(section.backbone, section.num_classes)
        slots = find_conv_slots(backbone, size)
        replaced = set(match_rules(backbone, slots, section.replace)) if is_recipe else None
        console.print(slots_table(slots, replaced))
        line = f"{len(slots)} Conv2D slots of {section.backbone} at {size}x{size}"
        if is_recipe:
            _, report = build_model(section, size)
            line += (
                f"; the recipe replaces {report.swint_count}; params "
                f"{report.params_before:,} -> {report.params_after:,}"
            )
        console.print(line, highlight=False)
