"""Fidelity control: between "exactly my strokes" (1) and "the most plausible drawing near my
strokes" (0), part by part.

DeepFaceDrawing (Chen et al., SIGGRAPH 2020) projects each face part of a rough sketch onto a
manifold of training sketches: the part's K nearest neighbours, combined with locally linear
embedding weights. We do the same in the drawing's own domain, so any generator can use it and it
runs in a few milliseconds on a CPU:

1. Each part (both eyes with their brows, the nose, the mouth, and everything else at a coarse
   scale) is described by the distance field of its ink (distance to the nearest stroke, clipped),
   which is tolerant of strokes a few pixels off where a raw-pixel comparison is not.
2. The K nearest parts in a bank of training drawings (``assets/part_bank.npz``, drawn by the
   training procedures from faces of LFW people A-S; ``scripts/build_part_bank.py``) are mixed
   with the weights that best reconstruct the drawn part (LLE, weights summing to one).
3. The drawn and the projected distance fields are blended, ``fidelity * drawn + (1 - fidelity) *
   projected``, part masks feathered into each other, and the blend is inked again as strokes.

Works in the models' aligned 256x256 framing, after ``preprocess_sketch`` has framed the drawing.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

BANK_FILE = Path(__file__).parent / "assets" / "part_bank.npz"
FRAME = 256
#: Distance fields are clipped here (pixels at 256): strokes further apart than this look alike.
MAX_DISTANCE = 16.0
#: Neighbours mixed per part, and the LLE regulariser (share of the Gram matrix's trace).
NEIGHBOURS = 4
REGULARISATION = 1e-3
#: Part boxes (x0, y0, x1, y1) at 256x256 around ``freehand.MEAN_LANDMARKS_256`` with margins for
#: deformed drawings; each is compared at half resolution, everything else ("rest") at a quarter.
PART_BOXES = {
    "eye_left": (64, 92, 128, 148),
    "eye_right": (128, 92, 192, 148),
    "nose": (100, 120, 156, 180),
    "mouth": (92, 168, 164, 212),
}
PART_SCALE = 2
REST_SCALE = 4


def distance_field(grey: np.ndarray) -> np.ndarray:
    """uint8 drawing -> float32 distance (pixels) from every pixel to the nearest ink, clipped."""
    paper = (grey > 160).astype(np.uint8)
    if paper.all():
        return np.full(grey.shape, MAX_DISTANCE, np.float32)
    return np.minimum(cv2.distanceTransform(paper, cv2.DIST_L2, 5), MAX_DISTANCE).astype(np.float32)


def _shrink(field: np.ndarray, scale: int) -> np.ndarray:
    return cv2.resize(field, (field.shape[1] // scale, field.shape[0] // scale), interpolation=cv2.INTER_AREA)


def part_features(field: np.ndarray) -> dict[str, np.ndarray]:
    """Each part's distance field (and the rest's, with the parts blanked) as a flat vector."""
    features = {}
    for name, (x0, y0, x1, y1) in PART_BOXES.items():
        features[name] = _shrink(field[y0:y1, x0:x1], PART_SCALE).ravel()
    rest = field.copy()
    for x0, y0, x1, y1 in PART_BOXES.values():
        rest[y0:y1, x0:x1] = MAX_DISTANCE
    features["rest"] = _shrink(rest, REST_SCALE).ravel()
    return features


@dataclass
class PartBank:
    """Distance-field features of training drawings, one (N, F) array per part, stored as uint8."""

    parts: dict[str, np.ndarray]

    def save(self, path: str | Path) -> None:
        import io

        from .io import atomic_write_bytes

        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{k: np.round(v / MAX_DISTANCE * 255).astype(np.uint8)
                                       for k, v in self.parts.items()})
        atomic_write_bytes(Path(path), buffer.getvalue())

    @staticmethod
    def load(path: str | Path = BANK_FILE) -> "PartBank":
        with np.load(path) as stored:
            return PartBank({k: stored[k].astype(np.float32) * (MAX_DISTANCE / 255) for k in stored.files})

    def project(self, name: str, feature: np.ndarray) -> np.ndarray:
        """The LLE combination of ``feature``'s nearest neighbours among the bank's parts."""
        bank = self.parts[name]
        distances = ((bank - feature) ** 2).sum(1)
        nearest = bank[np.argpartition(distances, NEIGHBOURS)[:NEIGHBOURS]]
        offsets = nearest - feature
        gram = offsets @ offsets.T
        gram += np.eye(len(gram)) * (REGULARISATION * np.trace(gram) + 1e-6)
        weights = np.linalg.solve(gram, np.ones(len(gram)))
        weights /= weights.sum()
        return weights @ nearest


@lru_cache(maxsize=1)
def default_bank() -> PartBank:
    if not BANK_FILE.is_file():
        raise FileNotFoundError(f"{BANK_FILE} is missing; reinstall sketch2face or run scripts/build_part_bank.py")
    return PartBank.load(BANK_FILE)


def _grow(vector: np.ndarray, shape: tuple[int, int], scale: int) -> np.ndarray:
    small = vector.reshape(shape[0] // scale, shape[1] // scale).astype(np.float32)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _feather(box: tuple[int, int, int, int], shape: tuple[int, int], softness: float = 5.0) -> np.ndarray:
    x0, y0, x1, y1 = box
    mask = np.zeros(shape, np.float32)
    mask[y0 + 4:y1 - 4, x0 + 4:x1 - 4] = 1.0
    return cv2.GaussianBlur(mask, (0, 0), softness)


def _ink(field: np.ndarray, depth: float, width: int) -> np.ndarray:
    """Strokes again from a (blended) distance field: its valleys (pixels no higher than their
    lowest neighbour) that are deeper than ``depth`` pixels, inked at ``width``. Where neighbours
    agree only roughly their mixture has a shallow valley: a threshold on the value alone would
    break such strokes into pieces, a valley keeps them whole; ``depth`` drops the ones they do not share."""
    field = cv2.GaussianBlur(field, (0, 0), 1.0)  # one valley per stroke, not a ragged pair
    lowest = cv2.erode(field, np.ones((3, 3), np.uint8))
    from skimage.morphology import skeletonize

    # a loose valley test keeps strokes connected; thinning then leaves one line per stroke
    valley = skeletonize((field <= lowest + 0.6) & (field < depth)).astype(np.uint8)
    if width > 1:
        valley = cv2.dilate(valley, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width)))
    return np.where(valley > 0, 20, 255).astype(np.uint8)


def stroke_width(grey: np.ndarray) -> int:
    """The typical stroke width of a drawing in pixels (twice the distance from its ink's centre lines)."""
    ink = (grey <= 160).astype(np.uint8)
    if ink.sum() < 10:
        return 2
    inside = cv2.distanceTransform(ink, cv2.DIST_L2, 5)
    return int(np.clip(round(2 * np.percentile(inside[ink > 0], 75)), 1, 8))


def apply_fidelity(grey: np.ndarray, fidelity: float, bank: PartBank | None = None) -> np.ndarray:
    """Move a framed drawing (uint8, square) towards plausible face parts; ``fidelity`` 1 returns it unchanged."""
    if not 0.0 <= fidelity <= 1.0:
        raise ValueError(f"fidelity must be between 0 and 1, got {fidelity}")
    if fidelity >= 1.0:
        return grey
    bank = bank or default_bank()
    size = grey.shape[0]
    square = grey if size == FRAME else cv2.resize(grey, (FRAME, FRAME), interpolation=cv2.INTER_AREA)
    field = distance_field(square)
    features = part_features(field)
    projected_rest = _grow(bank.project("rest", features["rest"]), (FRAME, FRAME), REST_SCALE)
    blended = fidelity * field + (1 - fidelity) * projected_rest
    for name, box in PART_BOXES.items():
        x0, y0, x1, y1 = box
        part = _grow(bank.project(name, features[name]), (y1 - y0, x1 - x0), PART_SCALE)
        local = blended.copy()
        local[y0:y1, x0:x1] = fidelity * field[y0:y1, x0:x1] + (1 - fidelity) * part
        mask = _feather(box, (FRAME, FRAME))
        blended = mask * local + (1 - mask) * blended
    drawn = _ink(blended, 2.0 + 6.0 * (1 - fidelity), stroke_width(square))
    return drawn if size == FRAME else cv2.resize(drawn, (size, size), interpolation=cv2.INTER_AREA)
