"""Freehand drawings made from a photo: what a person who is not an artist draws on a canvas.

A drawing is rendered from the face's geometry (dlib's 68 landmarks and, when MediaPipe is
installed, the person's silhouette from selfie segmentation), never from the photo's pixels, so
strokes are not edges of the photo. Each drawing is made imprecise on purpose: part-wise and
elastic deformation against the photo, hand tremor, random pen widths and ink, omitted parts.
The same geometry drawn twice with different seeds gives two different drawings, which is how the
training loop redraws every sample at every step (``data.freehand_procedures``).

Procedures (docs/freehand.md shows each):

- ``strokes``: one stroke per feature (jaw, brows, eyes with irises, nose, lips), the hair and
  shoulder outline and a few hair strands; for training.
- ``sketchy``: the same features drawn loosely with several short overlapping passes and a
  scribbled hair mass; for training.
- ``cartoon``: other primitives (an angular jaw, round eyes with dot pupils, straight brows, nostril
  dots, a straight mouth, C-shaped ears, hatched hair); **for validation only**: choices about
  drawings unlike the training ones (the composer's, docs/experiments.md E18) are made on it, never
  on the test procedure, and no recipe trains on it.
- ``generic``: a head drawn from a template, whoever the person: an egg of a jaw and a dome, a fringe or
  a parting with a few strands for the hair, shoulders as two slopes; the features where the person's
  are (oval eyes, nostril hooks, a mouth line over a lower lip). It never looks at the silhouette, as
  someone who draws "a face" rather than this face's hair; **for validation only**, like ``cartoon``.
- ``doodle``: primitive shapes (an oval head, almond eyes with filled irises, an L-shaped nose, a
  mouth arc, zig-zag hair); **held out for testing only**: no shipped recipe may train on it.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from .manifest import read_manifest

log = logging.getLogger(__name__)

TRAINING_PROCEDURES = ("strokes", "sketchy")
VALIDATION_PROCEDURES = ("cartoon", "generic")
TEST_PROCEDURES = ("doodle",)
PROCEDURES = TRAINING_PROCEDURES + VALIDATION_PROCEDURES + TEST_PROCEDURES

# dlib's 68-point layout ("left"/"right" as seen in the image)
JAW = slice(0, 17)
BROW_LEFT, BROW_RIGHT = slice(17, 22), slice(22, 27)
NOSE_BRIDGE, NOSE_BASE = slice(27, 31), slice(31, 36)
EYE_LEFT, EYE_RIGHT = slice(36, 42), slice(42, 48)
LIPS_OUTER, LIPS_INNER = slice(48, 60), slice(60, 68)
#: Landmark groups that move together when a drawing gets a part wrong.
PARTS = {"jaw": JAW, "brow_left": BROW_LEFT, "brow_right": BROW_RIGHT, "nose": slice(27, 36),
         "eye_left": EYE_LEFT, "eye_right": EYE_RIGHT, "mouth": slice(48, 68)}

#: Median dlib landmarks of 2,977 aligned LFW photos at 256x256 (people A-S; ``cache/freehand-lfw``
#: from prepare-data, median per coordinate): a typical face in the models' framing, for tests and
#: guides.
MEAN_LANDMARKS_256 = np.array([
    [69, 132], [69, 147], [71, 163], [74, 178], [79, 193], [87, 206], [99, 217], [112, 226],
    [128, 228], [144, 226], [157, 218], [169, 207], [178, 194], [183, 179], [185, 163], [187, 147],
    [187, 132], [80, 120], [87, 113], [98, 111], [108, 112], [118, 116], [137, 116], [147, 112],
    [158, 111], [168, 113], [175, 120], [128, 127], [128, 137], [128, 148], [128, 158], [116, 165],
    [122, 167], [128, 169], [134, 167], [140, 165], [92, 130], [99, 126], [106, 126], [112, 130],
    [106, 132], [98, 132], [143, 131], [150, 126], [157, 126], [163, 130], [157, 132], [150, 132],
    [105, 186], [113, 181], [121, 179], [128, 181], [134, 179], [143, 181], [151, 186], [143, 194],
    [135, 197], [128, 198], [121, 197], [113, 193], [109, 186], [121, 184], [128, 185], [134, 184],
    [147, 186], [134, 190], [128, 190], [121, 190],
], dtype=np.float32)


@dataclass
class FaceGeometry:
    """What a drawing is made from, in the photo's pixel coordinates."""

    landmarks: np.ndarray
    """(68, 2) float32 dlib landmarks."""
    silhouette: np.ndarray | None = None
    """(H, W) uint8 person mask (255 = hair, face, neck, shoulders), or None when unknown."""

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.landmarks[EYE_LEFT].mean(0) - self.landmarks[EYE_RIGHT].mean(0)))

    def scaled(self, factor: int) -> "FaceGeometry":
        """The same face in a photo ``factor`` times as large: drawn at ``factor`` times the size, its
        strokes keep the procedure's pen widths in pixels, as a fine pen on a large scan does."""
        silhouette = None if self.silhouette is None else cv2.resize(
            self.silhouette, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
        return FaceGeometry(self.landmarks * factor, silhouette)


def prepared_items(folder: str | Path) -> list[dict]:
    """The manifest items of a folder prepared with a freehand style that kept their landmarks, by name."""

    manifest = read_manifest(folder)
    if manifest is None:
        raise FileNotFoundError(f"{folder}/manifest.json is missing: make the folder with sketch2face prepare-data")
    return [item for item in manifest.values() if "landmarks" in item]


def prepared_geometry(folder: str | Path, item: dict) -> FaceGeometry:
    """The geometry ``prepare-data`` kept for a freehand item: its manifest landmarks and, when
    present, ``silhouettes/NAME.png``."""
    from .transforms import load_image, to_grayscale

    mask_path = Path(folder) / "silhouettes" / f"{item['name']}.png"
    mask = to_grayscale(load_image(mask_path)) if mask_path.is_file() else None
    return FaceGeometry(np.asarray(item["landmarks"], np.float32), mask)


@lru_cache(maxsize=1)
def _landmark_models():
    from ..identity import dlib_model_file, dlib_models

    dlib, detector, _, _ = dlib_models()
    return detector, dlib.shape_predictor(dlib_model_file("shape_predictor_68_face_landmarks.dat"))


@lru_cache(maxsize=1)
def _segmenter():
    try:
        import mediapipe as mp
    except ImportError:  # optional: drawings then have no hair or shoulder outline
        log.warning("mediapipe is not installed: freehand drawings get no hair/shoulder outline")
        return None
    return mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)


def detect_geometry(photo: np.ndarray, silhouette: bool = True) -> FaceGeometry | None:
    """uint8 RGB photo -> landmarks of its largest face and the person's silhouette, or None."""
    detector, predictor = _landmark_models()
    rgb = np.ascontiguousarray(photo)
    faces = detector(rgb, 1)
    if not len(faces):
        return None
    box = max(faces, key=lambda r: r.width() * r.height())
    shape = predictor(rgb, box)
    landmarks = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
    mask = None
    segmenter = _segmenter() if silhouette else None
    if segmenter is not None:
        probability = segmenter.process(rgb).segmentation_mask
        mask = (probability > 0.5).astype(np.uint8) * 255
    return FaceGeometry(landmarks, mask)


# --- curves --------------------------------------------------------------------------------------

def _resample(points: np.ndarray, spacing: float, closed: bool = False) -> np.ndarray:
    """Points every ``spacing`` pixels along a polyline."""
    if closed:
        points = np.vstack([points, points[:1]])
    segment = np.linalg.norm(np.diff(points, axis=0), axis=1)
    length = np.concatenate([[0.0], np.cumsum(segment)])
    if length[-1] < 1e-6:
        return points[:1].copy()
    at = np.linspace(0.0, length[-1], max(2, int(length[-1] / spacing) + 1))
    resampled = np.stack([np.interp(at, length, points[:, k]) for k in range(2)], axis=1)
    return resampled[:-1] if closed else resampled


def _smooth(values: np.ndarray, sigma: float, closed: bool = False) -> np.ndarray:
    """Gaussian smoothing along the first axis (wrapping for closed curves)."""
    if sigma <= 0 or len(values) < 3:
        return values
    radius = int(3 * sigma) + 1
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    pad = (radius, radius)
    padded = np.pad(values, (pad,) + ((0, 0),) * (values.ndim - 1), mode="wrap" if closed else "edge")
    if values.ndim == 1:
        return np.convolve(padded, kernel, mode="valid")
    return np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(values.shape[1])], axis=1)


def _curve(points: np.ndarray, closed: bool = False, spacing: float = 2.0, smoothing: float = 1.5) -> np.ndarray:
    """A smooth curve through landmark points (dense resampling, then smoothing)."""
    return _smooth(_resample(np.asarray(points, np.float64), spacing, closed), smoothing / spacing * 2, closed)


def _tremble(curve: np.ndarray, rng: np.random.Generator, amplitude: float, closed: bool = False) -> np.ndarray:
    """Hand tremor: a slowly varying sideways displacement along the stroke."""
    if amplitude <= 0 or len(curve) < 3:
        return curve
    tangent = np.gradient(curve, axis=0)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-9
    wobble = _smooth(rng.normal(0, 1, len(curve)), rng.uniform(2, 6), closed)
    wobble *= amplitude / (np.abs(wobble).max() + 1e-9)
    return curve + normal * wobble[:, None]


def _bezier(a, control, b, n: int = 24) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * np.asarray(a) + 2 * (1 - t) * t * np.asarray(control) + t ** 2 * np.asarray(b)


@dataclass
class Stroke:
    """One pen movement of a drawing: what a script replays with the mouse on the web canvas."""

    points: np.ndarray
    """(K, 2) positions in drawing pixels, in drawing order."""
    width: int


class _Pen:
    """Draws anti-aliased strokes of one width and ink onto a white canvas, and records them."""

    SHIFT = 3  # sub-pixel precision for cv2

    def __init__(self, size: int, width: int, ink: int):
        self.canvas = np.full((size, size), 255, np.uint8)
        self.width, self.ink = max(1, int(width)), int(ink)
        self.strokes: list[Stroke] = []

    def line(self, curve: np.ndarray, closed: bool = False, width: int | None = None) -> None:
        if len(curve) < 2:
            return
        width = width or self.width
        curve = np.asarray(curve, np.float64)
        self.strokes.append(Stroke(np.vstack([curve, curve[:1]]) if closed else curve, width))
        scaled = np.round(curve * (1 << self.SHIFT)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(self.canvas, [scaled], closed, self.ink, width, cv2.LINE_AA, self.SHIFT)

    def disc(self, centre, radius: float) -> None:
        # a filled disc is drawn (and replayed) as a tight spiral of the pen
        turns = np.linspace(0, 2 * np.pi * max(1.0, radius / max(self.width, 1)), 40)
        spiral = np.asarray(centre) + (radius * (1 - turns / turns[-1]))[:, None] * np.stack(
            [np.cos(turns), np.sin(turns)], 1)
        self.strokes.append(Stroke(spiral, self.width))
        c = tuple(int(round(v * (1 << self.SHIFT))) for v in centre)
        cv2.circle(self.canvas, c, max(1, int(round(radius * (1 << self.SHIFT)))), self.ink, -1, cv2.LINE_AA,
                   self.SHIFT)


# --- deformation ---------------------------------------------------------------------------------

def _similarity(points: np.ndarray, centre: np.ndarray, scale: float, angle: float, shift) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    rotation = np.array([[c, -s], [s, c]]) * scale
    return (points - centre) @ rotation.T + centre + np.asarray(shift)


def _elastic_field(size: int, rng: np.random.Generator, amplitude: float, cells: int = 4):
    """A smooth random displacement field (coarse grid noise, upsampled)."""
    coarse = rng.normal(0, 1, (cells, cells, 2)).astype(np.float32)
    field = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    return field * (amplitude / (np.abs(field).max() + 1e-9))


def deform_landmarks(landmarks: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Move, scale and turn each face part on its own: wrong proportions, as in amateur drawings."""
    points = landmarks.astype(np.float64).copy()
    unit = float(np.linalg.norm(points[EYE_LEFT].mean(0) - points[EYE_RIGHT].mean(0)))
    for part, index in PARTS.items():
        group = points[index]
        centre = group.mean(0)
        if part == "jaw":  # a wider or narrower, longer or shorter face
            group = (group - centre) * [rng.uniform(1 - 0.12 * strength, 1 + 0.12 * strength),
                                        rng.uniform(1 - 0.1 * strength, 1 + 0.1 * strength)] + centre
            points[index] = group
            continue
        points[index] = _similarity(group, centre, rng.uniform(1 - 0.2 * strength, 1 + 0.3 * strength),
                                    rng.uniform(-0.15, 0.15) * strength,
                                    rng.normal(0, 0.07 * unit * strength, 2))
    return points


def _placed_landmarks(geometry: FaceGeometry, size: int, rng: np.random.Generator, strength: float):
    """What every procedure draws first: (the eye distance, the whole-drawing warp, the landmarks where the
    drawing puts them: each part deformed on its own, then the whole warped)."""
    unit = max(geometry.eye_distance, 1.0)
    warp = _Warp(size, rng, strength, unit)
    return unit, warp, warp(deform_landmarks(geometry.landmarks.astype(np.float64), rng, strength))


class _Warp:
    """The whole-drawing distortion: an elastic field, then a similarity (off-centre, rotated, sized)."""

    def __init__(self, size: int, rng: np.random.Generator, strength: float, unit: float):
        self.size = size
        self.field = _elastic_field(size, rng, 0.12 * unit * strength) if strength > 0 else None
        self.centre = np.array([size / 2, size / 2])
        self.scale = rng.uniform(1 - 0.08 * strength, 1 + 0.06 * strength)
        self.angle = rng.uniform(-0.06, 0.06) * strength
        self.shift = rng.normal(0, 0.025 * size * strength, 2)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, np.float64)
        if self.field is not None:
            xy = np.clip(np.round(points).astype(int), 0, self.size - 1)
            points = points + self.field[xy[:, 1], xy[:, 0]]
        return _similarity(points, self.centre, self.scale, self.angle, self.shift)


# --- the silhouette ------------------------------------------------------------------------------

def _outline_runs(silhouette: np.ndarray, margin: int = 3) -> list[np.ndarray]:
    """The person's outline as polylines, leaving out where it runs along the image border."""
    contours, _ = cv2.findContours((silhouette > 127).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return []
    contour = max(contours, key=cv2.contourArea)[:, 0, :].astype(np.float64)
    if len(contour) < 20:
        return []
    h, w = silhouette.shape
    inside = ((contour[:, 0] > margin) & (contour[:, 0] < w - 1 - margin) &
              (contour[:, 1] > margin) & (contour[:, 1] < h - 1 - margin))
    if inside.all():
        return [contour]
    start = int(np.argmin(inside))  # begin the walk on a border point so runs are not split at index 0
    contour, inside = np.roll(contour, -start, axis=0), np.roll(inside, -start)
    runs, current = [], []
    for point, keep in zip(contour, inside):
        if keep:
            current.append(point)
        elif current:
            runs.append(np.array(current))
            current = []
    if current:
        runs.append(np.array(current))
    return [r for r in runs if len(r) >= 15]


def _hair_outline(runs: list[np.ndarray], landmarks: np.ndarray) -> list[np.ndarray]:
    """Parts of the outline above the jaw's lower third: the head and hair, without the shoulders."""
    level = landmarks[JAW][:, 1].min() + 0.6 * (landmarks[8, 1] - landmarks[JAW][:, 1].min())
    pieces = []
    for run in runs:
        keep = run[:, 1] < level
        if keep.sum() >= 15:
            pieces.append(run[keep])
    return pieces


def _head_centre(landmarks: np.ndarray) -> np.ndarray:
    eyes = (landmarks[EYE_LEFT].mean(0) + landmarks[EYE_RIGHT].mean(0)) / 2
    return eyes + (landmarks[8] - eyes) * 0.15


# --- procedures ----------------------------------------------------------------------------------

def _features(points: np.ndarray) -> dict[str, tuple[np.ndarray, bool]]:
    """Each drawable feature of the (deformed) landmarks: (points, closed)."""
    return {
        "jaw": (points[JAW], False),
        "brow_left": (points[BROW_LEFT], False), "brow_right": (points[BROW_RIGHT], False),
        "nose_bridge": (points[NOSE_BRIDGE], False),
        "nose_base": (np.vstack([points[31] + (points[31] - points[33]) * 0.15, points[32:35],
                                 points[35] + (points[35] - points[33]) * 0.15]), False),
        "eye_left": (points[EYE_LEFT], True), "eye_right": (points[EYE_RIGHT], True),
        "lips": (points[LIPS_OUTER], True),
        "mouth_line": (np.vstack([points[48], points[60:65], points[54]]), False),
    }


def _irises(pen: _Pen, points: np.ndarray, rng: np.random.Generator, filled: bool) -> None:
    for index in (EYE_LEFT, EYE_RIGHT):
        eye = points[index]
        width = np.linalg.norm(eye[3] - eye[0])
        height = (np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])) / 2
        radius = max(1.5, min(0.22 * width, 0.6 * height + 1.0)) * rng.uniform(0.8, 1.2)
        centre = eye.mean(0) + rng.normal(0, 0.04 * width, 2)
        if filled:
            pen.disc(centre, radius)
        else:
            circle = centre + radius * np.stack([np.cos(np.linspace(0, 2 * np.pi, 16)),
                                                 np.sin(np.linspace(0, 2 * np.pi, 16))], 1)
            pen.line(circle, closed=True)
            pen.disc(centre, max(1.0, radius * 0.35))


def _hair_strands(pen: _Pen, outline: list[np.ndarray], centre: np.ndarray, rng: np.random.Generator,
                  count: int, warp: _Warp, tremor: float) -> None:
    """Strands that follow the hair's outline, drawn a little inside it."""
    pieces = [p for p in outline if len(p) > 20]
    for _ in range(count if pieces else 0):
        piece = pieces[int(rng.integers(len(pieces)))]
        length = int(rng.integers(len(piece) // 5 + 2, max(len(piece) // 2, len(piece) // 5 + 3)))
        start = int(rng.integers(0, max(1, len(piece) - length)))
        segment = piece[start:start + length]
        inset = rng.uniform(0.72, 0.95)
        strand = centre + (segment - centre) * inset
        pen.line(_tremble(_curve(warp(strand), spacing=3), rng, tremor))


def _hair_scribble(pen: _Pen, outline: list[np.ndarray], centre: np.ndarray, landmarks: np.ndarray,
                   rng: np.random.Generator, warp: _Warp) -> None:
    """A back-and-forth scribble between the hair's outline and the hairline: a hair mass."""
    brow_top = min(landmarks[BROW_LEFT][:, 1].min(), landmarks[BROW_RIGHT][:, 1].min())
    for piece in outline:
        above = piece[piece[:, 1] < brow_top + 0.3 * (landmarks[8, 1] - brow_top)]
        if len(above) < 20:
            continue
        step = int(rng.integers(3, 7))
        track = above[::step]
        inner = rng.uniform(0.6, 0.85)
        zigzag = np.array([centre + (p - centre) * (1.0 if k % 2 == 0 else inner + rng.uniform(-0.05, 0.05))
                           for k, p in enumerate(track)])
        if len(zigzag) >= 2:
            pen.line(_tremble(warp(zigzag), rng, 1.0), width=max(1, pen.width - 1))


def _draw_strokes(geometry: FaceGeometry, size: int, rng: np.random.Generator, strength: float,
                  loose: bool) -> _Pen:
    landmarks = geometry.landmarks.astype(np.float64)
    unit, warp, points = _placed_landmarks(geometry, size, rng, strength)
    width = int(rng.choice([1, 2, 2, 3, 3, 4])) if not loose else int(rng.choice([1, 1, 2, 2, 3]))
    pen = _Pen(size, width, int(rng.integers(0, 90)))
    tremor = rng.uniform(0.3, 1.8) * (unit / 60)
    omit = {"nose_bridge": 0.55, "nose_base": 0.15, "lips": 0.35, "mouth_line": 0.25, "jaw": 0.08,
            "brow_left": 0.1, "brow_right": 0.1, "eye_left": 0.04, "eye_right": 0.04}
    features = _features(points)
    if rng.random() < 0.3:  # the mouth as one line, or as lips only
        omit["lips" if rng.random() < 0.5 else "mouth_line"] = 1.0
    for name, (feature, closed) in features.items():
        if rng.random() < omit[name]:
            continue
        curve = _curve(feature, closed)
        passes = int(rng.integers(2, 4)) if loose else 1
        for _ in range(passes):
            stroke = _tremble(curve, rng, tremor * (1.6 if loose else 1.0), closed)
            if loose:  # an overlapping pass covers only part of the feature, a little off
                n = len(stroke)
                a = int(rng.integers(0, max(1, n // 3)))
                b = int(rng.integers(min(n, a + max(2, n // 2)), n + 1))
                stroke = stroke[a:b] + rng.normal(0, 0.6, 2)
                closed_pass = False
            else:
                closed_pass = closed
            pen.line(stroke, closed_pass)
    if rng.random() < 0.85:
        _irises(pen, points, rng, filled=rng.random() < 0.5)
    if geometry.silhouette is not None and rng.random() < 0.9:
        runs = _outline_runs(geometry.silhouette)
        centre = _head_centre(landmarks)
        keep_shoulders = rng.random() < 0.7
        outline = runs if keep_shoulders else _hair_outline(runs, landmarks)
        for run in outline:
            pen.line(_tremble(_curve(warp(run[::2]), spacing=3, smoothing=3), rng, tremor * 1.5))
        hair = _hair_outline(runs, landmarks)
        if loose or rng.random() < 0.4:
            _hair_scribble(pen, hair, centre, landmarks, rng, warp)
        else:
            _hair_strands(pen, hair, centre, rng, int(rng.integers(2, 9)), warp, tremor)
    return pen


def _draw_doodle(geometry: FaceGeometry, size: int, rng: np.random.Generator, strength: float) -> _Pen:
    """Primitive shapes, none of which the training procedures draw: held out for testing."""
    unit, warp, p = _placed_landmarks(geometry, size, rng, strength)
    pen = _Pen(size, int(rng.choice([2, 3, 4])), 0)
    # head: an ellipse through the jaw points and a forehead as high again as the brows are above the eyes
    brows = np.vstack([p[BROW_LEFT], p[BROW_RIGHT]])
    forehead = brows - [0, 0.9 * unit]
    (cx, cy), (w, h), angle = cv2.fitEllipse(np.vstack([p[JAW], forehead]).astype(np.float32))
    t = np.linspace(0, 2 * np.pi, 90)
    a, b, r = w / 2, h / 2, math.radians(angle)
    head = np.stack([cx + a * np.cos(t) * math.cos(r) - b * np.sin(t) * math.sin(r),
                     cy + a * np.cos(t) * math.sin(r) + b * np.sin(t) * math.cos(r)], 1)
    pen.line(head, closed=True)
    for eye in (p[EYE_LEFT], p[EYE_RIGHT]):  # almond: two arcs between the corners, a filled iris
        outer, inner = eye[0], eye[3]
        up, down = eye[1:3].mean(0), eye[4:6].mean(0)
        middle = (outer + inner) / 2
        pen.line(_bezier(outer, middle + (up - middle) * 2.2, inner))
        pen.line(_bezier(outer, middle + (down - middle) * 2.2, inner))
        pen.disc(eye.mean(0), max(2.0, 0.16 * np.linalg.norm(inner - outer)))
    for brow in (p[BROW_LEFT], p[BROW_RIGHT]):
        pen.line(_bezier(brow[0], brow[2] - [0, 0.08 * unit], brow[4]), width=pen.width + 1)
    pen.line(np.array([p[27] + (p[30] - p[27]) * 0.3, p[30] + [0.08 * unit, 0], p[33]]))  # L-shaped nose
    corners = (p[48], p[54])
    pen.line(_bezier(corners[0], p[57] + (p[57] - p[51]) * 0.4, corners[1]))  # the mouth as one arc
    pen.line(np.array([p[4], p[4] + [0, 0.9 * unit]]))  # the neck
    pen.line(np.array([p[12], p[12] + [0, 0.9 * unit]]))
    # hair: a zig-zag band along the top of the head
    top = head[(head[:, 1] < cy - 0.2 * b)]
    if len(top) > 4:
        order = np.argsort(top[:, 0])
        top = top[order][::3]
        zig = np.array([pt + ([0, -0.25 * unit] if k % 2 else [0, 0.15 * unit]) for k, pt in enumerate(top)])
        pen.line(zig, width=max(1, pen.width - 1))
    return pen


def _draw_cartoon(geometry: FaceGeometry, size: int, rng: np.random.Generator, strength: float) -> _Pen:
    """Other primitives than both the training procedures and the doodle: for validation only."""
    landmarks = geometry.landmarks.astype(np.float64)
    unit, warp, p = _placed_landmarks(geometry, size, rng, strength)
    pen = _Pen(size, int(rng.choice([1, 2, 3])), int(rng.integers(0, 60)))
    tremor = rng.uniform(0.2, 1.0) * (unit / 60)
    pen.line(_tremble(p[[0, 3, 6, 8, 10, 13, 16]], rng, tremor))  # an angular jaw through seven points
    for side, (top, bottom) in (("left", (1, 4)), ("right", (15, 12))):  # ears: a C outside the jaw
        a, b = p[top], p[bottom]
        outward = (a - p[27]) / max(np.linalg.norm(a - p[27]), 1.0)
        pen.line(_bezier(a, (a + b) / 2 + outward * 0.35 * unit, b))
    for eye in (p[EYE_LEFT], p[EYE_RIGHT]):  # round eyes, a dot for the pupil
        centre = eye.mean(0)
        radius = max(2.5, 0.32 * np.linalg.norm(eye[3] - eye[0]) * rng.uniform(0.8, 1.2))
        circle = centre + radius * np.stack([np.cos(np.linspace(0, 2 * np.pi, 20)),
                                             np.sin(np.linspace(0, 2 * np.pi, 20))], 1)
        pen.line(circle, closed=True)
        pen.disc(centre + rng.normal(0, 0.1 * radius, 2), max(1.0, 0.35 * radius))
    for brow in (p[BROW_LEFT], p[BROW_RIGHT]):  # straight brows
        pen.line(np.array([brow[0], brow[4]]), width=pen.width + 1)
    for nostril in (p[31] + (p[32] - p[31]) * 0.3, p[35] + (p[34] - p[35]) * 0.3):
        pen.disc(nostril, max(1.0, 0.06 * unit))
    if rng.random() < 0.5:  # one side of the nose as a short line
        side = p[[27, 29, 31]] if rng.random() < 0.5 else p[[27, 29, 35]]
        pen.line(side)
    if rng.random() < 0.7:  # a straight mouth with turned-up corners, or an open oval
        corner = np.array([0, -0.06 * unit])
        pen.line(np.array([p[48] + corner, p[48], p[54], p[54] + corner]))
    else:
        mouth = p[LIPS_OUTER]
        (cx, cy), (w, h), angle = cv2.fitEllipse(mouth.astype(np.float32))
        pen.line(cv2.ellipse2Poly((int(cx), int(cy)), (max(2, int(w / 2)), max(1, int(h / 3))), int(angle),
                                  0, 360, 15).astype(np.float64), closed=True)
    centre = _head_centre(landmarks)
    if geometry.silhouette is not None:
        runs = _outline_runs(geometry.silhouette)
        hair = [warp(run) for run in _hair_outline(runs, landmarks)]
        for run in hair:  # the hair's outline as a few straight segments
            pen.line(run[:: max(1, len(run) // 8)])
        for run in (runs if rng.random() < 0.6 else []):  # shoulders: the outline below the hair
            low = run[run[:, 1] > landmarks[8, 1]]
            if len(low) >= 10:
                pen.line(warp(low[:: max(1, len(low) // 6)]))
    else:
        brows = np.vstack([p[BROW_LEFT], p[BROW_RIGHT]])
        top = brows[:, 1].min() - 1.2 * unit
        hair = [np.array([p[0], [p[0][0], top + 0.4 * unit], [centre[0], top], [p[16][0], top + 0.4 * unit], p[16]])]
    for run in hair:  # hatching: short lines from the outline towards the head's centre
        for point in run[:: max(1, len(run) // int(rng.integers(8, 20)))]:
            inward = centre - point
            length = rng.uniform(0.15, 0.3) * np.linalg.norm(inward)
            pen.line(np.array([point, point + inward / max(np.linalg.norm(inward), 1.0) * length]),
                     width=max(1, pen.width - 1))
    return pen


def _draw_generic(geometry: FaceGeometry, size: int, rng: np.random.Generator, strength: float) -> _Pen:
    """A template head with the person's features: for validation only. Its head, hair and shoulders
    come from no photo (the silhouette is not used), so many people's drawings share one outline."""
    unit, warp, p = _placed_landmarks(geometry, size, rng, strength)
    pen = _Pen(size, int(rng.choice([1, 2, 2, 3])), int(rng.integers(0, 70)))
    tremor = rng.uniform(0.2, 1.2) * (unit / 60)
    left, right = p[0], p[16]
    brows_top = min(p[BROW_LEFT][:, 1].min(), p[BROW_RIGHT][:, 1].min())
    crown = np.array([(left[0] + right[0]) / 2, brows_top - rng.uniform(1.1, 1.6) * unit])
    width = right[0] - left[0]
    # the head: a jaw through the jaw points and a dome over it, as two strokes
    pen.line(_tremble(_curve(p[JAW], spacing=3, smoothing=2), rng, tremor))
    pen.line(_tremble(np.vstack([_bezier(left, [left[0] - 0.05 * width, crown[1]], crown, 16),
                                 _bezier(crown, [right[0] + 0.05 * width, crown[1]], right, 16)[1:]]), rng, tremor))
    # the hair: a fringe, a side parting or neither, and strands from the crown (at most two under a fringe)
    style = rng.integers(3)
    fringe_y = brows_top - rng.uniform(0.35, 0.7) * unit
    if style == 0:  # a fringe straight across the forehead, temple to temple
        pen.line(_tremble(_bezier(left + [0.02 * width, -0.2 * unit], [crown[0], fringe_y + 0.25 * unit],
                                  right + [-0.02 * width, -0.2 * unit]), rng, tremor))
    elif style == 1:  # a side parting: one sweep from the crown down to a temple
        side = left if rng.random() < 0.5 else right
        parting = crown + [(side[0] - crown[0]) * 0.25, 0.15 * unit]
        pen.line(_tremble(_bezier(parting, [crown[0], fringe_y], side + [0, -0.3 * unit]), rng, tremor))
        pen.line(_tremble(_bezier(parting, [parting[0] + (crown[0] - side[0]) * 0.6, fringe_y - 0.2 * unit],
                                  (right if side is left else left) + [0, -0.5 * unit]), rng, tremor))
    for _ in range(int(rng.integers(2, 6)) if style != 0 else int(rng.integers(0, 3))):
        across = rng.uniform(-0.35, 0.35)
        start = crown + [across * width, (0.1 + 1.5 * across ** 2) * unit]
        end = np.array([crown[0] + across * 1.3 * width, fringe_y + rng.uniform(-0.2, 0.2) * unit])
        pen.line(_tremble(_bezier(start, (start + end) / 2 + [rng.uniform(-0.3, 0.3) * unit, 0], end, 12), rng, tremor),
                 width=max(1, pen.width - 1))
    # the features, where the person's are
    for eye in (p[EYE_LEFT], p[EYE_RIGHT]):  # an oval, sometimes with an open iris
        cx, cy = eye.mean(0)
        half_width = max(3.0, 0.6 * np.linalg.norm(eye[3] - eye[0]))
        half_height = max(2.0, 0.4 * half_width * rng.uniform(0.8, 1.2))
        t = np.linspace(0, 2 * np.pi, 20, endpoint=False)
        pen.line(np.stack([cx + half_width * np.cos(t), cy + half_height * np.sin(t)], 1), closed=True)
        if rng.random() < 0.6:
            radius = 0.8 * half_height
            pen.line(np.array([cx, cy]) + radius * np.stack([np.cos(np.linspace(0, 2 * np.pi, 12)),
                                                             np.sin(np.linspace(0, 2 * np.pi, 12))], 1), closed=True)
    for brow in (p[BROW_LEFT], p[BROW_RIGHT]):
        if rng.random() < 0.9:
            pen.line(_tremble(_curve(brow), rng, tremor))
    for wing, tip in ((p[31], p[32]), (p[35], p[34])):  # nostrils as two hooks
        pen.line(_bezier(wing + (wing - tip) * 0.3 - [0, 0.12 * unit], wing + (wing - tip) * 0.4 + [0, 0.1 * unit],
                         tip + [0, 0.05 * unit], 8))
    pen.line(_tremble(_bezier(p[48], p[62] + (p[62] - p[57]) * 0.1, p[54]), rng, tremor))  # the mouth line
    if rng.random() < 0.7:  # a lower lip
        pen.line(_bezier(p[48] + (p[54] - p[48]) * 0.25 + [0, 0.08 * unit], p[57] + [0, 0.1 * unit],
                         p[54] + (p[48] - p[54]) * 0.25 + [0, 0.08 * unit], 12))
    # the neck and the shoulders: two slopes out of the neck, cut by the frame
    for jaw, outward in ((p[5], -1), (p[11], 1)):
        neck_base = jaw + [0, rng.uniform(0.7, 1.0) * unit]
        pen.line(np.array([jaw, neck_base]))
        shoulder = neck_base + [outward * rng.uniform(1.2, 1.8) * unit, rng.uniform(0.3, 0.6) * unit]
        pen.line(_tremble(_bezier(neck_base, neck_base + [outward * 0.5 * unit, 0.05 * unit], shoulder, 10), rng, tremor))
    return pen


def draw_freehand(geometry: FaceGeometry, size: int, procedure: str = "strokes",
                  rng: np.random.Generator | int | None = None, strength: float = 1.0) -> np.ndarray:
    """A freehand drawing of the face in ``geometry`` (size x size uint8, ink on white paper).

    Args:
        geometry: landmarks (and silhouette) in the coordinates of a size x size photo.
        procedure: one of ``PROCEDURES``.
        rng: a generator or seed; the same seed gives the same drawing.
        strength: how far the drawing strays from the photo (0: exact geometry, 1: an amateur).
    """
    return _render(geometry, size, procedure, rng, strength).canvas


def freehand_strokes(geometry: FaceGeometry, size: int, procedure: str = "strokes",
                     rng: np.random.Generator | int | None = None, strength: float = 1.0) -> list[Stroke]:
    """The pen movements of the drawing that ``draw_freehand`` makes with the same arguments."""
    return _render(geometry, size, procedure, rng, strength).strokes


def drawn_landmarks(geometry: FaceGeometry, size: int, rng: np.random.Generator | int | None = None,
                    strength: float = 1.0) -> np.ndarray:
    """(68, 2) places where ``draw_freehand`` with the same geometry, size, seed and strength (any
    procedure) puts the face's landmarks: the geometry a drawing actually has, wrong proportions and all."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return _placed_landmarks(geometry, size, rng, strength)[2]


def _render(geometry: FaceGeometry, size: int, procedure: str, rng, strength: float) -> _Pen:
    if procedure not in PROCEDURES:
        raise ValueError(f"unknown freehand procedure {procedure!r}; choose from {PROCEDURES}")
    if geometry.landmarks.shape != (68, 2):
        raise ValueError(f"freehand drawings need (68, 2) landmarks, got {geometry.landmarks.shape}")
    if not 0.0 <= strength <= 2.0:
        raise ValueError(f"strength must be in [0, 2], got {strength}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    if procedure == "doodle":
        return _draw_doodle(geometry, size, rng, strength)
    if procedure == "cartoon":
        return _draw_cartoon(geometry, size, rng, strength)
    if procedure == "generic":
        return _draw_generic(geometry, size, rng, strength)
    return _draw_strokes(geometry, size, rng, strength, loose=procedure == "sketchy")
