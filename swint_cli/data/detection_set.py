"""A detection split: images, their boxes and classes, and the ground truth as COCO writes it.

Boxes are ``(x1, y1, x2, y2)`` float32 pixels of the image as stored. Crowd boxes
(``iscrowd``) are kept apart: training never sees them, evaluation counts a detection on one
as neither right nor wrong (COCO's rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .image_folder import ImageFiles

Images = np.ndarray | ImageFiles  # uint8 [N, H, W, 3], or files read on demand


@dataclass(frozen=True)
class Category:
    """A class: its id in the annotations (any integer) and its name."""

    id: int
    name: str


@dataclass
class DetectionSplit:
    """N images with, per image, boxes ``(n, 4)`` and class indices ``(n,)``, crowd boxes and
    their classes, the image's id, file name and ``(width, height)``."""

    images: Images
    boxes: list[np.ndarray]
    labels: list[np.ndarray]
    crowd_boxes: list[np.ndarray]
    crowd_labels: list[np.ndarray]
    image_ids: list[int]
    file_names: list[str]
    sizes: list[tuple[int, int]]

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def max_boxes(self) -> int:
        """The most (non-crowd) boxes of any image."""
        return max((len(b) for b in self.boxes), default=0)

    def subset(self, keep: Sequence[int]) -> DetectionSplit:
        """The images at ``keep``, in that order."""
        keep = list(keep)
        images = self.images.subset(keep) if isinstance(self.images, ImageFiles) else None
        return DetectionSplit(
            images=images if images is not None else self.images[np.asarray(keep, np.int64)],
            **{
                name: [getattr(self, name)[i] for i in keep]
                for name in (
                    "boxes",
                    "labels",
                    "crowd_boxes",
                    "crowd_labels",
                    "image_ids",
                    "file_names",
                    "sizes",
                )
            },
        )

    def ground_truth(self, categories: Sequence[Category]) -> dict:
        """The split as a COCO annotation file (``images``, ``annotations`` with ``bbox`` as
        ``[x, y, w, h]``, ``area`` and ``iscrowd``, ``categories``), category ids the data's."""
        images, annotations = [], []
        for index, image_id in enumerate(self.image_ids):
            width, height = self.sizes[index]
            images.append(
                {
                    "id": image_id,
                    "file_name": self.file_names[index],
                    "width": width,
                    "height": height,
                }
            )
            for crowd, (boxes, labels) in enumerate(
                [
                    (self.boxes[index], self.labels[index]),
                    (self.crowd_boxes[index], self.crowd_labels[index]),
                ]
            ):
                for box, label in zip(boxes.tolist(), labels.tolist(), strict=True):
                    x1, y1, x2, y2 = box
                    annotations.append(
                        {
                            "id": len(annotations) + 1,
                            "image_id": image_id,
                            "category_id": categories[label].id,
                            "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "area": (x2 - x1) * (y2 - y1),
                            "iscrowd": crowd,
                        }
                    )
        return {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": c.id, "name": c.name} for c in categories],
        }


def no_boxes() -> tuple[np.ndarray, np.ndarray]:
    """An image's empty boxes ``(0, 4)`` and classes ``(0,)``."""
    return np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
