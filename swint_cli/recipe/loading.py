"""Reading a recipe: YAML file -> ``--set`` overrides -> validated :class:`Recipe`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import RecipeError, describe_validation_error, failing_field
from .names import resolve_factory
from .schema import Recipe, inconsistency

_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
STARTER = "recipes/quickstart.yaml"


class _DuplicateKey(yaml.MarkedYAMLError):
    def __init__(self, key: object, mark: yaml.Mark) -> None:
        super().__init__(problem=f"duplicate key {key!r}", problem_mark=mark)
        self.key = key


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping holding the same key twice (plain YAML
    keeps the last value silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _DuplicateKey(key, key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> dict[str, Any]:
    """The YAML mapping in ``path``; errors name the file, line and column (line only for a
    duplicate key). A file with nothing in it but comments is an error too."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"{path}: no such recipe file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read recipe ({exc})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: plain data only
    except _DuplicateKey as exc:
        raise RecipeError(
            f"{path}:{exc.problem_mark.line + 1}: duplicate key {exc.key!r}"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = exc.problem or exc.context or "malformed YAML"
        raise RecipeError(f"{where}: malformed YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: malformed YAML: {exc}") from None
    if data is None:  # nothing but whitespace and comments (``{}`` asks for the defaults)
        raise RecipeError(f"{path}: the recipe is empty; start from {STARTER}")
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    return data


def parse_path(path: str) -> list[str | int]:
    """``model.replace[0].num_heads`` -> ``["model", "replace", 0, "num_heads"]``."""
    parts: list[str | int] = []
    for segment in path.split("."):
        matches = list(_TOKEN.finditer(segment))
        if not matches or "".join(m.group(0) for m in matches) != segment:
            raise RecipeError(f"--set {path}: expected a dotted key like training.epochs")
        for match in matches:
            name, index = match.groups()
            parts.append(name if name is not None else int(index))
    if not isinstance(parts[0], str):
        raise RecipeError(f"--set {path}: expected a dotted key like training.epochs")
    return parts


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``key.path=value`` to the raw recipe; the value is read as YAML."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--set {assignment}: expected KEY=VALUE, e.g. training.epochs=2")
    parts = parse_path(key.strip())
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                count = len(node) if isinstance(node, list) else 0
                where = ".".join(map(str, parts[:i]))
                raise RecipeError(f"--set {key}: {where} has {count} entries, no [{part}]")
            node = node[part]
        else:
            if not isinstance(node, dict):
                raise RecipeError(f"--set {key}: {part} is not inside a mapping")
            node = node.setdefault(part, [] if isinstance(nxt, int) else {})
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last > len(node):
            raise RecipeError(f"--set {key}: index [{last}] is out of range")
        if last == len(node):
            node.append(value)
        else:
            node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise RecipeError(f"--set {key}: {last} is not inside a mapping")


def _set_for(field: str, overrides: Sequence[str]) -> str | None:
    """The last ``--set`` among ``overrides`` that wrote ``field`` (or a key inside it, or
    the section holding it), as the user typed it."""
    for assignment in reversed(overrides):
        key = assignment.partition("=")[0].strip()
        if any(a == b or a.startswith((b + ".", b + "[")) for a, b in ((field, key), (key, field))):
            return f"--set {assignment}"
    return None


def validate(data: dict[str, Any], source: str, overrides: Sequence[str] = ()) -> Recipe:
    """Validate raw recipe data; a failure is a :class:`RecipeError` naming the field, and
    the ``--set`` of ``overrides`` that gave it (else ``source``)."""
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        where = _set_for(failing_field(exc), overrides) or source
        raise RecipeError(f"{where}: {describe_validation_error(Recipe, exc)}") from None
    mismatch = inconsistency(recipe)
    if mismatch is not None:
        raise RecipeError(f"{source}: {mismatch}")
    return recipe


def load_recipe(path: str | Path, overrides: Iterable[str] = ()) -> Recipe:
    """Read ``path``, apply ``--set`` style overrides in order, and validate."""
    path = Path(path)
    data = read_yaml(path)
    overrides = list(overrides)
    for assignment in overrides:
        apply_override(data, assignment)
    recipe = validate(data, str(path), overrides)
    backbone = resolve_factory(recipe.model.backbone, path.parent)
    return recipe.model_copy(
        update={"model": recipe.model.model_copy(update={"backbone": backbone})}
    )


def dump_recipe(recipe: Recipe) -> str:
    """The fully resolved recipe as YAML (defaults included), loadable by :func:`load_recipe`."""
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False)
