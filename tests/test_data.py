"""The data package: shapes generator, CIFAR-10 tarball, image folders, transforms, loaders."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from swint_cli.data import (
    CIFAR10_NORMALIZATION,
    IMAGENET_NORMALIZATION,
    SHAPE_CLASSES,
    DataError,
    ImageDataset,
    ShardedBatchSampler,
    build_datasets,
    build_loader,
    generate_shapes,
    read_cifar10,
)
from swint_cli.data import loaders as loaders_module
from swint_cli.data.transforms import random_crop
from swint_cli.recipe.schema import DataSection

RAW = {"normalize": False}  # transforms that keep pixels as value / 255


def section(**values: object) -> DataSection:
    """A data section; shapes splits are small unless the sizes are given."""
    shapes = values.get("dataset", "shapes") == "shapes"
    sizes = {"train_size": 40, "val_size": 20} if shapes else {}
    return DataSection.model_validate({**sizes, **values})


def batches(dataset: ImageDataset, workers: int, epoch: int) -> list[tuple]:
    loader = build_loader(dataset, 8, True, workers, seed=3, epoch=epoch)
    return [(images.numpy(), labels.numpy()) for images, labels in loader]


# -- shapes ------------------------------------------------------------------------------------


def test_shapes_are_deterministic_per_seed() -> None:
    images, labels = generate_shapes(30, seed=1, split="train")
    again, again_labels = generate_shapes(30, seed=1, split="train")
    other, _ = generate_shapes(30, seed=2, split="train")
    val, _ = generate_shapes(30, seed=1, split="val")
    assert images.shape == (30, 32, 32, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(labels, again_labels)
    assert (images != other).mean() > 0.5
    assert (images != val).mean() > 0.5


def test_shapes_image_depends_only_on_seed_split_and_index() -> None:
    many, many_labels = generate_shapes(60, seed=5, split="val")
    few, few_labels = generate_shapes(25, seed=5, split="val")
    np.testing.assert_array_equal(many[:25], few)
    np.testing.assert_array_equal(many_labels[:25], few_labels)


def test_shapes_classes_are_balanced() -> None:
    _, labels = generate_shapes(200, seed=0, split="train")
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(labels), [20] * 10)


def test_shapes_colour_does_not_reveal_the_class() -> None:
    images, labels = generate_shapes(5000, seed=0, split="train")
    mean_colour = images.reshape(len(images), -1, 3).mean(axis=1) / 255  # [N, 3]
    per_class = np.stack([mean_colour[labels == c].mean(axis=0) for c in range(10)])
    np.testing.assert_allclose(per_class, 0.5, atol=0.05)


def test_shapes_default_sizes_and_class_names() -> None:
    train, val, classes = build_datasets(DataSection(), seed=0)
    assert (len(train), len(val)) == (5000, 1000)
    assert classes == list(SHAPE_CLASSES) and len(set(classes)) == 10
    image, label = train[0]
    assert image.shape == (3, 32, 32) and image.dtype == np.float32
    assert isinstance(label, np.int64)


def test_shapes_with_a_path_is_refused() -> None:
    with pytest.raises(DataError, match=r"data\.path"):
        build_datasets(section(path="data/cifar-10-python.tar.gz"), seed=0)


# -- CIFAR-10 ----------------------------------------------------------------------------------


def test_cifar_mini_tarball_reads_train_and_test(cifar_mini: Path) -> None:
    (train_images, train_labels), (val_images, val_labels), classes = read_cifar10(str(cifar_mini))
    assert train_images.shape == (5 * 932, 32, 32, 3) and train_images.dtype == np.uint8
    assert val_images.shape == (932, 32, 32, 3)
    assert train_labels.shape == (5 * 932,) and val_labels.dtype == np.int64
    assert classes[:3] == ["airplane", "automobile", "bird"] and len(classes) == 10
    with tarfile.open(cifar_mini) as tar:  # independent read of the first test image
        member = tar.extractfile("cifar-10-batches-py/test_batch")
        batch = pickle.load(member, encoding="bytes")
    first_chw = batch[b"data"][0].reshape(3, 32, 32)
    np.testing.assert_array_equal(val_images[0], first_chw.transpose(1, 2, 0))
    assert val_labels[0] == batch[b"labels"][0]

    data = section(dataset="cifar10", path=str(cifar_mini), transforms=RAW)
    _, val, _ = build_datasets(data, seed=0)
    image, label = val[0]
    np.testing.assert_allclose(image * 255, first_chw, atol=1e-3)
    assert label == batch[b"labels"][0]


def test_cifar_subset_size_is_checked(cifar_mini: Path) -> None:
    data = section(dataset="cifar10", path=str(cifar_mini), train_size=40, val_size=20)
    train, val, _ = build_datasets(data, seed=0)
    assert (len(train), len(val)) == (40, 20)
    message = r"data\.train_size is 9999 but the train split has only 4660 images"
    with pytest.raises(DataError, match=message):
        build_datasets(section(dataset="cifar10", path=str(cifar_mini), train_size=9999), 0)


def test_cifar_without_path_names_the_recipe_key() -> None:
    with pytest.raises(DataError, match=r"data\.path is not set.*cifar-10-python\.tar\.gz"):
        build_datasets(section(dataset="cifar10"), seed=0)


def test_cifar_missing_file_names_path(tmp_path: Path) -> None:
    missing = tmp_path / "cifar-10-python.tar.gz"
    with pytest.raises(DataError, match=rf"{missing}: no such file.*CIFAR-10 python tarball"):
        read_cifar10(str(missing))


def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


def _batch(data: object, labels: object) -> bytes:
    return pickle.dumps({b"data": data, b"labels": labels}, protocol=2)


def _complete(**replace: bytes) -> dict[str, bytes]:
    batch = _batch(np.zeros((2, 3072), np.uint8), [0, 1])
    members = {f"data_batch_{i}": batch for i in range(1, 6)} | {"test_batch": batch}
    members["batches.meta"] = pickle.dumps({b"label_names": [b"a", b"b"]}, protocol=2)
    return members | replace


BOGUS = {
    "not gzip": (None, "not a readable .tar.gz"),
    "missing member": ({"batches.meta": b""}, "no member cifar-10-batches-py/data_batch_1"),
    "not a pickle": (_complete(test_batch=b"hello"), "test_batch cannot be unpickled"),
    "wrong keys": (_complete(data_batch_2=pickle.dumps({b"x": 1})), "data_batch_2 is not a"),
    "wrong shape": (
        _complete(test_batch=_batch(np.zeros((2, 3000), np.uint8), [0, 1])),
        "test_batch is not a CIFAR-10 batch (a pickled dict with b'data' uint8 N x 3072",
    ),
    "bad label": (
        _complete(data_batch_5=_batch(np.zeros((2, 3072), np.uint8), [0, 7])),
        "data_batch_5 is not a CIFAR-10 batch",
    ),
    "foreign object": (
        _complete(test_batch=pickle.dumps({b"data": complex(1, 2)})),
        "refused to load builtins.complex",
    ),
    "no label names": (_complete(**{"batches.meta": pickle.dumps({})}), "label_names"),
}


@pytest.mark.parametrize("case", BOGUS)
def test_cifar_wrong_format_is_refused(tmp_path: Path, case: str) -> None:
    members, fragment = BOGUS[case]
    path = tmp_path / "cifar-10-python.tar.gz"
    if members is None:
        path.write_bytes(b"this is not a gzip file")
    else:
        _tarball(path, members)
    with pytest.raises(DataError) as caught:
        read_cifar10(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert fragment in message and "cifar-10-python.tar.gz" in message


def test_cifar_tarball_of_any_batch_size_is_read(tmp_path: Path) -> None:
    path = _tarball(tmp_path / "tiny.tar.gz", _complete())
    (train_images, train_labels), (val_images, _), classes = read_cifar10(str(path))
    assert train_images.shape == (10, 32, 32, 3) and val_images.shape == (2, 32, 32, 3)
    assert train_labels.tolist() == [0, 1] * 5 and classes == ["a", "b"]


# -- image folders -----------------------------------------------------------------------------


def _write_image(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (6, 4)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def _image_folder(root: Path) -> Path:
    for split in ("train", "val"):
        _write_image(root / split / "red" / "a.png", (255, 0, 0))
        _write_image(root / split / "red" / "b.JPG", (250, 0, 0), size=(9, 9))
        _write_image(root / split / "blue" / "c.jpeg", (0, 0, 255))
    (root / "train" / "blue" / "notes.txt").write_text("ignored")
    return root


def test_image_folder_reads_classes(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "images")
    data = section(dataset="image_folder", path=str(root), image_size=8)
    train, val, classes = build_datasets(data, seed=0)
    assert classes == ["blue", "red"]
    assert (len(train), len(val)) == (3, 3)
    labels = [int(train[i][1]) for i in range(3)]
    assert labels == [0, 1, 1]
    image, _ = val[0]  # blue (a JPEG: a level or two off), ImageNet-normalized
    mean, std = np.array(IMAGENET_NORMALIZATION.mean), np.array(IMAGENET_NORMALIZATION.std)
    assert image.shape == (3, 8, 8)
    np.testing.assert_allclose(image[:, 3, 3], (np.array([0, 0, 1]) - mean) / std, atol=0.05)


def test_image_folder_unreadable_image_names_file(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "images")
    broken = root / "val" / "red" / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(DataError, match=f"{broken}: not a readable image"):
        build_datasets(section(dataset="image_folder", path=str(root)), seed=0)


def _remove_val(root: Path) -> None:
    for file in (root / "val").rglob("*.*"):
        file.unlink()
    for folder in [*sorted((root / "val").rglob("*"), reverse=True), root / "val"]:
        folder.rmdir()


LAYOUT_ERRORS = {
    "no root": (lambda root: None, "nowhere: no such directory"),
    "no val": (_remove_val, "val: no such directory"),
    "other classes": (lambda root: (root / "val" / "green").mkdir(), "classes"),
    "empty class": (lambda root: (root / "val" / "blue" / "c.jpeg").unlink(), "val/blue: no"),
}


@pytest.mark.parametrize("case", LAYOUT_ERRORS)
def test_image_folder_layout_errors_name_the_path(tmp_path: Path, case: str) -> None:
    change, fragment = LAYOUT_ERRORS[case]
    root = _image_folder(tmp_path / "images")
    change(root)
    path = tmp_path / "nowhere" if case == "no root" else root
    with pytest.raises(DataError, match=f"{fragment}.*<root>/train/<class>"):
        build_datasets(section(dataset="image_folder", path=str(path)), seed=0)


def test_image_folder_without_classes_is_refused(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    with pytest.raises(DataError, match="train: no class subdirectories"):
        build_datasets(section(dataset="image_folder", path=str(tmp_path)), seed=0)


# -- transforms --------------------------------------------------------------------------------


def test_resize_to_224() -> None:
    train, val, _ = build_datasets(section(image_size=224, train_size=4, val_size=2), seed=0)
    image, _ = val[1]
    assert image.shape == (3, 224, 224) and image.dtype == np.float32
    images, labels = next(iter(build_loader(train, 4, False, 0, seed=0, epoch=1)))
    assert images.shape == [4, 3, 224, 224] and labels.shape == [4]


def test_normalization_uses_the_dataset_statistics(tmp_path: Path) -> None:
    root = tmp_path / "images"
    for split in ("train", "val"):
        _write_image(root / split / "only" / "x.png", (10, 128, 250), size=(32, 32))
    mean, std = np.array(IMAGENET_NORMALIZATION.mean), np.array(IMAGENET_NORMALIZATION.std)
    _, val, _ = build_datasets(section(dataset="image_folder", path=str(root)), seed=0)
    np.testing.assert_allclose(val[0][0][:, 0, 0], (np.array([10, 128, 250]) / 255 - mean) / std)


def test_cifar10_normalization_is_the_official_training_set_statistics() -> None:
    """The per-channel mean and std of the 50,000 official training images, in [0, 1], as
    published with the dataset's common training recipes."""
    assert CIFAR10_NORMALIZATION.mean == (0.4914, 0.4822, 0.4465)
    assert CIFAR10_NORMALIZATION.std == (0.2470, 0.2435, 0.2616)


def test_cifar10_normalization_matches_the_real_subset_within_sampling_error(
    cifar_mini: Path,
) -> None:
    """The subset's own per-channel mean and std lie within three standard errors of the
    constants; the errors come from the spread between images (pixels within one image are
    not independent), the std's by the delta method: se(std) = se(E[x^2]) / (2 std)."""
    (images, _), _, _ = read_cifar10(str(cifar_mini))
    per_image = images.reshape(len(images), -1, 3) / 255.0  # (N, H*W, 3)
    pixels = per_image.reshape(-1, 3)
    mean, std = pixels.mean(axis=0), pixels.std(axis=0)
    root_n = np.sqrt(len(images))
    se_mean = per_image.mean(axis=1).std(axis=0) / root_n
    se_std = (per_image**2).mean(axis=1).std(axis=0) / root_n / (2 * std)
    assert (np.abs(mean - CIFAR10_NORMALIZATION.mean) < 3 * se_mean).all(), (mean, se_mean)
    assert (np.abs(std - CIFAR10_NORMALIZATION.std) < 3 * se_std).all(), (std, se_std)


def test_random_crop_fills_the_padding_with_zeros() -> None:
    image = np.full((8, 8, 3), 200, dtype=np.uint8)
    crops = [random_crop(image, 2, np.random.default_rng(i)) for i in range(40)]
    assert all(crop.shape == (8, 8, 3) for crop in crops)
    zero_counts = {int((crop == 0).all(axis=2).sum()) for crop in crops}
    assert 0 in zero_counts and max(zero_counts) == 64 - 6 * 6  # offsets 0..4 per axis


def test_augmentation_changes_per_epoch_and_validation_is_not_augmented() -> None:
    transforms = {"random_crop": True, "horizontal_flip": True}
    train, val, _ = build_datasets(section(transforms=transforms), seed=0)
    views = []
    for epoch in (1, 2, 1):
        train.set_epoch(epoch)
        val.set_epoch(epoch)
        views.append((np.stack([train[i][0] for i in range(10)]), val[3][0]))
    np.testing.assert_array_equal(views[0][0], views[2][0])
    assert not np.array_equal(views[0][0], views[1][0])
    np.testing.assert_array_equal(views[0][1], views[1][1])


# -- loaders -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shared_memory", [True, False])
def test_augmentation_is_reproducible_across_worker_counts(
    monkeypatch: pytest.MonkeyPatch, shared_memory: bool
) -> None:
    if not shared_memory:
        monkeypatch.setattr(loaders_module, "SHARED_MEMORY_MIN", float("inf"))
    transforms = {"random_crop": True, "horizontal_flip": True}
    train, _, _ = build_datasets(section(transforms=transforms), seed=0)
    train.set_epoch(2)
    in_process, in_workers = batches(train, 0, epoch=2), batches(train, 2, epoch=2)
    assert len(in_process) == len(in_workers) == 5
    for (images, labels), (images_w, labels_w) in zip(in_process, in_workers, strict=True):
        assert images.shape == (8, 3, 32, 32) and labels.dtype == np.int64
        np.testing.assert_array_equal(images, images_w)
        np.testing.assert_array_equal(labels, labels_w)


def test_shuffle_is_fixed_per_seed_and_epoch() -> None:
    def order(seed: int, epoch: int, shuffle: bool = True) -> list[int]:
        sampler = ShardedBatchSampler(50, 8, shuffle, seed, epoch)
        return [i for batch in sampler for i in batch]

    assert order(0, 1) == order(0, 1) and sorted(order(0, 1)) == list(range(50))
    assert order(0, 1) != order(0, 2) and order(0, 1) != order(1, 1)
    assert order(0, 1, shuffle=False) == list(range(50))


@pytest.mark.parametrize("size", [100, 10])
def test_distributed_shards_are_disjoint_and_cover_the_data(size: int) -> None:
    world = 4
    shards = [
        [i for batch in ShardedBatchSampler(size, 3, True, 7, 1, rank, world) for i in batch]
        for rank in range(world)
    ]
    assert len({len(shard) for shard in shards}) == 1  # equal length: ranks step together
    flat = [i for shard in shards for i in shard]
    assert set(flat) == set(range(size))
    assert len(flat) - size == (-size) % world  # padding repeats only to a multiple of world
    if size % world == 0:
        assert len(flat) == len(set(flat))


def test_drop_last_drops_only_the_incomplete_batch() -> None:
    assert [len(b) for b in ShardedBatchSampler(20, 8, True, 0, 1)] == [8, 8, 4]
    assert [len(b) for b in ShardedBatchSampler(20, 8, True, 0, 1, drop_last=True)] == [8, 8]
    with pytest.raises(ValueError, match="rank 2"):
        ShardedBatchSampler(20, 8, True, 0, 1, rank=2, world_size=2)


def test_chosen_classes_are_kept_and_relabelled_in_their_order(cifar_mini: Path) -> None:
    """Classes 'cat' and 1 (automobile) of mini CIFAR-10: every kept test image is one of
    them by the batch file's own labels, relabelled 0 (cat) and 1 (automobile)."""
    data = section(dataset="cifar10", path=str(cifar_mini), transforms=RAW, classes=["cat", 1])
    train, val, classes = build_datasets(data, seed=0)
    assert classes == ["cat", "automobile"]
    with tarfile.open(cifar_mini) as tar:
        batch = pickle.load(tar.extractfile("cifar-10-batches-py/test_batch"), encoding="bytes")
    labels = np.array(batch[b"labels"])
    kept = np.flatnonzero((labels == 3) | (labels == 1))
    assert len(val) == len(kept)
    assert set(np.asarray(train.labels).tolist()) == {0, 1}
    for position in (0, len(kept) - 1):
        image, label = val[position]
        original = batch[b"data"][kept[position]].reshape(3, 32, 32)
        np.testing.assert_allclose(image * 255, original, atol=1e-3)
        assert label == {3: 0, 1: 1}[labels[kept[position]]]


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        (["zebra"], "data.classes: 'zebra' is not a class of the data (names: "),
        ([10], "data.classes: 10 is not a class of the data"),
        (["cat", 3], "data.classes: 'cat' is given twice"),
    ],
)
def test_unknown_or_repeated_classes_are_one_line(
    cifar_mini: Path, classes: list, message: str
) -> None:
    data = section(dataset="cifar10", path=str(cifar_mini), classes=classes)
    with pytest.raises(DataError) as error:
        build_datasets(data, seed=0)
    assert str(error.value).startswith(message)
