"""Paired sketch/photo datasets held in memory as uint8 arrays at the model's resolution."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .manifest import read_manifest
from .transforms import IMAGE_SUFFIXES, InputImageError, load_image, prepare_photo, prepare_sketch, resize, to_grayscale


def list_images(folder: Path) -> dict[str, Path]:
    """Image files under ``folder`` (recursively) keyed by relative path without suffix, so nested
    layouts such as FS2K's ``photo1/image0110.jpg`` pair up with ``sketches/photo1/image0110.jpg``."""
    return {p.relative_to(folder).with_suffix("").as_posix(): p for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}


@dataclass
class PairedArrays:
    """Sketches (N, S, S) uint8, photos (N, S, S, 3) uint8 and their names."""

    names: list[str]
    sketches: np.ndarray
    photos: np.ndarray
    identities: list[str] | None = None
    """Who each pair shows (splits keep a person on one side); defaults to the names."""
    sources: np.ndarray | None = None
    """Index of the folder each pair came from, for weighted mixtures."""
    styles: list[str | None] | None = None
    """Each pair's sketch style label (a prepared folder's manifest ``style``), for style-conditioned models."""
    landmarks: np.ndarray | None = None
    """(N, 68, 2) float32 landmarks of freehand-drawn pairs (NaN for the others), so training can
    redraw them (``data/freehand.py``)."""
    silhouettes: np.ndarray | None = None
    """(N, S, S) uint8 person masks that go with ``landmarks`` (all zero where unknown)."""

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, indices) -> "PairedArrays":
        indices = list(indices)
        return PairedArrays(
            [self.names[i] for i in indices], self.sketches[indices], self.photos[indices],
            [self.identities[i] for i in indices] if self.identities is not None else None,
            self.sources[indices] if self.sources is not None else None,
            [self.styles[i] for i in indices] if self.styles is not None else None,
            self.landmarks[indices] if self.landmarks is not None else None,
            self.silhouettes[indices] if self.silhouettes is not None else None,
        )

    def redrawable(self, index: int) -> bool:
        return self.landmarks is not None and bool(np.isfinite(self.landmarks[index]).all())

    @staticmethod
    def concatenate(parts: list["PairedArrays"]) -> "PairedArrays":
        with_geometry = any(p.landmarks is not None for p in parts)
        size = parts[0].sketches.shape[1] if parts else 0
        return PairedArrays(
            [n for p in parts for n in p.names],
            np.concatenate([p.sketches for p in parts]),
            np.concatenate([p.photos for p in parts]),
            [i for p in parts for i in (p.identities or p.names)],
            np.concatenate([np.full(len(p), k) for k, p in enumerate(parts)]),
            [s for p in parts for s in (p.styles or [None] * len(p))],
            np.concatenate([p.landmarks if p.landmarks is not None else np.full((len(p), 68, 2), np.nan, np.float32)
                            for p in parts]) if with_geometry else None,
            np.concatenate([p.silhouettes if p.silhouettes is not None else np.zeros((len(p), size, size), np.uint8)
                            for p in parts]) if with_geometry else None,
        )


def paired_files(root: str | Path) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """The pairs of a paired folder, ``root/photos/NAME.*`` with ``root/sketches/NAME.*`` (same name
    without suffix, sub-folders included), as (name, photo, sketch) in natural name order ("2" before
    "10"); and one line per file without a partner. The one reader of paired folders.

    Raises:
        DatasetError: a missing photos/ or sketches/ folder.
    """
    root = Path(root)
    for folder in (root / "photos", root / "sketches"):
        if not folder.is_dir():
            raise DatasetError(f"{root}: expected sub-folders photos/ and sketches/; {folder.name}/ is missing")
    photos, sketches = list_images(root / "photos"), list_images(root / "sketches")
    unpaired = [f"photos/{k}: no sketch with this name" for k in sorted(set(photos) - set(sketches))]
    unpaired += [f"sketches/{k}: no photo with this name" for k in sorted(set(sketches) - set(photos))]
    names = sorted(set(photos) & set(sketches), key=_natural_key)
    return [(name, photos[name], sketches[name]) for name in names], unpaired


def load_paired_folder(root: str | Path, size: int = 256, default_style: str | None = None) -> PairedArrays:
    """Load ``root/photos/NAME.*`` with ``root/sketches/NAME.*`` (same stem) into memory.

    Each pair's style label is its manifest entry's ``style`` (folders made by ``prepare-data``),
    else ``default_style``.

    Raises:
        DatasetError: missing folders, no pairs, or an unreadable file (named in the message).
    """
    root = Path(root)
    pairs, _ = paired_files(root)
    if not pairs:
        raise DatasetError(f"{root}: no sketch/photo pairs with matching file names")
    names = [name for name, _, _ in pairs]
    sketch_arrays, photo_arrays = [], []
    for name, photo, sketch in pairs:
        try:
            sketch_arrays.append(prepare_sketch(sketch, size))
            photo_arrays.append(prepare_photo(photo, size)[0])
        except InputImageError as error:
            raise DatasetError(f"corrupt dataset file: {error}") from None

    manifest = read_manifest(root)
    identities = [manifest[n]["identity"] if manifest and n in manifest else n for n in names]
    styles = [(manifest or {}).get(n, {}).get("style") or default_style for n in names]
    landmarks, silhouettes = _freehand_geometry(root, names, manifest or {}, size)
    return PairedArrays(names, np.stack(sketch_arrays), np.stack(photo_arrays), identities, styles=styles,
                        landmarks=landmarks, silhouettes=silhouettes)


def _freehand_geometry(root: Path, names: list[str], manifest: dict, size: int):
    """Landmarks and silhouettes that ``prepare-data`` kept for freehand-drawn pairs, or (None, None)."""
    if not any("landmarks" in manifest.get(n, {}) for n in names):
        return None, None
    landmarks = np.full((len(names), 68, 2), np.nan, np.float32)
    silhouettes = np.zeros((len(names), size, size), np.uint8)
    for k, name in enumerate(names):
        item = manifest.get(name, {})
        if "landmarks" not in item:
            continue
        points = np.asarray(item["landmarks"], np.float32)
        mask_path = root / "silhouettes" / f"{name}.png"
        try:
            mask = to_grayscale(load_image(mask_path)) if mask_path.is_file() else None
        except InputImageError as error:
            raise DatasetError(f"corrupt dataset file: {error}") from None
        if points.shape != (68, 2):
            raise DatasetError(f"{root}/manifest.json: {name} has landmarks of shape {points.shape}, not (68, 2)")
        scale = size / item.get("landmarks_size", 256)
        if mask is not None and mask.shape[0] != size:
            mask = resize(mask, (size, size))
        landmarks[k] = points * scale
        silhouettes[k] = mask if mask is not None else 0
    return landmarks, silhouettes


def _natural_key(name: str):
    return [int(part) if part.isdigit() else part for part in _split_digits(name)]


def _split_digits(name: str) -> list[str]:
    import re

    return re.split(r"(\d+)", name)


def split_train_val(names: list[str], val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Deterministic split by a hash of each name, so adding files never reshuffles existing ones.

    Pass identities instead of file names to keep every photo of a person on one side (LFW).
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    train, val = [], []
    for index, name in enumerate(names):
        digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
        (val if int.from_bytes(digest[:8], "big") / 2**64 < val_fraction else train).append(index)
    return train, val
