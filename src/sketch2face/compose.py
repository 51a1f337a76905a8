"""Composing a pencil portrait from real face parts that look like a line drawing's parts.

A sparse line drawing says where the eyes, nose, mouth and hair are and roughly what shape they
have; it says nothing about skin, shading or hair texture, and a generator trained to map such
drawings to photos with a pixel loss answers with the average face (docs/experiments.md, E8-E10).
DeepFaceDrawing (Chen et al., SIGGRAPH 2020) projects each part of a rough drawing onto a manifold
of real sketch parts before synthesis; forensic photofit systems build a face from a catalogue of
real features. We do both, on a CPU in a few milliseconds:

1. Every face in a bank (``assets/exemplar_bank.npz``; ``scripts/build_exemplar_bank.py``) is
   stored as its pencil sketch (``data.sketch.line_sketch`` of its aligned photo), its 68 landmarks,
   and the distance-field features of freehand drawings of it made by the training procedures
   (``fidelity.part_features``): what the face looks like when someone draws it.
2. The drawing's features pick a *base* face (by the head outline, hair and shoulders; nearest
   after a hubness correction, so that drawings unlike the training drawings do not all land on a
   few central faces) and, for the eyes with their brows, the nose and the mouth, the face whose
   drawn part is nearest.
3. Each chosen part is moved onto the base face's part by a similarity transform between their
   landmarks and blended in with Poisson image editing (``cv2.seamlessClone``), so the seams carry
   no shading step. A part never comes from the base face itself, so no output is any one bank
   person's face: eyes, nose and mouth come from people other than the hair and outline.

The composite is a shaded portrait, so a routed model renders it with its portrait model, which
was trained on pencil sketches aligned with their photos and turns them into faces with skin and
hair (``pipeline.preprocess_sketch``). Works in the models' aligned 256x256 framing.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .data.freehand import BROW_LEFT, BROW_RIGHT, EYE_LEFT, EYE_RIGHT
from .fidelity import FRAME, MAX_DISTANCE, distance_field, part_features

BANK_FILE = Path(__file__).parent / "assets" / "exemplar_bank.npz"
#: The landmark groups moved from one face to another, and the features that choose each.
PART_LANDMARKS = {
    "eyes": [np.r_[BROW_LEFT, EYE_LEFT], np.r_[BROW_RIGHT, EYE_RIGHT]],
    "nose": [np.r_[27:36]],
    "mouth": [np.r_[48:60]],
}
PART_FEATURES = {"eyes": ("eye_left", "eye_right"), "nose": ("nose",), "mouth": ("mouth",)}
#: Pixels (at 256) a part's mask reaches beyond the hull of its landmarks: enough for eyelids,
#: nostrils and the lip line, not so much that a second face's cheeks come along.
PART_MARGIN = {"eyes": 7, "nose": 8, "mouth": 7}
#: Hubness correction of the base choice (CSLS, Conneau et al. 2018, in distance form): a face's
#: distance to the drawing minus this share of its mean distance to its HUB_NEIGHBOURS nearest bank
#: faces. Drawings unlike the training procedures' otherwise fall nearest to a few central faces
#: (376 held-out doodles chose 61 bases, one of them 62 times); chosen on validation drawings
#: (docs/experiments.md, E15: `python scripts/compose_selection.py`).
HUB_WEIGHT = 0.5
HUB_NEIGHBOURS = 10
#: Stored sketches are JPEG at this quality (a bank of 1,500 faces is about 20 MB of PNG, 8 MB of JPEG).
JPEG_QUALITY = 85


@dataclass
class ExemplarBank:
    """Faces to compose from: drawn-part features (uint8-coded distances, one (N, F) array per
    part), landmarks (N, 68, 2) at 256, and sketches (N JPEG byte strings, 256x256 greyscale)."""

    features: dict[str, np.ndarray]
    landmarks: np.ndarray
    sketches: list[bytes]

    def __len__(self) -> int:
        return len(self.sketches)

    def save(self, path: str | Path) -> None:
        from .io import atomic_write_bytes

        offsets = np.cumsum([0] + [len(s) for s in self.sketches]).astype(np.int64)
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, landmarks=self.landmarks.astype(np.float16), sketch_offsets=offsets,
            sketch_bytes=np.frombuffer(b"".join(self.sketches), np.uint8),
            **{f"feature_{k}": np.round(np.asarray(v) / MAX_DISTANCE * 255).astype(np.uint8)
               for k, v in self.features.items()})
        atomic_write_bytes(Path(path), buffer.getvalue())

    @staticmethod
    def load(path: str | Path = BANK_FILE) -> "ExemplarBank":
        with np.load(path) as stored:
            data, offsets = stored["sketch_bytes"].tobytes(), stored["sketch_offsets"]
            return ExemplarBank(
                {k[len("feature_"):]: stored[k].astype(np.float32) * (MAX_DISTANCE / 255)
                 for k in stored.files if k.startswith("feature_")},
                stored["landmarks"].astype(np.float32),
                [data[a:b] for a, b in zip(offsets[:-1], offsets[1:])])

    def sketch(self, index: int) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(self.sketches[index])).convert("L"))

    def distances(self, features: dict[str, np.ndarray], names) -> np.ndarray:
        """Mean squared feature distance of every bank face to ``features`` over the parts ``names``."""
        return sum(((self.features[n] - features[n]) ** 2).mean(1) for n in names)

    @cached_property
    def crowding(self) -> np.ndarray:
        """Each face's mean "rest" distance to its HUB_NEIGHBOURS nearest other bank faces."""
        rest = self.features["rest"].astype(np.float64)
        squares = (rest ** 2).sum(1)
        pairwise = (squares[:, None] + squares[None] - 2 * rest @ rest.T) / rest.shape[1]
        np.fill_diagonal(pairwise, np.inf)
        nearest = min(HUB_NEIGHBOURS, len(self) - 1)
        return np.partition(pairwise, nearest - 1, axis=1)[:, :nearest].mean(1)

    def choose(self, features: dict[str, np.ndarray], variation: int = 0) -> dict[str, int]:
        """The bank face for the base and for each part; ``variation`` k takes each one's (k+1)-th
        nearest (the base's nearest after the hubness correction)."""
        # the base face's own parts are replaced, so only the rest (head, hair, shoulders) chooses it
        scores = self.distances(features, ("rest",)) - HUB_WEIGHT * self.crowding
        chosen = {"base": int(np.argsort(scores)[variation])}
        for part, names in PART_FEATURES.items():
            distances = self.distances(features, names)
            distances[chosen["base"]] = np.inf  # never the base's own part: no output is one bank face
            chosen[part] = int(np.argsort(distances)[variation])
        return chosen


@lru_cache(maxsize=1)
def default_bank() -> ExemplarBank:
    if not BANK_FILE.is_file():
        raise FileNotFoundError(f"{BANK_FILE} is missing; reinstall sketch2face or run scripts/build_exemplar_bank.py")
    return ExemplarBank.load(BANK_FILE)


def _part_mask(points: list[np.ndarray], margin: int) -> np.ndarray:
    mask = np.zeros((FRAME, FRAME), np.uint8)
    for group in points:
        cv2.fillConvexPoly(mask, cv2.convexHull(group.round().astype(np.int32)), 255)
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1)))


def _clone_part(canvas: np.ndarray, donor: np.ndarray, donor_points: np.ndarray, base_points: np.ndarray,
                groups: list[np.ndarray], margin: int) -> np.ndarray:
    """``donor``'s part moved onto ``canvas``'s (the base face's) by a similarity transform between
    their landmarks, and blended in by Poisson editing."""
    every = np.concatenate(groups)
    transform, _ = cv2.estimateAffinePartial2D(donor_points[every], base_points[every])
    if transform is None:
        return canvas
    moved = cv2.warpAffine(donor, transform, (FRAME, FRAME), flags=cv2.INTER_LINEAR, borderValue=255)
    mask = _part_mask([base_points[g] for g in groups], margin)
    mask[:2], mask[-2:], mask[:, :2], mask[:, -2:] = 0, 0, 0, 0  # seamlessClone needs a border around it
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0 or h == 0:
        return canvas
    centre = (x + w // 2, y + h // 2)
    blended = cv2.seamlessClone(cv2.merge([moved] * 3), cv2.merge([canvas] * 3), mask, centre, cv2.NORMAL_CLONE)
    return blended[:, :, 0]


def compose_sketch(grey: np.ndarray, variation: int = 0, bank: ExemplarBank | None = None) -> np.ndarray:
    """A framed line drawing (uint8, square) -> a pencil portrait composed from bank faces, same size.
    The drawing's strokes are not drawn over it: the portrait model would trace them
    (docs/freehand.md); the fidelity control acts on the drawing before its parts are matched."""
    if variation < 0:
        raise ValueError(f"variation must be >= 0, got {variation}")
    bank = bank or default_bank()
    size = grey.shape[0]
    square = grey if size == FRAME else cv2.resize(grey, (FRAME, FRAME), interpolation=cv2.INTER_AREA)
    chosen = bank.choose(part_features(distance_field(square)), variation % len(bank))
    base = chosen["base"]
    canvas = bank.sketch(base)
    for part, groups in PART_LANDMARKS.items():
        canvas = _clone_part(canvas, bank.sketch(chosen[part]), bank.landmarks[chosen[part]],
                             bank.landmarks[base], groups, PART_MARGIN[part])
    return canvas if size == FRAME else cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
