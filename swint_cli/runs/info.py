"""``run.json``: what a run's model needs outside training, and the recipe it started with.

Written when training starts, so that ``swint export`` and ``swint predict`` never read the
training data again (a run copied to another machine works), and so that ``--resume`` can
tell whether ``recipe.yaml`` was edited since::

    {"format": 1, "task": "classification", "classes": [...], "image_size": 32,
     "normalization": {"mean": [r, g, b], "std": [r, g, b]}, "preprocessing": "...",
     "recipe_sha256": "<sha256 of recipe.yaml as written>", "recipe": {...resolved recipe}}
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..files import read_json, write_json
from .layout import INFO, RunError, inside

FORMAT = 1
PREPROCESSING = (
    "RGB, bilinear resize to image_size x image_size, x / 255, (x - mean) / std per channel"
)


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, kw_only=True)
class RunInfo:
    """The model's task, class names and input preparation, and the recipe as started."""

    task: str
    classes: tuple[str, ...]
    image_size: int
    mean: tuple[float, float, float]  # of pixels in [0, 1]; 0 and 1 when not normalised
    std: tuple[float, float, float]
    recipe_sha256: str
    recipe: dict
    # a network of the user's own: its factory, source file and that file's sha256
    backbone_source: dict[str, str] | None = None
    # detection: each class's category id in the data (COCO results name classes by it)
    category_ids: tuple[int, ...] | None = None

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "task": self.task,
            "classes": list(self.classes),
            "image_size": self.image_size,
            "normalization": {"mean": list(self.mean), "std": list(self.std)},
            "preprocessing": PREPROCESSING,
            "recipe_sha256": self.recipe_sha256,
            "recipe": self.recipe,
            **({"backbone_source": self.backbone_source} if self.backbone_source else {}),
            **({"category_ids": list(self.category_ids)} if self.category_ids else {}),
        }

    @classmethod
    def from_json(cls, data: object, source: Path) -> RunInfo:
        """Parse ``run.json`` content; RunError naming ``source`` when a field is malformed."""
        try:
            if not isinstance(data, dict):
                raise TypeError("not a mapping")
            norm = data["normalization"]
            mean, std = tuple(map(float, norm["mean"])), tuple(map(float, norm["std"]))
            if len(mean) != 3 or len(std) != 3 or not isinstance(data["recipe"], dict):
                raise ValueError("normalization or recipe")
            return cls(
                task=str(data["task"]),
                classes=tuple(str(name) for name in data["classes"]),
                image_size=int(data["image_size"]),
                mean=mean,  # type: ignore[arg-type]
                std=std,  # type: ignore[arg-type]
                recipe_sha256=str(data["recipe_sha256"]),
                recipe=data["recipe"],
                backbone_source=data.get("backbone_source"),
                category_ids=_category_ids(data.get("category_ids"), len(data["classes"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            what = f"missing {exc}" if isinstance(exc, KeyError) else "malformed"
            raise RunError(f"{source}: not a readable run description ({what})") from None


def _category_ids(value: object, classes: int) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != classes:
        raise ValueError("category_ids")
    return tuple(int(v) for v in value)


def write_info(run: Path, info: RunInfo) -> None:
    """Write ``run.json``; WriteError naming it when it cannot be written."""
    write_json(run / INFO, info.to_json())


def read_info(run: Path) -> RunInfo | None:
    """The run's :class:`RunInfo`; None for a run written before ``run.json`` existed.
    RunError when it cannot be read or leads outside the run."""
    path = inside(run, INFO)
    if not path.is_file():
        return None
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: cannot read ({exc})") from None
    return RunInfo.from_json(data, path)


def flatten(data: object, prefix: str = "") -> dict[str, object]:
    """Nested mappings and lists as dotted keys: ``{"a": {"b": [1]}}`` -> ``{"a.b[0]": 1}``.
    Empty mappings and lists stay values."""
    if isinstance(data, dict) and data:
        items = [(f"{prefix}.{key}" if prefix else str(key), value) for key, value in data.items()]
    elif isinstance(data, list) and data:
        items = [(f"{prefix}[{index}]", value) for index, value in enumerate(data)]
    else:
        return {prefix: data}
    flat: dict[str, object] = {}
    for key, value in items:
        flat.update(flatten(value, key))
    return flat


def first_difference(before: dict, after: dict) -> str | None:
    """``key: old -> new`` for the first dotted key whose value differs, or None."""
    old, new = flatten(before), flatten(after)
    for key in dict.fromkeys([*old, *new]):
        if old.get(key, "(absent)") != new.get(key, "(absent)"):
            return f"{key}: {old.get(key, '(absent)')!r} -> {new.get(key, '(absent)')!r}"
    return None
