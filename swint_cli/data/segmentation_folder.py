"""Segmentation folders: images and same-named class-index masks.

Layout::

    root/classes.txt                  one class name per line; line i names class i
    root/train/images/<name>.png|jpg  RGB images
    root/train/masks/<name>.png       single-channel (L or P) PNGs of class indices
    root/val/images/...   root/val/masks/...

Every image needs a mask with the same stem. Mask value 255 marks pixels to ignore (no loss,
no metric); any other value must be a class index. Image and mask headers are checked when
the folder is scanned; pixels are read when a sample is requested.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DataError
from .image_folder import EXTENSIONS, ImageFiles, check_header

EXPECTED = (
    "a segmentation folder: <root>/classes.txt, <root>/train/images/*.png|jpg with "
    "<root>/train/masks/<same name>.png, and the same under <root>/val/"
)
IGNORE_INDEX = 255


class MaskFiles(ImageFiles):
    """Masks read on demand: ``masks[i]`` -> uint8 [H, W] class indices."""

    def __init__(self, paths: Sequence[Path], num_classes: int) -> None:
        super().__init__(paths)
        self.num_classes = num_classes

    def __getitem__(self, index: int) -> np.ndarray:
        path = self.paths[index]
        try:
            with Image.open(path) as image:
                if image.mode not in ("L", "P"):
                    raise DataError(
                        f"{path}: mask mode {image.mode}; expected a single-channel (L or P) PNG"
                    )
                mask = np.asarray(image)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise DataError(f"{path}: cannot read mask ({exc}); expected a PNG") from None
        wrong = mask[(mask >= self.num_classes) & (mask != IGNORE_INDEX)]
        if wrong.size:
            raise DataError(
                f"{path}: mask value {int(wrong[0])} is not a class index "
                f"(0-{self.num_classes - 1}) or {IGNORE_INDEX} (ignore)"
            )
        return mask


def _scan(root: Path, split: str, num_classes: int) -> tuple[ImageFiles, MaskFiles]:
    images_dir, masks_dir = root / split / "images", root / split / "masks"
    for folder in (images_dir, masks_dir):
        if not folder.is_dir():
            raise DataError(f"{folder}: no such directory; data.path must be {EXPECTED}")
    images = sorted(
        p for p in images_dir.iterdir() if p.suffix.lower() in EXTENSIONS and p.is_file()
    )
    if not images:
        raise DataError(f"{images_dir}: no .png/.jpg/.jpeg images; expected {EXPECTED}")
    masks = [masks_dir / f"{image.stem}.png" for image in images]
    for image, mask in zip(images, masks, strict=True):
        if not mask.is_file():
            raise DataError(f"{mask}: missing; every image in {images_dir} needs a mask")
        check_header(image)
        check_header(mask)
    return ImageFiles(images), MaskFiles(masks, num_classes)


def read_segmentation_folder(
    path: str | None,
) -> tuple[tuple[ImageFiles, MaskFiles], tuple[ImageFiles, MaskFiles], list[str]]:
    """Scan the folder at ``path`` (``data.path``): ``(train, val, classes)``, each split
    ``(images, masks)``; raises :class:`DataError` naming the path and the expected layout."""
    if not path:
        raise DataError(f"data.path is not set: dataset segmentation_folder needs {EXPECTED}")
    root = Path(path).expanduser()
    names = root / "classes.txt"
    if not names.is_file():
        raise DataError(f"{names}: no such file; data.path must be {EXPECTED}")
    classes = [line.strip() for line in names.read_text(encoding="utf-8").splitlines()]
    classes = [name for name in classes if name]
    if not classes:
        raise DataError(f"{names}: no class names; expected one per line")
    return _scan(root, "train", len(classes)), _scan(root, "val", len(classes)), classes
