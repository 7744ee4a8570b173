"""Detection data: boxes move with the pixels, the generated sets draw what their boxes say,
and COCO files are read (any category ids, crowd boxes, empty images) or refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from swint_cli.data import DataError
from swint_cli.data.box_transforms import DetectionTransform, crop_with_boxes, flip_boxes
from swint_cli.data.cifar10 import read_cifar10
from swint_cli.data.cifar10_canvas import generate_cifar10_canvas
from swint_cli.data.coco import read_coco_splits
from swint_cli.data.detection_shapes import generate_detection_shapes
from swint_cli.data.transforms import IDENTITY
from swint_cli.recipe.schema import DataSection, Transforms


class FixedDraws:
    """A stand-in generator whose uniform and integer draws are given in order."""

    def __init__(self, uniform: list[float], integers: list[int], random: list[float] = ()):
        self.uniform_values, self.integer_values = list(uniform), list(integers)
        self.random_values = list(random)

    def uniform(self, low: float, high: float) -> float:
        return low + self.uniform_values.pop(0) * (high - low)

    def integers(self, low: int, high: int) -> int:
        return self.integer_values.pop(0)

    def random(self) -> float:
        return self.random_values.pop(0)


def test_a_crop_clips_the_boxes_it_cuts_and_drops_those_it_leaves_too_thin():
    image = np.zeros((100, 100, 3), np.uint8)
    boxes = np.array([[10, 10, 30, 30], [75, 30, 85, 40], [90, 90, 99, 99]], np.float32)
    labels = np.array([0, 1, 2])
    # each side 0.6 of the image's (uniform draw 0 -> MIN_CROP), at top 20, left 20
    crop, kept, kept_labels = crop_with_boxes(image, boxes, labels, FixedDraws([0, 0], [20, 20]))
    assert crop.shape == (60, 60, 3)
    np.testing.assert_allclose(kept, [[0, 0, 10, 10], [55, 10, 60, 20]])
    assert kept_labels.tolist() == [0, 1]


def test_a_flip_mirrors_the_boxes():
    np.testing.assert_allclose(
        flip_boxes(np.array([[2, 3, 10, 7]], np.float32), 32), [[22, 3, 30, 7]]
    )


@pytest.mark.parametrize("seed", range(6))
def test_after_crop_resize_and_flip_each_box_still_frames_its_painted_rectangle(seed):
    image = np.zeros((48, 80, 3), np.uint8)
    boxes = np.array([[8, 6, 30, 26], [44, 20, 72, 42]], np.float32)
    for x1, y1, x2, y2 in boxes.astype(int):
        image[y1:y2, x1:x2] = 255
    settings = Transforms(random_crop=True, horizontal_flip=True, normalize=False)
    transform = DetectionTransform(40, settings, IDENTITY, augment=True)
    pixels, moved, _ = transform.detection(
        image, boxes, np.array([0, 1]), np.random.default_rng(seed)
    )
    grey = pixels[0]  # [40, 40] in [0, 1]
    inside = np.zeros_like(grey, bool)
    for x1, y1, x2, y2 in moved:
        core = grey[int(np.ceil(y1)) + 1 : int(y2) - 1, int(np.ceil(x1)) + 1 : int(x2) - 1]
        assert core.size == 0 or core.min() > 0.9
        inside[int(y1) : int(np.ceil(y2)), int(x1) : int(np.ceil(x2))] = True
    margin = np.zeros_like(inside)  # one pixel around the boxes may blend (bilinear)
    for x1, y1, x2, y2 in moved:
        margin[
            max(0, int(y1) - 1) : int(np.ceil(y2)) + 1, max(0, int(x1) - 1) : int(np.ceil(x2)) + 1
        ] = True
    assert grey[~margin].max(initial=0) < 0.1


def test_detection_shapes_are_seeded_per_canvas_and_their_boxes_frame_the_drawn_pixels():
    few = generate_detection_shapes(3, seed=4, split="train", size=48)
    more = generate_detection_shapes(6, seed=4, split="train", size=48)
    np.testing.assert_array_equal(few.images, more.images[:3])
    for image, boxes, labels in zip(more.images, more.boxes, more.labels, strict=True):
        assert 1 <= len(boxes) <= 3 and set(labels.tolist()) <= set(range(5))
        background = np.median(image.reshape(-1, 3), axis=0)
        for x1, y1, x2, y2 in boxes.astype(int):
            assert 0 <= x1 < x2 <= 48 and 0 <= y1 < y2 <= 48
            region = image[y1:y2, x1:x2].astype(float)
            # the object's colour differs from the background's on its box's edge rows
            assert np.abs(region - background).sum(axis=2).max() > 40


def test_cifar10_canvas_pastes_photos_of_the_boxes_class(cifar_mini: Path):
    split, names = generate_cifar10_canvas(cifar_mini, 2, seed=0, split="val", size=96)
    assert len(names) == 10 and split.images.shape == (2, 96, 96, 3)
    photos, classes = read_cifar10(str(cifar_mini))[1]
    for image, boxes, labels in zip(split.images, split.boxes, split.labels, strict=True):
        assert 1 <= len(boxes) <= 4
        for (x1, y1, x2, y2), label in zip(boxes.astype(int), labels, strict=True):
            pasted = image[y1:y2, x1:x2]
            # the pasted pixels are exactly one photo of that class, resized to the box
            matches = [
                i
                for i in np.flatnonzero(classes == label)
                if np.array_equal(
                    np.asarray(
                        Image.fromarray(photos[i]).resize(
                            (x2 - x1, y2 - y1), Image.Resampling.BILINEAR
                        )
                    ),
                    pasted,
                )
            ]
            assert matches


def _coco(tmp_path: Path) -> DataSection:
    """A tiny COCO set: categories with ids 7 and 3, a crowd box, an image without boxes."""
    folder = tmp_path / "images"
    folder.mkdir()
    for name, size in (("a.png", (40, 30)), ("b.jpg", (20, 20)), ("c.png", (16, 24))):
        Image.new("RGB", size, (90, 20, 200)).save(folder / name)
    data = {
        "images": [
            {"id": 11, "file_name": "a.png", "width": 40, "height": 30},
            {"id": 5, "file_name": "b.jpg", "width": 20, "height": 20},
            {"id": 9, "file_name": "c.png", "width": 16, "height": 24},
        ],
        "annotations": [
            {"id": 1, "image_id": 11, "category_id": 7, "bbox": [1, 2, 10, 5]},
            {"id": 2, "image_id": 11, "category_id": 3, "bbox": [20, 10, 20, 20], "iscrowd": 0},
            {"id": 3, "image_id": 5, "category_id": 7, "bbox": [0, 0, 20, 20], "iscrowd": 1},
        ],
        "categories": [{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}],
    }
    (tmp_path / "train.json").write_text(json.dumps(data))
    (tmp_path / "val.json").write_text(json.dumps(data))
    return DataSection(
        dataset="coco",
        train_images=str(folder),
        train_annotations=str(tmp_path / "train.json"),
        val_images=str(folder),
        val_annotations=str(tmp_path / "val.json"),
    )


def test_coco_classes_are_the_categories_by_id_crowds_kept_apart_and_empty_images_allowed(tmp_path):
    train, val, categories = read_coco_splits(_coco(tmp_path))
    assert [(c.id, c.name) for c in categories] == [(3, "dog"), (7, "cat")]
    assert train.image_ids == [11, 5, 9] and train.sizes == [(40, 30), (20, 20), (16, 24)]
    np.testing.assert_allclose(train.boxes[0], [[1, 2, 11, 7], [20, 10, 40, 30]])
    assert train.labels[0].tolist() == [1, 0]
    assert len(train.boxes[1]) == 0 and train.crowd_labels[1].tolist() == [1]
    assert len(train.boxes[2]) == 0 and len(train.crowd_boxes[2]) == 0
    truth = val.ground_truth(categories)
    crowd = [a for a in truth["annotations"] if a["iscrowd"]]
    assert [(a["image_id"], a["category_id"], a["bbox"]) for a in crowd] == [(5, 7, [0, 0, 20, 20])]
    assert {a["category_id"] for a in truth["annotations"]} == {3, 7}


def _break(tmp_path: Path, change) -> DataSection:
    section = _coco(tmp_path)
    data = json.loads((tmp_path / "train.json").read_text())
    change(data, tmp_path / "images")
    (tmp_path / "train.json").write_text(json.dumps(data))
    return section


BAD_COCO = {
    "zero_width": (
        lambda d, _: d["annotations"][0].update(bbox=[1, 2, 0, 5]),
        "annotations[0]: bbox [1, 2, 0, 5] has non-positive width or height",
    ),
    "outside": (
        lambda d, _: d["annotations"][1].update(bbox=[30, 10, 20, 20]),
        "annotations[1]: bbox [30, 10, 20, 20] is outside its 40x30 image",
    ),
    "past_the_edge": (  # within the edge tolerance of the right side, none of it inside
        lambda d, _: d["annotations"][1].update(bbox=[40.005, 10, 0.004, 5]),
        "annotations[1]: bbox [40.005, 10, 0.004, 5] is outside its 40x30 image",
    ),
    "unknown_image": (
        lambda d, _: d["annotations"][0].update(image_id=99),
        "annotations[0]: image_id 99 is not among the file's images",
    ),
    "unknown_category": (
        lambda d, _: d["annotations"][0].update(category_id=4),
        "annotations[0]: category_id 4 is not a category (ids: 3, 7)",
    ),
    "missing_image": (
        lambda d, folder: (folder / "b.jpg").unlink(),
        "images[1]: image file",
    ),
    "unreadable_image": (
        lambda d, folder: (folder / "c.png").write_bytes(b"not a png"),
        "images[2]:",
    ),
}


@pytest.mark.parametrize("case", list(BAD_COCO))
def test_bad_coco_data_is_one_error_naming_the_file_and_entry(tmp_path, case):
    change, message = BAD_COCO[case]
    with pytest.raises(DataError) as error:
        read_coco_splits(_break(tmp_path, change))
    text = str(error.value)
    assert "train.json" in text and message in text and "\n" not in text
