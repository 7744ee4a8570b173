"""Turning YAML and validation failures into one-line messages that name the field."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import UserError


class RecipeError(UserError, ValueError):
    """A recipe that cannot be used; the message is one line meant for the user."""


def field_path(loc: tuple[str | int, ...]) -> str:
    """``("model", "replace", 1, "window_size")`` -> ``model.replace[1].window_size``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _section_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> Any:
    """The section (model class) that ``loc`` (a path ending in a key) points into, or None."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation  # a section, a list of them, or a union with None
        for arg in getattr(annotation, "__args__", ()) or (annotation,):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                current = arg
                break
        else:
            return None
    return current


def _fields_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """Valid keys of the section that ``loc`` (a path ending in the bad key) points into."""
    section = _section_at(model, loc)
    return list(section.model_fields) if section is not None else []


def _integer_field(model: type[BaseModel], loc: tuple[str | int, ...]) -> bool:
    """Whether the key ``loc`` ends in holds integers (not any number)."""
    section = _section_at(model, loc)
    field = section.model_fields.get(loc[-1]) if section is not None and loc else None
    if field is None:
        return False
    annotation = field.annotation
    return int in (getattr(annotation, "__args__", ()) or (annotation,))


_UNION_TAGS = ("int", "float", "str", "bool", "none", "literal", "function", "constrained")


def _field_loc(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith(_UNION_TAGS)))


def _describe(error: dict[str, Any], integer: bool) -> str:
    kind, ctx, value = error["type"], error.get("ctx", {}), error.get("input")
    if kind == "missing":
        return "required key is missing"
    if kind in ("greater_than", "greater_than_equal"):
        bound = ctx.get("gt", ctx.get("ge"))
        if integer and bound == 0:
            what = "a positive integer" if kind == "greater_than" else "a non-negative integer"
        elif bound == 0:
            what = "a positive number" if kind == "greater_than" else "a non-negative number"
        else:
            what = f"a number {'>' if kind == 'greater_than' else '>='} {bound}"
        return f"expected {what}, got {value!r}"
    if kind in ("less_than", "less_than_equal"):
        bound = ctx.get("lt", ctx.get("le"))
        return f"expected a number {'<' if kind == 'less_than' else '<='} {bound}, got {value!r}"
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected')}, got {value!r}"
    if kind.startswith("int_"):
        return f"expected an integer, got {value!r}"
    if kind.startswith("float_"):
        return f"expected a number, got {value!r}"
    if kind.startswith("bool_"):
        return f"expected true or false, got {value!r}"
    if kind.startswith("string_"):
        if kind == "string_pattern_mismatch":
            return f"expected letters, digits, '.', '_', '=' or '-', got {value!r}"
        return f"expected a string, got {value!r}"
    if kind in ("list_type", "too_short"):
        return f"expected a non-empty list, got {value!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of keys, got {value!r}"
    return f"{error['msg']}, got {value!r}"


def failing_field(exc: ValidationError) -> str:
    """The dotted path of the field :func:`describe_validation_error` describes."""
    return field_path(_field_loc(exc.errors()[0]["loc"]))


def describe_validation_error(model: type[BaseModel], exc: ValidationError) -> str:
    """The first validation error of ``exc`` as ``path: what was expected, got what``."""
    errors = exc.errors()
    # A value that fits none of a union's types is reported once per member type, with the
    # type's tag appended to the location; strip the tags and count each field once.
    paths = {field_path(_field_loc(e["loc"])) for e in errors}
    error = errors[0]
    loc = _field_loc(error["loc"])
    path = field_path(loc)
    if error["type"] == "extra_forbidden":
        key = str(loc[-1])
        close = difflib.get_close_matches(key, _fields_at(model, loc), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        valid = ", ".join(_fields_at(model, loc))
        return f"{path}: unknown key{hint}" if close else f"{path}: unknown key (valid: {valid})"
    message = _describe(error, _integer_field(model, loc))
    more = f" (+{len(paths) - 1} more)" if len(paths) > 1 else ""
    return f"{path}: {message}{more}"
