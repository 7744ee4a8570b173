"""Data for the training runner: the embedded ``shapes`` sets, CIFAR-10, image folders,
and for detection ``detection_shapes``, ``cifar10_canvas`` and COCO files.

``build_datasets(data, seed)`` gives (train, val, class_names), datasets of
(image float32 [3, S, S], label int64), of (image, mask) for segmentation and of (image,
boxes) for detection; ``build_loader(...)`` batches one rank's shard in a fixed order per
(seed, epoch). Unreadable data raises :class:`DataError`.
"""

from __future__ import annotations

from .cifar10 import read_cifar10
from .errors import DataError
from .image_folder import ImageFiles, read_image_folder
from .loaders import (
    DetectionDataset,
    ImageDataset,
    ShardedBatchSampler,
    batches_of,
    build_datasets,
    build_loader,
)
from .shapes import CLASSES as SHAPE_CLASSES
from .shapes import generate_shapes
from .transforms import (
    CIFAR10_NORMALIZATION,
    IMAGENET_NORMALIZATION,
    Normalization,
    SampleTransform,
)

__all__ = [
    "CIFAR10_NORMALIZATION",
    "IMAGENET_NORMALIZATION",
    "SHAPE_CLASSES",
    "DataError",
    "DetectionDataset",
    "ImageDataset",
    "ImageFiles",
    "Normalization",
    "SampleTransform",
    "ShardedBatchSampler",
    "batches_of",
    "build_datasets",
    "build_loader",
    "generate_shapes",
    "read_cifar10",
    "read_image_folder",
]
