"""Paired sketch/photo datasets held in memory as uint8 arrays at the model's resolution."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
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


def load_paired_folder(root: str | Path, size: int = 256, default_style: str | None = None) -> PairedArrays:
    """Load ``root/photos/NAME.*`` with ``root/sketches/NAME.*`` (same stem) into memory.

    Each pair's style label is its manifest entry's ``style`` (folders made by ``prepare-data``),
    else ``default_style``.

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
            photo_arrays.append(prepare_photo(photos[name], size)[0])
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


def style_planes(style_ids: np.ndarray | list[int], n_styles: int, size: int) -> np.ndarray:
    """One-hot style conditioning: (N,) style indices -> (N, n_styles, size, size) float32 planes,
    1 on the chosen style's plane and -1 elsewhere (the model's [-1, 1] input range)."""
    ids = np.asarray(style_ids, dtype=np.int64)
    planes = np.full((len(ids), n_styles, size, size), -1.0, dtype=np.float32)
    planes[np.arange(len(ids)), ids] = 1.0
    return planes


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


def facial_regions(size: int) -> dict[str, tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1) of the eyes, nose and mouth in the canonical aligned frame of ``size``.

    Placed from the canonical 5-point landmarks; the mouth, which the 5-point model lacks, sits
    below the nose base by 0.8 of the eye-to-nose distance.
    """
    from .align import CANONICAL_LANDMARKS_256, CANONICAL_SIZE

    points = CANONICAL_LANDMARKS_256 * (size / CANONICAL_SIZE)
    left_eye, right_eye = points[2:4].mean(0), points[0:2].mean(0)
    nose = points[4]
    eye_mid = (left_eye + right_eye) / 2
    eye_gap = float(np.linalg.norm(right_eye - left_eye))
    mouth = nose + (nose - eye_mid) * 0.8

    def box(centre, half_w, half_h):
        x, y = centre
        return (int(x - half_w), int(y - half_h), int(x + half_w), int(y + half_h))

    return {
        "left_eye": box(left_eye, 0.35 * eye_gap, 0.2 * eye_gap),
        "right_eye": box(right_eye, 0.35 * eye_gap, 0.2 * eye_gap),
        "nose": box((eye_mid + nose) / 2 + [0, 0.1 * eye_gap], 0.3 * eye_gap, 0.45 * eye_gap),
        "mouth": box(mouth, 0.5 * eye_gap, 0.25 * eye_gap),
    }


def erase_region(sketch: np.ndarray, region: tuple[int, int, int, int], rng: np.random.Generator | None = None,
                 ) -> np.ndarray:
    """Blank a facial region of a sketch to paper white, with a soft, slightly jittered edge."""
    x0, y0, x1, y1 = region
    if rng is not None:
        jitter = rng.integers(-3, 4, size=4)
        x0, y0, x1, y1 = x0 + jitter[0], y0 + jitter[1], x1 + jitter[2], y1 + jitter[3]
    mask = np.zeros(sketch.shape[:2], np.float32)
    centre = ((x0 + x1) // 2, (y0 + y1) // 2)
    axes = (max(1, (x1 - x0) // 2), max(1, (y1 - y0) // 2))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 2.0)
    out = sketch.astype(np.float32) * (1 - mask) + 255.0 * mask
    return out.astype(np.uint8)


@dataclass
class SketchStyleAugment:
    """Changes to the sketch alone, so models meet the variety of real drawings (all off by default;
    each value is the probability of applying that change to a sample).

    - ``stroke_width``: thicken (erode) or thin (dilate) the lines by one pixel;
    - ``darkness``: a gamma curve that makes lines fainter or darker;
    - ``paper``: paper grain and scanner noise;
    - ``erase_regions``: blank one or two of eyes / nose / mouth, so a model learns to repair them.
    """

    stroke_width: float = 0.0
    darkness: float = 0.0
    paper: float = 0.0
    erase_regions: float = 0.0

    def __call__(self, sketch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.stroke_width and rng.random() < self.stroke_width:
            kernel = np.ones((2, 2), np.uint8)
            sketch = cv2.erode(sketch, kernel) if rng.random() < 0.5 else cv2.dilate(sketch, kernel)
        if self.darkness and rng.random() < self.darkness:
            gamma = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
            sketch = (255.0 * (sketch / 255.0) ** gamma).astype(np.uint8)
        if self.paper and rng.random() < self.paper:
            grain = cv2.GaussianBlur(rng.normal(0, 1, sketch.shape).astype(np.float32), (0, 0), 1.5)
            noise = rng.normal(0, rng.uniform(2, 8), sketch.shape) + grain * rng.uniform(5, 15)
            sketch = np.clip(sketch.astype(np.float32) + noise, 0, 255).astype(np.uint8)
        if self.erase_regions and rng.random() < self.erase_regions:
            regions = facial_regions(sketch.shape[0])
            names = list(regions)
            for name in rng.choice(names, size=int(rng.integers(1, 3)), replace=False):
                sketch = erase_region(sketch, regions[str(name)], rng)
        return np.ascontiguousarray(sketch)
