"""Paired sketch/photo datasets held in memory as uint8 arrays at the model's resolution."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .transforms import InputImageError, load_image, pad_to_square, resize, to_grayscale, to_rgb

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


class DatasetError(ValueError):
    """A dataset folder that cannot be used; the message says which file or folder and why."""


def prepare_sketch(image, size: int) -> np.ndarray:
    """Any sketch image -> size x size uint8 greyscale, padded with white paper (never stretched)."""
    square, _ = pad_to_square(to_grayscale(load_image(image)), fill=255)
    return resize(square, (size, size))


def prepare_photo(image, size: int) -> np.ndarray:
    """Any photo -> size x size x 3 uint8, padded by repeating the border (never stretched)."""
    square, _ = pad_to_square(to_rgb(load_image(image)), fill="edge")
    return resize(square, (size, size))


def list_images(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


@dataclass
class PairedArrays:
    """Sketches (N, S, S) uint8, photos (N, S, S, 3) uint8 and their names."""

    names: list[str]
    sketches: np.ndarray
    photos: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, indices) -> "PairedArrays":
        indices = list(indices)
        return PairedArrays([self.names[i] for i in indices], self.sketches[indices], self.photos[indices])


def load_paired_folder(root: str | Path, size: int = 256) -> PairedArrays:
    """Load ``root/photos/NAME.*`` with ``root/sketches/NAME.*`` (same stem) into memory.

    Raises:
        DatasetError: missing folders, no pairs, or an unreadable file (named in the message).
    """
    root = Path(root)
    photo_dir, sketch_dir = root / "photos", root / "sketches"
    for folder in (photo_dir, sketch_dir):
        if not folder.is_dir():
            raise DatasetError(f"{root}: expected sub-folders photos/ and sketches/; {folder.name}/ is missing")
    photos, sketches = list_images(photo_dir), list_images(sketch_dir)
    names = sorted(set(photos) & set(sketches), key=_natural_key)
    if not names:
        raise DatasetError(f"{root}: no sketch/photo pairs with matching file names")
    sketch_arrays, photo_arrays = [], []
    for name in names:
        try:
            sketch_arrays.append(prepare_sketch(sketches[name], size))
            photo_arrays.append(prepare_photo(photos[name], size))
        except InputImageError as error:
            raise DatasetError(f"corrupt dataset file: {error}") from None
    return PairedArrays(names, np.stack(sketch_arrays), np.stack(photo_arrays))


def _natural_key(name: str):
    return [int(part) if part.isdigit() else part for part in _split_digits(name)]


def _split_digits(name: str) -> list[str]:
    import re

    return re.split(r"(\d+)", name)


def split_train_val(names: list[str], val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Deterministic split by a hash of each name, so adding files never reshuffles existing ones."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    train, val = [], []
    for index, name in enumerate(names):
        digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
        (val if int.from_bytes(digest[:8], "big") / 2**64 < val_fraction else train).append(index)
    return train, val


@dataclass
class PairedAugment:
    """Identical geometric changes for sketch and photo; tone changes for the sketch only.

    No pix2pix resize-and-crop jitter: it hurts aligned faces (seed 002).
    """

    flip: bool = True
    max_rotation: float = 5.0
    max_scale: float = 0.05
    max_shift: float = 0.03
    sketch_contrast: float = 0.1
    probability: float = 0.5

    def __call__(self, sketch: np.ndarray, photo: np.ndarray, rng: np.random.Generator):
        if self.flip and rng.random() < 0.5:
            sketch, photo = sketch[:, ::-1], photo[:, ::-1]
        if rng.random() < self.probability:
            size = sketch.shape[0]
            angle = rng.uniform(-self.max_rotation, self.max_rotation)
            scale = 1.0 + rng.uniform(-self.max_scale, self.max_scale)
            matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
            matrix[:, 2] += rng.uniform(-self.max_shift, self.max_shift, size=2) * size
            sketch = cv2.warpAffine(np.ascontiguousarray(sketch), matrix, (size, size),
                                    flags=cv2.INTER_LINEAR, borderValue=255)
            photo = cv2.warpAffine(np.ascontiguousarray(photo), matrix, (size, size),
                                   flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if self.sketch_contrast > 0 and rng.random() < self.probability:
            gain = 1.0 + rng.uniform(-self.sketch_contrast, self.sketch_contrast)
            offset = rng.uniform(-self.sketch_contrast, self.sketch_contrast) * 255
            sketch = np.clip((sketch.astype(np.float32) - 128) * gain + 128 + offset, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(sketch), np.ascontiguousarray(photo)
