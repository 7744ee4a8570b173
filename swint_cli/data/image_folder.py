"""Image folders: ``root/train/<class>/*.png|jpg|jpeg`` and ``root/val/<class>/...``.

Classes are the sorted subdirectory names of ``train/`` (hidden ones skipped); ``val/`` must
have the same ones. Other files are ignored. Every image's header is checked when the folder
is scanned; pixels are read (PIL, converted to RGB) when a sample is requested.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DataError

EXPECTED = "an image folder: <root>/train/<class>/*.png|jpg|jpeg and <root>/val/<class>/..."
EXTENSIONS = (".png", ".jpg", ".jpeg")


class ImageFiles:
    """Images read on demand: ``files[i]`` -> uint8 [H, W, 3] RGB."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        path = self.paths[index]
        try:
            with Image.open(path) as image:
                return np.asarray(image.convert("RGB"))
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise DataError(f"{path}: cannot read image ({exc}); expected a PNG or JPEG") from None

    def subset(self, indices: Sequence[int]) -> ImageFiles:
        """The files at ``indices``, in that order (same type and settings)."""
        chosen = copy.copy(self)
        chosen.paths = [self.paths[i] for i in indices]
        return chosen


def check_header(path: Path) -> None:
    """Open ``path``'s header; a :class:`DataError` naming it when it is not an image."""
    try:
        with Image.open(path):
            pass
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: not a readable image ({exc}); expected a PNG or JPEG") from None


def _subdirectories(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _scan(root: Path, split: str, classes: list[str]) -> tuple[ImageFiles, np.ndarray]:
    """Files and labels int64 [N] of ``root/split``, class by class, files sorted by name."""
    folder = root / split
    if not folder.is_dir():
        raise DataError(f"{folder}: no such directory; data.path must be {EXPECTED}")
    found = _subdirectories(folder)
    if found != classes:
        raise DataError(
            f"{folder}: classes {found} differ from train/'s {classes}; expected {EXPECTED}"
        )
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        files = sorted(
            p for p in (folder / name).iterdir() if p.suffix.lower() in EXTENSIONS and p.is_file()
        )
        if not files:
            raise DataError(f"{folder / name}: no .png/.jpg/.jpeg images; expected {EXPECTED}")
        for file in files:
            check_header(file)
        paths += files
        labels += [label] * len(files)
    return ImageFiles(paths), np.asarray(labels, dtype=np.int64)


def read_image_folder(
    path: str | None,
) -> tuple[tuple[ImageFiles, np.ndarray], tuple[ImageFiles, np.ndarray], list[str]]:
    """Scan the folder at ``path`` (the ``data.path`` recipe key).

    Returns ``(train, val, classes)``, each split (images, labels int64 [N]); raises
    :class:`DataError` naming the path and the expected layout.
    """
    if not path:
        raise DataError(f"data.path is not set: dataset image_folder needs {EXPECTED}")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: no such directory; data.path must be {EXPECTED}")
    if not (root / "train").is_dir():
        raise DataError(f"{root / 'train'}: no such directory; data.path must be {EXPECTED}")
    classes = _subdirectories(root / "train")
    if not classes:
        raise DataError(f"{root / 'train'}: no class subdirectories; expected {EXPECTED}")
    return _scan(root, "train", classes), _scan(root, "val", classes), classes
