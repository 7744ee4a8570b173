"""COCO-format detection data: an image folder and an annotation file per split.

``data.train_images`` / ``data.train_annotations`` and ``data.val_images`` /
``data.val_annotations``. The annotation file is COCO's: ``images`` (``id``, ``file_name``
relative to the image folder, ``width``, ``height``), ``annotations`` (``image_id``,
``category_id``, ``bbox`` as ``[x, y, w, h]`` pixels, optional ``iscrowd``) and
``categories`` (``id``, ``name``). Category ids may be any integers: classes are the
categories sorted by id. Crowd boxes are kept for evaluation only; images without boxes are
allowed. Everything is checked when the data is read (each image's header included), and the
first problem is a :class:`DataError` naming the file and what was expected.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..recipe.schema import DataSection
from .detection_set import Category, DetectionSplit
from .errors import DataError
from .image_folder import ImageFiles

EDGE_TOLERANCE = 0.01  # pixels a box may pass the image's edge (rounding in exports)


def _load(path: Path, key: str) -> dict:
    if not path.is_file():
        raise DataError(f"data.{key}: {path} not found; expected a COCO annotation file (JSON)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"data.{key}: {path} is not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"data.{key}: {path}: expected a COCO object, got {type(data).__name__}")
    for field in ("images", "annotations", "categories"):
        if not isinstance(data.get(field), list):
            raise DataError(f"data.{key}: {path}: expected a list {field!r}")
    return data


def _entry(where: str, item: object, fields: dict[str, type | tuple[type, ...]]) -> dict:
    """``item`` as a dict having ``fields`` of those types; DataError naming ``where``."""
    if not isinstance(item, dict):
        raise DataError(f"{where}: expected an object, got {type(item).__name__}")
    for name, kind in fields.items():
        value = item.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise DataError(f"{where}: expected {name!r} of type {_kind_name(kind)}")
    return item


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


@dataclass(frozen=True)
class _AnnotationFile:
    """One split's image folder and its annotation file, parsed once."""

    key: str  # data.<key> names the annotation file
    folder: Path
    file: Path
    data: dict


def _annotation_file(data: DataSection, split: str) -> _AnnotationFile:
    """The split's ``data.{split}_images`` folder and parsed ``data.{split}_annotations``;
    DataError when either is unset, the folder is missing or the file is not COCO JSON."""
    image_key, annotation_key = f"{split}_images", f"{split}_annotations"
    images, annotations = getattr(data, image_key), getattr(data, annotation_key)
    for key, value in ((image_key, images), (annotation_key, annotations)):
        if not value:
            raise DataError(
                f"data.{key} is not set: dataset coco needs data.{image_key} and "
                f"data.{annotation_key}"
            )
    folder, file = Path(images).expanduser(), Path(annotations).expanduser()
    if not folder.is_dir():
        raise DataError(f"data.{image_key}: {folder} is not a directory")
    return _AnnotationFile(annotation_key, folder, file, _load(file, annotation_key))


def _categories(annotations: _AnnotationFile) -> list[Category]:
    """The categories of an annotation file, sorted by id (the class order)."""
    where = f"data.{annotations.key}: {annotations.file}"
    categories = []
    for index, item in enumerate(annotations.data["categories"]):
        entry = _entry(f"{where}: categories[{index}]", item, {"id": int, "name": str})
        categories.append(Category(entry["id"], entry["name"]))
    ids = [c.id for c in categories]
    if len(set(ids)) != len(ids):
        raise DataError(f"{where}: category ids repeat")
    if not categories:
        raise DataError(f"{where}: no categories")
    return sorted(categories, key=lambda c: c.id)


def _image_size(path: Path, where: str) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError:
        raise DataError(f"{where}: image file {path} not found") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{where}: {path} is not a readable image ({exc})") from None


def _box(where: str, bbox: object, width: int, height: int) -> list[float]:
    """``[x, y, w, h]`` as ``[x1, y1, x2, y2]``; DataError unless w, h > 0 and it is inside."""
    if not (
        isinstance(bbox, list)
        and len(bbox) == 4
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)
        and all(math.isfinite(v) for v in bbox)
    ):
        raise DataError(f"{where}: expected 'bbox' as [x, y, width, height] numbers")
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0:
        raise DataError(f"{where}: bbox {bbox} has non-positive width or height")
    tolerance = EDGE_TOLERANCE
    clipped = [max(0.0, x), max(0.0, y), min(float(width), x + w), min(float(height), y + h)]
    outside = x < -tolerance or y < -tolerance or x + w > width + tolerance
    if (
        outside
        or y + h > height + tolerance
        or clipped[2] <= clipped[0]
        or clipped[3] <= clipped[1]
    ):
        raise DataError(f"{where}: bbox {bbox} is outside its {width}x{height} image")
    return clipped


def _read_split(annotations: _AnnotationFile, categories: list[Category]) -> DetectionSplit:
    """The split of an annotation file, its classes indexed by their position in
    ``categories``."""
    folder, data = annotations.folder, annotations.data
    where_file = f"data.{annotations.key}: {annotations.file}"
    class_of = {c.id: index for index, c in enumerate(categories)}
    ids, names, sizes, paths = [], [], [], []
    position: dict[int, int] = {}
    for index, item in enumerate(data["images"]):
        where = f"{where_file}: images[{index}]"
        entry = _entry(where, item, {"id": int, "file_name": str, "width": int, "height": int})
        if entry["id"] in position:
            raise DataError(f"{where}: image id {entry['id']} repeats")
        path = folder / entry["file_name"]
        size = _image_size(path, where)
        if size != (entry["width"], entry["height"]):
            raise DataError(
                f"{where}: {path} is {size[0]}x{size[1]} but the file says "
                f"{entry['width']}x{entry['height']}"
            )
        position[entry["id"]] = len(ids)
        ids.append(entry["id"])
        names.append(entry["file_name"])
        sizes.append(size)
        paths.append(path)
    boxes: list[list[list[float]]] = [[] for _ in ids]
    labels: list[list[int]] = [[] for _ in ids]
    crowd: list[list[list[float]]] = [[] for _ in ids]
    crowd_labels: list[list[int]] = [[] for _ in ids]
    for index, item in enumerate(data["annotations"]):
        where = f"{where_file}: annotations[{index}]"
        entry = _entry(where, item, {"image_id": int, "category_id": int})
        if entry["image_id"] not in position:
            raise DataError(f"{where}: image_id {entry['image_id']} is not among the file's images")
        if entry["category_id"] not in class_of:
            known = ", ".join(str(c.id) for c in categories)
            raise DataError(
                f"{where}: category_id {entry['category_id']} is not a category (ids: {known})"
            )
        at = position[entry["image_id"]]
        box = _box(where, entry.get("bbox"), *sizes[at])
        is_crowd = bool(entry.get("iscrowd", 0))
        (crowd if is_crowd else boxes)[at].append(box)
        (crowd_labels if is_crowd else labels)[at].append(class_of[entry["category_id"]])

    def arrays(items: list[list], columns: int | None, dtype: type) -> list[np.ndarray]:
        shape = (-1, columns) if columns else (-1,)
        return [np.asarray(i, dtype).reshape(shape) for i in items]

    return DetectionSplit(
        images=ImageFiles(paths),
        boxes=arrays(boxes, 4, np.float32),
        labels=arrays(labels, None, np.int64),
        crowd_boxes=arrays(crowd, 4, np.float32),
        crowd_labels=arrays(crowd_labels, None, np.int64),
        image_ids=ids,
        file_names=names,
        sizes=sizes,
    )


def read_coco_splits(data: DataSection) -> tuple[DetectionSplit, DetectionSplit, list[Category]]:
    """(train, val, categories) of a recipe's ``data`` section with ``dataset: coco``, each
    annotation file read once; the two files must have the same categories."""
    train, val = _annotation_file(data, "train"), _annotation_file(data, "val")
    categories, val_categories = _categories(train), _categories(val)
    if [c.id for c in val_categories] != [c.id for c in categories]:
        raise DataError(
            f"data.val_annotations: its category ids {[c.id for c in val_categories]} differ "
            f"from data.train_annotations' {[c.id for c in categories]}"
        )
    return _read_split(train, categories), _read_split(val, categories), categories
