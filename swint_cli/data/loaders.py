"""Datasets and loaders for the training runner.

Reproducibility: the batch order comes from ``default_rng((seed, epoch))`` in the main
process (every rank draws the same permutation, then takes its shard), and each sample's
augmentation from ``default_rng((seed, epoch, index))`` wherever it is loaded; batches are
therefore identical for any ``num_workers``. No global random state is used.
"""

from __future__ import annotations

import atexit
import inspect
import math
import shutil
import signal
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import paddle

from ..recipe.schema import DETECTION_DATASETS, SEGMENTATION_DATASETS, DataSection
from .box_transforms import DetectionTransform
from .canvas import DEFAULT_SIZES as CANVASES
from .cifar10 import read_cifar10
from .cifar10_canvas import generate_cifar10_canvas
from .coco import read_coco_splits
from .detection_set import Category, DetectionSplit
from .detection_shapes import CLASSES as DETECTION_SHAPE_CLASSES
from .detection_shapes import generate_detection_shapes
from .errors import DataError
from .image_folder import ImageFiles, read_image_folder
from .segmentation_folder import MaskFiles, read_segmentation_folder
from .shapes import CLASSES as SHAPE_CLASSES
from .shapes import (
    DEFAULT_SIZES,
    SEGMENTATION_CLASSES,
    generate_segmentation_shapes,
    generate_shapes,
)
from .shapes import MEAN as SHAPES_MEAN
from .shapes import STD as SHAPES_STD
from .transforms import (
    CIFAR10_NORMALIZATION,
    IMAGENET_NORMALIZATION,
    Normalization,
    SampleTransform,
)

Images = np.ndarray | ImageFiles  # uint8 [N, H, W, 3], or files read on demand
Targets = np.ndarray | MaskFiles  # int64 [N] labels, uint8 [N, H, W] masks, or mask files
SHARED_MEMORY_MIN = 1 << 30  # bytes free in /dev/shm below which workers use pipes instead
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
SHUTDOWN_SECONDS = 10  # for loader workers to exit when asked


class ImageDataset(paddle.io.Dataset):
    """``dataset[i]`` -> (image float32 [3, S, S], label int64).

    When the transform is random, sample ``i`` draws from ``default_rng((seed, epoch, i))``;
    :meth:`set_epoch` changes the epoch. Call it before creating the loader: worker processes
    copy the dataset when iteration starts.
    """

    def __init__(
        self, images: Images, labels: Targets, transform: SampleTransform, seed: int
    ) -> None:
        super().__init__()
        self.images, self.labels, self.transform, self.seed = images, labels, transform, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.labels)

    def _rng(self, index: int) -> np.random.Generator | None:
        if not self.transform.random:
            return None
        return np.random.default_rng((self.seed, self.epoch, index))

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.int64]:
        index = int(index)
        return self.transform(self.images[index], self._rng(index)), np.int64(self.labels[index])


class SegmentationDataset(ImageDataset):
    """``dataset[i]`` -> (image float32 [3, S, S], mask int64 [S, S]); masks as labels."""

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[override]
        index = int(index)
        return self.transform.pair(self.images[index], self.labels[index], self._rng(index))


class DetectionDataset(ImageDataset):
    """``dataset[i]`` -> (image float32 [3, S, S], labels): ``boxes`` float32 [M, 4] in the
    S x S image's pixels, ``classes`` int64 [M] (-1 after the image's own boxes) and
    ``index`` int64 (i), M being the most boxes any image of the split has (at least 1).
    ``split`` keeps the images' own sizes and ids, ``categories`` the classes' ids."""

    def __init__(
        self,
        split: DetectionSplit,
        categories: list[Category],
        transform: DetectionTransform,
        seed: int,
    ) -> None:
        super().__init__(split.images, split.boxes, transform, seed)  # type: ignore[arg-type]
        self.split, self.categories = split, categories
        self.slots = max(1, split.max_boxes)

    def __getitem__(self, index: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:  # type: ignore[override]
        index = int(index)
        split = self.split
        image, boxes, labels = self.transform.detection(
            self.images[index], split.boxes[index], split.labels[index], self._rng(index)
        )
        padded = np.zeros((self.slots, 4), np.float32)
        classes = np.full(self.slots, -1, np.int64)
        padded[: len(boxes)], classes[: len(labels)] = boxes, labels
        return image, {"boxes": padded, "classes": classes, "index": np.int64(index)}


def _detection_splits(
    data: DataSection, seed: int
) -> tuple[DetectionSplit, DetectionSplit, list[Category], Normalization]:
    """(train, val, categories, normalisation) of a detection ``data`` section, subsets of
    ``train_size``/``val_size`` taken from read data."""
    size = data.image_size
    if data.dataset == "coco":
        if data.path:
            raise DataError(
                "data.path: dataset coco reads data.train_images, data.train_annotations, "
                "data.val_images and data.val_annotations; unset data.path"
            )
        train, val, categories = read_coco_splits(data)
        splits = [
            _subset_split(s, n, seed, name)
            for s, n, name in ((train, data.train_size, "train"), (val, data.val_size, "val"))
        ]
        return splits[0], splits[1], categories, IMAGENET_NORMALIZATION
    counts = {
        split: getattr(data, f"{split}_size") or CANVASES[split] for split in ("train", "val")
    }
    if data.dataset == "cifar10_canvas":
        made = {
            split: generate_cifar10_canvas(data.path, counts[split], seed, split, size)
            for split in counts
        }
        names = made["train"][1]
        categories = [Category(index, name) for index, name in enumerate(names)]
        return made["train"][0], made["val"][0], categories, CIFAR10_NORMALIZATION
    _refuse_path(data)
    splits = [generate_detection_shapes(counts[s], seed, s, size) for s in ("train", "val")]
    categories = [Category(index, name) for index, name in enumerate(DETECTION_SHAPE_CLASSES)]
    return splits[0], splits[1], categories, Normalization(SHAPES_MEAN, SHAPES_STD)


def _refuse_path(data: DataSection) -> None:
    """DataError when ``data.path`` is set for a generated dataset, which reads no files."""
    if data.path:
        raise DataError(
            f"data.path is {data.path!r} but data.dataset is {data.dataset}, which reads no "
            "files (set data.dataset to a dataset that reads data.path)"
        )


def _subset_split(split: DetectionSplit, size: int | None, seed: int, name: str) -> DetectionSplit:
    keep = _subset_indices(len(split), size, seed, name)
    return split if keep is None else split.subset(keep.tolist())


def build_detection_datasets(
    data: DataSection, seed: int
) -> tuple[DetectionDataset, DetectionDataset, list[str]]:
    """(train, val, class names) of a detection ``data`` section: ``detection_shapes``,
    ``cifar10_canvas`` (generated at ``data.image_size``, ``train_size``/``val_size``
    canvases) or ``coco`` (read, a seeded subset when the sizes are set)."""
    train, val, categories, normalization = _detection_splits(data, seed)

    def dataset(split: DetectionSplit, augment: bool) -> DetectionDataset:
        transform = DetectionTransform(data.image_size, data.transforms, normalization, augment)
        return DetectionDataset(split, categories, transform, seed)

    return dataset(train, True), dataset(val, False), [c.name for c in categories]


def _take(items: Images | Targets, keep: np.ndarray) -> Images | Targets:
    return items.subset(keep.tolist()) if isinstance(items, ImageFiles) else items[keep]


def chosen_classes(names: list[str], chosen: list[str | int]) -> list[int]:
    """The indices of ``data.classes`` (names or indices) among the data's ``names``;
    DataError naming the first that is not a class, or a repeat."""
    indices = []
    for item in chosen:
        index = item if isinstance(item, int) else names.index(item) if item in names else None
        if index is None or not 0 <= index < len(names):
            raise DataError(
                f"data.classes: {item!r} is not a class of the data "
                f"(names: {', '.join(names)}; or indices 0-{len(names) - 1})"
            )
        if index in indices:
            raise DataError(f"data.classes: {names[index]!r} is given twice")
        indices.append(index)
    return indices


def _only(split: tuple[Images, Targets], indices: list[int]) -> tuple[Images, Targets]:
    """The samples of classes ``indices``, relabelled to their position in it (0..k-1)."""
    images, labels = split
    labels = np.asarray(labels)
    keep = np.flatnonzero(np.isin(labels, indices))
    relabel = np.zeros(max(indices) + 1, np.int64)
    relabel[indices] = np.arange(len(indices))
    return _take(images, keep), relabel[labels[keep]]


def _subset(
    images: Images, labels: Targets, size: int | None, seed: int, split: str
) -> tuple[Images, Targets]:
    """``size`` samples picked by a seeded permutation (kept in file order), or all of them."""
    keep = _subset_indices(len(labels), size, seed, split)
    return (images, labels) if keep is None else (_take(images, keep), _take(labels, keep))


def _subset_indices(count: int, size: int | None, seed: int, split: str) -> np.ndarray | None:
    """Which ``size`` of a split's ``count`` samples ``data.{split}_size`` keeps: a seeded
    permutation's first, in file order; None (all) when the size is not set."""
    if size is None:
        return None
    if size > count:
        raise DataError(
            f"data.{split}_size is {size} but the {split} split has only {count} images"
        )
    split_id = ("train", "val").index(split)
    return np.sort(np.random.default_rng((seed, split_id)).permutation(count)[:size])


def build_datasets(data: DataSection, seed: int) -> tuple[ImageDataset, ImageDataset, list[str]]:
    """(train, val, class_names) for the recipe's ``data`` section.

    ``shapes`` and ``segmentation_shapes`` generate ``train_size``/``val_size`` images
    (default 5,000 and 1,000) from ``seed``; ``cifar10``, ``image_folder`` and
    ``segmentation_folder`` read ``data.path`` and, when the sizes are set, keep a subset
    chosen by ``seed``. ``data.classes`` keeps the samples of those classes only (after the
    sizes), relabelled 0..k-1 in its order; the class names are theirs. Train augments as
    ``data.transforms`` says; val does not. The segmentation sets are
    :class:`SegmentationDataset` s of (image, mask).
    """
    if data.dataset in DETECTION_DATASETS:
        return build_detection_datasets(data, seed)  # type: ignore[return-value]
    normalization: Normalization
    generated = {"shapes": generate_shapes, "segmentation_shapes": generate_segmentation_shapes}
    if data.dataset in generated:
        _refuse_path(data)
        generate = generated[data.dataset]
        train = generate(data.train_size or DEFAULT_SIZES["train"], seed, "train")
        val = generate(data.val_size or DEFAULT_SIZES["val"], seed, "val")
        classes = list(SHAPE_CLASSES if data.dataset == "shapes" else SEGMENTATION_CLASSES)
        normalization = Normalization(SHAPES_MEAN, SHAPES_STD)
    else:
        if data.dataset == "cifar10":
            (train, val, classes), normalization = read_cifar10(data.path), CIFAR10_NORMALIZATION
        elif data.dataset == "segmentation_folder":
            (train, val, classes) = read_segmentation_folder(data.path)
            normalization = IMAGENET_NORMALIZATION
        else:
            (train, val, classes) = read_image_folder(data.path)
            normalization = IMAGENET_NORMALIZATION
        train = _subset(*train, data.train_size, seed, "train")
        val = _subset(*val, data.val_size, seed, "val")

    kind = SegmentationDataset if data.dataset in SEGMENTATION_DATASETS else ImageDataset
    if data.classes is not None:
        if kind is SegmentationDataset:
            raise DataError("data.classes: applies to classification data, not segmentation")
        indices = chosen_classes(classes, data.classes)
        train, val = _only(train, indices), _only(val, indices)
        classes = [classes[index] for index in indices]

    def dataset(split: tuple[Images, Targets], augment: bool) -> ImageDataset:
        transform = SampleTransform(data.image_size, data.transforms, normalization, augment)
        return kind(*split, transform, seed)

    return dataset(train, True), dataset(val, False), classes


class ShardedBatchSampler(paddle.io.Sampler):
    """Batches of indices of one rank's shard, in a fixed order per ``(seed, epoch)``.

    The order (a permutation when ``shuffle``, else 0..N-1) is padded by repeating it from
    the start to a multiple of ``world_size``, as ``paddle.io.DistributedBatchSampler`` does;
    rank ``r`` takes every ``world_size``-th index from ``r``. Shards are equal in length,
    disjoint when N is a multiple of ``world_size``, and together cover all N indices.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        shuffle: bool,
        seed: int,
        epoch: int,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
    ) -> None:
        super().__init__()
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world size {world_size}")
        order = np.arange(size)
        if shuffle:
            order = np.random.default_rng((seed, epoch)).permutation(size)
        padded = np.resize(order, math.ceil(size / world_size) * world_size)
        self.indices: list[int] = padded[rank::world_size].tolist()
        self.batch_size, self.drop_last = batch_size, drop_last

    def __iter__(self) -> Iterator[list[int]]:
        for batch in range(len(self)):
            yield self.indices[batch * self.batch_size : (batch + 1) * self.batch_size]

    def __len__(self) -> int:
        count = len(self.indices) / self.batch_size
        return math.floor(count) if self.drop_last else math.ceil(count)


def _leave_stop_signals_to_the_parent(worker_id: int) -> None:
    """Worker start-up: ignore Ctrl-C and SIGTERM, which reach the whole process group, so
    that the training process can finish its batch, checkpoint and shut the workers down."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


_live_iterators: weakref.WeakSet = weakref.WeakSet()  # with worker processes, not shut down


def _shut_down(iterator: object) -> None:
    """Stop an iterator's worker processes (poison pill, then join): Paddle's iterators do
    that only when exhausted or collected, and the thread they run keeps them from being
    collected. A worker still alive after :data:`SHUTDOWN_SECONDS` is killed (it ignores the
    SIGTERM Paddle would send)."""
    shut_down = getattr(iterator, "_try_shutdown_all", None)
    if shut_down is not None:
        if "timeout" in inspect.signature(shut_down).parameters:  # multi-process iterators
            shut_down(SHUTDOWN_SECONDS)
        else:
            shut_down()
    for worker in getattr(iterator, "_workers", None) or ():
        if worker.is_alive():
            worker.kill()
            worker.join()
    _live_iterators.discard(iterator)


@atexit.register
def _shut_down_leftovers() -> None:
    """At exit, before multiprocessing's own clean-up (which would signal the workers, who
    ignore stop signals, and wait for them forever), shut down any iterator left running."""
    for iterator in list(_live_iterators):
        _shut_down(iterator)


class StopSafeLoader(paddle.io.DataLoader):
    """A DataLoader whose worker processes survive a stop signal sent to the process group.

    Without this, Ctrl-C in a terminal or ``kill -TERM -<group>`` kills the workers and
    Paddle then raises in the middle of a training step. The stop signals are blocked while
    the workers are forked (a signal arriving meanwhile waits, it is not lost), and each
    worker ignores them from its start; workers are shut down by :func:`batches_of` (or at
    exit), not by signals.
    """

    def __iter__(self):  # type: ignore[override]
        forking = self.num_workers > 0 and hasattr(signal, "pthread_sigmask")
        if not forking or threading.current_thread() is not threading.main_thread():
            return super().__iter__()
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            iterator = super().__iter__()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        _live_iterators.add(iterator)
        return iterator


@contextmanager
def batches_of(loader: paddle.io.DataLoader) -> Iterator[Iterator]:
    """``with batches_of(loader) as batches:`` an iterator over the loader's batches whose
    worker processes are shut down on leaving the block, however many batches were taken."""
    iterator = iter(loader)
    try:
        yield iterator
    finally:
        _shut_down(iterator)


def build_loader(
    dataset: paddle.io.Dataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int,
    seed: int,
    epoch: int,
    rank: int = 0,
    world_size: int = 1,
    drop_last: bool = False,
) -> paddle.io.DataLoader:
    """A loader over ``rank``'s shard of ``dataset`` (see :class:`ShardedBatchSampler`).

    Batches are (images float32 [B, 3, S, S], labels int64 [B] or masks int64 [B, S, S]);
    ``num_workers`` > 0 loads them in that many processes, in the same order as without
    workers. Workers hand batches over through shared memory only when /dev/shm has room
    (Docker's default 64 MB has not), and leave stop signals to this process
    (:class:`StopSafeLoader`).
    """
    sampler = ShardedBatchSampler(
        len(dataset), batch_size, shuffle, seed, epoch, rank, world_size, drop_last
    )
    return StopSafeLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=num_workers,
        use_shared_memory=_shared_memory_free() >= SHARED_MEMORY_MIN,
        worker_init_fn=_leave_stop_signals_to_the_parent if num_workers else None,
    )


def _shared_memory_free() -> int:
    """Free bytes in /dev/shm; 0 where there is none."""
    try:
        return shutil.disk_usage("/dev/shm").free
    except OSError:
        return 0
