"""Recipes: the YAML description of one experiment, validated into :class:`Recipe`."""

from .errors import RecipeError
from .loading import dump_recipe, load_recipe
from .schema import Recipe, ReplaceRule

__all__ = ["Recipe", "RecipeError", "ReplaceRule", "dump_recipe", "load_recipe"]
