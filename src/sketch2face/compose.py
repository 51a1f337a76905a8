"""Composing a pencil portrait from real face parts that look like a line drawing's parts.

A sparse line drawing says where the eyes, nose, mouth and hair are and roughly what shape they
have; it says nothing about skin, shading or hair texture, and a generator trained to map such
drawings to photos with a pixel loss answers with the average face (docs/experiments.md, E8-E10).
DeepFaceDrawing (Chen et al., SIGGRAPH 2020) projects each part of a rough drawing onto a manifold
of real sketch parts before synthesis; forensic photofit systems build a face from a catalogue of
real features. We do both, on a CPU in a few milliseconds:

1. Every face in a bank (``assets/exemplar_bank.npz``; ``scripts/build_exemplar_bank.py``) is
   stored as its aligned photo (its pencil sketch is ``data.sketch.line_sketch`` of it), its 68
   landmarks, and the distance-field features of freehand drawings of it made by the training procedures
   (``fidelity.part_features``): what the face looks like when someone draws it, once with the
   person's outline (hair and shoulders) and once, for the head outline and hair, without it.
2. The drawing's features pick a *base* face (by the head outline, hair and shoulders: one of the
   nearest after a hubness correction, drawn by a seed taken from the drawing, so that drawings
   unlike the training drawings do not all land on a few central faces) and, for the eyes with
   their brows, the nose and the mouth, of the few faces whose drawn part is nearest, the one whose
   part is lit most like the base face's own (``part_appearance``). A drawing of the face
   alone, without the hair's and shoulders' outline, is matched framed as a face alone against the
   bank's drawings without the outline (``ExemplarBank.how_drawn``). A face that wears glasses never
   gives the eyes or the nose (``ExemplarBank.glasses``): pieces of its frames would come along
   (docs/experiments.md, E40).
3. Each chosen part is moved onto the base face's part by a similarity transform between their
   landmarks and blended in with Poisson image editing (``cv2.seamlessClone``), so the seams carry
   no shading step. A part never comes from the base face itself, so no output is any one bank
   person's face: eyes, nose and mouth come from people other than the hair and outline.
4. The composite is warped so that its eyes, nose and mouth sit where the drawing put them
   (``ExemplarBank.drawn_landmarks``, ``follow_geometry``): the drawn proportions, which step 2's
   choice of whole faces cannot follow, and which make repeated bases differ (E41).

Two composites, the same choice of faces:

- ``compose_sketch``: a shaded pencil portrait, which a routed model renders with its portrait
  model (trained on pencil sketches aligned with their photos); the renderer smooths seams but also
  skin and background (``"compose_lines": "portrait"``, sketch2face-v3 and v4).
- ``compose_photo``: the same parts cut from the bank faces' aligned photos, Poisson-blended in
  colour; no generator runs (``"compose_lines": "photo"``, sketch2face-v5): real skin, hair and
  background, at the price of pasted-looking parts where two faces' lighting differs
  (docs/experiments.md, E17).

Works in the models' aligned 256x256 framing.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image

from .data.freehand import BROW_LEFT, BROW_RIGHT, EYE_LEFT, EYE_RIGHT, JAW, MEAN_LANDMARKS_256
from .data.sketch import line_sketch
from .fidelity import FRAME, MAX_DISTANCE, PART_BOXES, PART_SCALE, distance_field, part_features

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
#: The base face is one of this many nearest (after the hubness correction), picked by a seed taken
#: from the drawing's features: the same drawing always gets the same face, but a drawing's outline
#: and hair say little about the rest of the head, and a procedure unlike the training ones sends
#: most drawings to the same nearest faces (376 test doodles chose 55 bases, 47 of them the same;
#: drawings of the same people by a training procedure chose 297). Measured on validation drawings
#: (docs/experiments.md, E17: `python scripts/compose_selection.py --base-candidates 1 10`); 20 or 40
#: candidates follow the drawing's outline less and score no better on the validation-only procedure (E20).
BASE_CANDIDATES = 10
#: Weight of the drawn eyes', nose's and mouth's distance in the base's choice, beside the head, hair and
#: shoulders'. 0, the rest alone: drawings of a template head share their outline whoever is drawn, and
#: their parts could tell them apart, but weight 1 moved validation FID by -3.5, +1.7 and -1.8 on three
#: drawing procedures (within noise) and made every base follow the drawn outline less (E37).
BASE_PART_WEIGHT = 0.0
#: The bank's feature of each face drawn without the person's outline (no hair or shoulder line: the
#: procedures' branch for a photo without a silhouette), by the same procedure and seed as its "rest",
#: in the aligned framing (a face alone spans about half of it): what the base is chosen by when the
#: drawing is a face alone. With only the drawings with the outline, such a drawing lands on the few bank
#: faces whose drawing happened to omit it and loses 24 FID on validation drawings (docs/experiments.md, E24).
REST_WITHOUT_OUTLINE = "rest_without_outline"
#: The same drawing framed as the pipeline frames any drawing (``pipeline.locate_drawing`` enlarges a
#: face drawn alone towards the framing of a head with its hair, unless it already fills the frame).
REST_WITHOUT_OUTLINE_AS_FRAMED = "rest_without_outline_as_framed"
#: How a drawing was drawn, by most of its this many nearest bank drawings (with the outline; without it
#: as drawn; without it as framed), all compared in the pipeline's framing (E25):
#: "outline": a head with its hair or shoulder outline, matched as before;
#: "face": a face alone, in the aligned framing already;
#: "enlarged face": a face alone that the pipeline's framing enlarged: matched, and composed, in the
#: framing of a face alone (``pipeline.face_alone_region``).
OUTLINE_NEIGHBOURS = 5
HOW_DRAWN = ("outline", "face", "enlarged face")
#: Each part comes from the one of its this many nearest drawn parts whose look in its photo is most like
#: the base face's own part (``part_appearance``): Poisson blending matches a part's level to the base
#: but keeps its gradients, so a part lit from the other side or far more contrasted looks pasted on
#: (a dark nose, a red mouth). 1: the nearest drawn part, as before E27.
PART_CANDIDATES = 5
#: The parts a face with glasses never gives (``ExemplarBank.glasses``): the frames sit on the eyes, brows
#: and the bridge of the nose, and came along in pieces (a white bar over an eye). Such faces stay bases:
#: keeping them from the base too moved validation FID by +4.7 and +1.7 (no composite wore glasses any
#: more, where a fifth of the photos do), this by +0.2 and +0.2 (E40).
GLASSES_PARTS = ("eyes", "nose")
#: The landmarks each drawn part's feature (``fidelity.PART_BOXES``) places.
DRAWN_PART_LANDMARKS = {"eye_left": np.r_[BROW_LEFT, EYE_LEFT], "eye_right": np.r_[BROW_RIGHT, EYE_RIGHT],
                        "nose": np.r_[27:36], "mouth": np.r_[48:68]}
#: Where a drawing puts its eyes, nose and mouth is read from this many bank faces whose drawn part is
#: nearest, each drawn part moved by up to GEOMETRY_SHIFT pixels (at 256) onto the drawing's: the bank's
#: drawings stray from their faces' landmarks as much as an amateur's do, and their mean strays less.
GEOMETRY_NEIGHBOURS = 8
GEOMETRY_SHIFT = 12
#: How far the composite's eyes, nose and mouth move from the base face's places to the drawing's
#: (after a similarity that keeps the base's position and size): 0, the base's geometry; 1, the
#: drawing's. 1 against 0 on three validation procedures: FID -2.5, -1.2, -1.2, KID lower on all
#: three, face KID about halved; identity did not move, the places being read only roughly (E41).
GEOMETRY_WEIGHT = 1.0
#: The most the warp may stretch or squeeze the skin (the inverse of the least Jacobian determinant).
GEOMETRY_STRETCH = 2.0
#: A part's look is compared at this many pixels a side (its lighting and contrast, not its details).
APPEARANCE_SIZE = 12
#: Stored photos are WebP at this quality: 6.2 KB a face against JPEG's 10.7 KB at the same quality
#: setting (250 LFW faces, E32), which keeps a bank of 2,782 faces under 40 MB. Any format Pillow reads loads.
PHOTO_FORMAT, PHOTO_QUALITY = "WEBP", 85


def _pack(images: list[bytes]) -> dict[str, np.ndarray]:
    return {"offsets": np.cumsum([0] + [len(i) for i in images]).astype(np.int64),
            "bytes": np.frombuffer(b"".join(images), np.uint8)}


def _unpack(data: np.ndarray, offsets: np.ndarray) -> list[bytes]:
    data = data.tobytes()
    return [data[a:b] for a, b in zip(offsets[:-1], offsets[1:])]


def _encode_feature(feature: np.ndarray) -> np.ndarray:
    """Distance-field features (0..MAX_DISTANCE) as stored in a bank file: uint8."""
    return np.round(np.asarray(feature) / MAX_DISTANCE * 255).astype(np.uint8)


def _decode_feature(coded: np.ndarray) -> np.ndarray:
    return coded.astype(np.float32) * (MAX_DISTANCE / 255)


def part_appearance(photo: np.ndarray, landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """Each of PART_LANDMARKS' parts as it looks in an aligned face ``photo`` (uint8 RGB at 256) with its
    68 ``landmarks``: the part moved onto the mean face's by a similarity transform between their
    landmarks, the box of its blending mask there at APPEARANCE_SIZE pixels a side, in CIELAB, each
    channel less its mean (Poisson blending keeps a part's gradients, not its level); flat float32."""
    lab = cv2.cvtColor(photo.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
    looks = {}
    for part, groups in PART_LANDMARKS.items():
        every = np.concatenate(groups)
        transform, _ = cv2.estimateAffinePartial2D(landmarks[every].astype(np.float32),
                                                   MEAN_LANDMARKS_256[every].astype(np.float32))
        if transform is None:  # degenerate landmarks: the part where the mean face has it
            transform = np.float32([[1, 0, 0], [0, 1, 0]])
        moved = cv2.warpAffine(lab, transform, (FRAME, FRAME), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        x, y, w, h = cv2.boundingRect(_part_mask([MEAN_LANDMARKS_256[g].astype(np.float32) for g in groups], PART_MARGIN[part]))
        patch = cv2.resize(moved[y:y + h, x:x + w], (APPEARANCE_SIZE, APPEARANCE_SIZE), interpolation=cv2.INTER_AREA)
        looks[part] = (patch - patch.mean(axis=(0, 1))).ravel().astype(np.float32)
    return looks


@dataclass
class ExemplarBank:
    """Faces to compose from: drawn-part features (uint8-coded distances, one (N, F) array per
    part), landmarks (N, 68, 2) at 256 and the aligned photos (N encoded images, ``PHOTO_FORMAT``, 256x256 RGB).
    A face's pencil sketch is drawn from its photo when asked (``line_sketch``, 2 ms): storing it
    too took 14.7 MB of a 34 MB bank (E32)."""

    features: dict[str, np.ndarray]
    landmarks: np.ndarray
    photos: list[bytes]
    appearance: dict[str, np.ndarray] | None = None
    """Per part of PART_LANDMARKS, (N, F) ``part_appearance`` of each face's photo; None in a bank
    built before E27 (each part is then the nearest drawn part)."""
    glasses: np.ndarray | None = None
    """(N,) bool: the face wears glasses (labelled by hand, E40; ``scripts/glasses_sheets.py``). Such a
    face never gives the eyes or nose (it may be the base). None in a bank without labels (any face may)."""
    _crowding: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False, compare=False)
    _squares: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.photos)

    def save(self, path: str | Path) -> None:
        from .io import atomic_write_bytes

        arrays = {f"photo_{key}": value for key, value in _pack(self.photos).items()}
        coded = {k: _encode_feature(v) for k, v in self.features.items()}
        # the hubness correction's crowding is N^2 work (2 s for 2,782 faces): done once here, on the
        # features as a loaded bank has them, not at a server's first drawing
        as_loaded = ExemplarBank({k: _decode_feature(v) for k, v in coded.items()}, self.landmarks, self.photos)
        crowding = {f"crowding_{key}": as_loaded.crowding(key) for key in ("rest", REST_WITHOUT_OUTLINE) if key in coded}
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, landmarks=self.landmarks.astype(np.float16), **arrays, **crowding,
            crowding_neighbours=np.int64(HUB_NEIGHBOURS), **{f"feature_{k}": v for k, v in coded.items()},
            # CIELAB units, each within about +-100 of its part's mean: whole units are plenty for lighting
            **{f"appearance_{k}": np.clip(np.round(v), -127, 127).astype(np.int8) for k, v in (self.appearance or {}).items()},
            **({} if self.glasses is None else {"glasses": np.asarray(self.glasses, bool)}))
        atomic_write_bytes(Path(path), buffer.getvalue())

    @staticmethod
    def load(path: str | Path = BANK_FILE) -> "ExemplarBank":
        with np.load(path) as stored:
            bank = ExemplarBank(
                {k[len("feature_"):]: _decode_feature(stored[k])
                 for k in stored.files if k.startswith("feature_")},
                stored["landmarks"].astype(np.float32),
                _unpack(stored["photo_bytes"], stored["photo_offsets"]),
                {k[len("appearance_"):]: stored[k].astype(np.float32) for k in stored.files
                 if k.startswith("appearance_")} or None,
                stored["glasses"].astype(bool) if "glasses" in stored.files else None)
            if "crowding_neighbours" in stored.files and int(stored["crowding_neighbours"]) == HUB_NEIGHBOURS:
                bank._crowding = {k[len("crowding_"):]: stored[k].astype(np.float64) for k in stored.files
                                  if k.startswith("crowding_") and k != "crowding_neighbours"}
            return bank

    def sketch(self, index: int) -> np.ndarray:
        return line_sketch(self.photo(index))

    def photo(self, index: int) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(self.photos[index])).convert("RGB"))

    def distances(self, features: dict[str, np.ndarray], names) -> np.ndarray:
        """Mean squared feature distance of every bank face to ``features`` over the parts ``names``."""
        return sum(((self.features[n] - features[n]) ** 2).mean(1) for n in names)

    @property
    def knows_drawings_without_outline(self) -> bool:
        return REST_WITHOUT_OUTLINE in self.features and REST_WITHOUT_OUTLINE_AS_FRAMED in self.features

    def crowding(self, key: str = "rest") -> np.ndarray:
        """Each face's mean ``key`` feature distance to its HUB_NEIGHBOURS nearest other bank faces."""
        if key not in self._crowding:
            rest = self.features[key].astype(np.float64)
            squares = (rest ** 2).sum(1)
            pairwise = (squares[:, None] + squares[None] - 2 * rest @ rest.T) / rest.shape[1]
            np.fill_diagonal(pairwise, np.inf)
            nearest = min(HUB_NEIGHBOURS, len(self) - 1)
            self._crowding[key] = np.partition(pairwise, nearest - 1, axis=1)[:, :nearest].mean(1)
        return self._crowding[key]

    def _squared_distances(self, key: str, query: np.ndarray) -> np.ndarray:
        """Summed squared distance of ``query`` to every face's ``key`` feature, as |a|^2 - 2 a.b + |b|^2:
        one matrix-vector product instead of an N x 4,096 difference (a composite from 2,783 faces: 43 -> 30 ms, E32)."""
        stored = self.features[key]
        if key not in self._squares:
            self._squares[key] = (stored.astype(np.float64) ** 2).sum(1)
        query = np.asarray(query, np.float32)
        return self._squares[key] - 2 * (stored @ query).astype(np.float64) + float((query.astype(np.float64) ** 2).sum())

    def rest_distances(self, features: dict[str, np.ndarray], outline: bool = True) -> np.ndarray:
        """Mean squared distance of the drawing's "rest" (head, hair, shoulders) to every bank face's
        drawing with the person's outline, or without it."""
        key = "rest" if outline else REST_WITHOUT_OUTLINE
        return self._squared_distances(key, features["rest"]) / self.features[key].shape[1]

    def how_drawn(self, features: dict[str, np.ndarray]) -> str:
        """One of HOW_DRAWN for a drawing framed as the pipeline frames it: the kind most of its
        OUTLINE_NEIGHBOURS nearest bank drawings are. Always "outline" for a bank without drawings
        without the outline."""
        if not self.knows_drawings_without_outline:
            return "outline"
        distances = np.concatenate([self._squared_distances(key, features["rest"])
                                    for key in ("rest", REST_WITHOUT_OUTLINE, REST_WITHOUT_OUTLINE_AS_FRAMED)])
        k = min(OUTLINE_NEIGHBOURS, len(distances))
        votes = np.bincount(np.argpartition(distances, k - 1)[:k] // len(self), minlength=len(HOW_DRAWN))
        return HOW_DRAWN[int(np.argmax(votes))]  # a tie goes to the kind listed first

    def base_order(self, features: dict[str, np.ndarray], outline: bool = True) -> np.ndarray:
        """Bank faces from the best base for the drawing to the worst: by the distance of their "rest"
        (drawn with the person's outline, or without it) after the hubness correction, plus
        BASE_PART_WEIGHT times their drawn parts' distance (``part_distances``; 0 as shipped)."""
        crowding = self.crowding("rest" if outline else REST_WITHOUT_OUTLINE)
        scores = self.rest_distances(features, outline) - HUB_WEIGHT * crowding
        if BASE_PART_WEIGHT:
            # the base's own parts are replaced, but they sit where its eyes, nose and mouth are
            scores = scores + BASE_PART_WEIGHT * self.part_distances(features)
        return np.argsort(scores)

    def part_distances(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """Mean squared distance of the drawing's eyes, nose and mouth to every bank face's drawn ones."""
        names = [name for names in PART_FEATURES.values() for name in names]
        return self.distances(features, names) / len(names)

    def drawn_landmarks(self, field: np.ndarray, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Where a framed drawing (its distance field at 256, and ``part_features`` of it) puts each part's
        landmarks (``DRAWN_PART_LANDMARKS``): the median, over its GEOMETRY_NEIGHBOURS nearest drawn parts
        in the bank, of that face's landmarks moved by the shift that best lays its drawn part on the drawing's."""
        reach = GEOMETRY_SHIFT // PART_SCALE
        small = cv2.resize(field, (FRAME // PART_SCALE, FRAME // PART_SCALE), interpolation=cv2.INTER_AREA)
        padded = np.pad(small, reach, constant_values=MAX_DISTANCE)
        shifts = [(dy, dx) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)]
        placed = {}
        for name, points in DRAWN_PART_LANDMARKS.items():
            x0, y0, x1, y1 = (v // PART_SCALE for v in PART_BOXES[name])
            crops = np.stack([padded[y0 + reach + dy:y1 + reach + dy, x0 + reach + dx:x1 + reach + dx].ravel()
                              for dy, dx in shifts])
            nearest = np.argsort(self.distances(features, (name,)))[:GEOMETRY_NEIGHBOURS]
            drawn = self.features[name][nearest]
            # squared distance of every shifted crop of the drawing to every neighbour's drawn part
            misfit = (crops ** 2).sum(1)[:, None] - 2 * crops @ drawn.T + (drawn ** 2).sum(1)[None]
            best = np.asarray(shifts, np.float32)[np.argmin(misfit, 0)][:, ::-1] * PART_SCALE  # (dx, dy)
            placed[name] = np.median(self.landmarks[nearest][:, points] + best[:, None], axis=0)
        return placed

    def choose(self, features: dict[str, np.ndarray], variation: int = 0, keep_base: int | None = None,
               outline: bool = True) -> dict[str, int]:
        """The bank face for the base and for each part. The base is the drawing's pick among its
        BASE_CANDIDATES nearest after the hubness correction; each part, of the PART_CANDIDATES faces
        whose drawn part is nearest, the one whose part looks most like the base's own
        (``part_appearance``; in a bank without appearances, the nearest). ``variation`` k takes the
        k-th next pick of each: the base's (beyond its candidates, the (k+1)-th nearest) and each
        part's (beyond its candidates, the (k+1)-th nearest drawn part).
        ``outline``: match the head, hair and shoulders against the bank's drawings with the person's
        outline, or (False) without it. A face labelled as wearing glasses (``glasses``) never gives
        the eyes or nose.

        ``keep_base``: the base of the previous composite of the same drawing, kept while it is still
        one of this drawing's candidates. The pick is seeded by the drawing's features, so one more
        stroke would otherwise draw another person from the candidates almost every time
        (docs/experiments.md, E18); a page previewing while someone draws passes the last base back."""
        order = self.base_order(features, outline)
        candidates = min(BASE_CANDIDATES, len(self))
        if keep_base is not None and keep_base in order[:max(candidates, variation + 1)]:
            chosen = {"base": int(keep_base)}
        elif variation < candidates:
            seed = int.from_bytes(hashlib.sha256(np.ascontiguousarray(features["rest"]).tobytes()).digest()[:8], "big")
            chosen = {"base": int(order[np.random.default_rng(seed).permutation(candidates)[variation]])}
        else:
            chosen = {"base": int(order[variation])}
        base = chosen["base"]
        pool = min(PART_CANDIDATES, len(self) - 1)
        glasses = self.glasses if self.glasses is not None and (~self.glasses).sum() >= 2 else None
        for part, names in PART_FEATURES.items():
            distances = self.distances(features, names)
            distances[base] = np.inf  # never the base's own part: no output is one bank face
            if glasses is not None and part in GLASSES_PARTS:
                distances[glasses] = np.inf
            nearest = np.argsort(distances)
            if self.appearance is not None and variation < pool:  # the k-th best lit of the nearest drawn parts
                looks = self.appearance[part]
                mismatch = ((looks[nearest[:pool]] - looks[base]) ** 2).sum(1)
                chosen[part] = int(nearest[np.argsort(mismatch, kind="stable")[variation]])
            else:  # the (k+1)-th nearest of the faces that may give it, round again past the last
                chosen[part] = int(nearest[variation % int(np.isfinite(distances).sum())])
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
    their landmarks, and blended in by Poisson editing. Greyscale (H, W) or RGB (H, W, 3)."""
    every = np.concatenate(groups)
    transform, _ = cv2.estimateAffinePartial2D(donor_points[every], base_points[every])
    if transform is None:
        return canvas
    moved = cv2.warpAffine(donor, transform, (FRAME, FRAME), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255))
    mask = _part_mask([base_points[g] for g in groups], margin)
    mask[:2], mask[-2:], mask[:, :2], mask[:, -2:] = 0, 0, 0, 0  # seamlessClone needs a border around it
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0 or h == 0:
        return canvas
    centre = (x + w // 2, y + h // 2)
    if canvas.ndim == 2:
        blended = cv2.seamlessClone(cv2.merge([moved] * 3), cv2.merge([canvas] * 3), mask, centre, cv2.NORMAL_CLONE)
        return blended[:, :, 0]
    return cv2.seamlessClone(moved, canvas, mask, centre, cv2.NORMAL_CLONE)


def _similarity_onto(points: np.ndarray, onto: np.ndarray) -> np.ndarray:
    """``points`` moved, turned and scaled to fit ``onto`` best (least squares)."""
    a, b = points[:, 0] + 1j * points[:, 1], onto[:, 0] + 1j * onto[:, 1]
    a_mean, b_mean = a.mean(), b.mean()
    factor = np.vdot(a - a_mean, b - b_mean) / max(np.vdot(a - a_mean, a - a_mean).real, 1e-9)
    moved = (a - a_mean) * factor + b_mean
    return np.stack([moved.real, moved.imag], 1)


def _least_fold(moves: np.ndarray, step: int) -> float:
    """The smallest Jacobian determinant of p -> p - move(p) over a grid of ``moves`` (H, W, 2) ``step``
    pixels apart: below 0 the map folds (the skin tears or doubles), near 0 it smears."""
    dx_dx, dx_dy = np.gradient(moves[..., 0], step, axis=1), np.gradient(moves[..., 0], step, axis=0)
    dy_dx, dy_dy = np.gradient(moves[..., 1], step, axis=1), np.gradient(moves[..., 1], step, axis=0)
    return float(((1 - dx_dx) * (1 - dy_dy) - dx_dy * dy_dx).min())


def follow_geometry(image: np.ndarray, base_points: np.ndarray, drawn: dict[str, np.ndarray],
                    weight: float) -> np.ndarray:
    """``image`` (at FRAME, the base face's landmarks ``base_points``) warped so that its eyes, nose and
    mouth move towards where the drawing put them (``ExemplarBank.drawn_landmarks``), ``weight`` of the
    way. The drawn places are first fitted onto the base's by a similarity, so the face keeps the base's
    position and size and takes only the drawing's proportions; the jaw and the frame stay. A move that
    would fold the skin between a part and the jaw (a turned head, a part drawn far from the base's) is
    shortened until it stretches the skin at most GEOMETRY_STRETCH-fold (or to a tenth of the way, E41)."""
    if weight <= 0:
        return image
    from scipy.interpolate import RBFInterpolator

    inner = np.concatenate(list(DRAWN_PART_LANDMARKS.values()))
    before = base_points[inner].astype(np.float64)
    after = before + weight * (_similarity_onto(np.concatenate(list(drawn.values())), before) - before)
    border = np.linspace(0, FRAME - 1, 9)
    frame = np.array([(x, y) for x in border for y in border if x in (0, FRAME - 1) or y in (0, FRAME - 1)])
    anchors = np.vstack([after, base_points[JAW], frame])
    moves = np.vstack([after - before, np.zeros((len(anchors) - len(after), 2))])
    # the inverse map at a coarse grid: an output pixel at p shows the input at p - move(p)
    step = 4
    grid = np.mgrid[0:FRAME:step, 0:FRAME:step][::-1].reshape(2, -1).T.astype(np.float64)
    coarse = RBFInterpolator(anchors, moves, kernel="thin_plate_spline", smoothing=1.0)(grid)
    coarse = coarse.reshape(FRAME // step, FRAME // step, 2).astype(np.float32)
    scale = 1.0
    while scale > 0.1 and _least_fold(scale * coarse, step) < 1 / GEOMETRY_STRETCH:
        scale *= 0.8
    shift = cv2.resize(scale * coarse, (FRAME, FRAME), interpolation=cv2.INTER_LINEAR)
    xs, ys = np.meshgrid(np.arange(FRAME, dtype=np.float32), np.arange(FRAME, dtype=np.float32))
    return cv2.remap(image, xs - shift[..., 0], ys - shift[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@dataclass
class Composite:
    image: np.ndarray
    """A pencil portrait (uint8 greyscale) or a photo (uint8 RGB), the size of the drawing."""
    faces: dict[str, int]
    """The bank faces it is made of: "base" (head, hair, outline, background), "eyes", "nose", "mouth"."""
    how_drawn: str = "outline"
    """One of HOW_DRAWN: matched as drawn with the person's outline, as a face alone, or as a face alone
    in the framing of ``face_alone`` (the composite is then in that framing)."""


def _field_at_frame(grey: np.ndarray) -> np.ndarray:
    square = grey if grey.shape[0] == FRAME else cv2.resize(grey, (FRAME, FRAME), interpolation=cv2.INTER_AREA)
    return distance_field(square)


def compose_drawing(grey: np.ndarray, composite: str = "photo", variation: int = 0, keep_base: int | None = None,
                    bank: ExemplarBank | None = None, face_alone: Callable[[], np.ndarray] | None = None) -> Composite:
    """A framed line drawing (uint8, square) -> a ``composite`` ("portrait" or "photo") of real face
    parts that look like its parts, the same size; ``variation`` and ``keep_base`` as in
    ``ExemplarBank.choose``.

    ``face_alone``: gives the same drawing framed as a face without hair and shoulders (square, same
    size); called only when ``grey`` looks like a face drawn alone that the pipeline's framing enlarged
    (``ExemplarBank.how_drawn``), and the composite is then made from it, in its framing.

    Raises:
        ValueError: a negative variation or an unknown composite.
    """
    if variation < 0:
        raise ValueError(f"variation must be >= 0, got {variation}")
    image_of = {"portrait": ExemplarBank.sketch, "photo": ExemplarBank.photo}.get(composite)
    if image_of is None:
        raise ValueError(f"composite must be 'portrait' or 'photo', got {composite!r}")
    bank = bank or default_bank()
    size = grey.shape[0]
    field = _field_at_frame(grey)
    features = part_features(field)
    how_drawn = bank.how_drawn(features)
    if how_drawn == "enlarged face":
        if face_alone is None:
            how_drawn = "face"
        else:
            alone = face_alone()
            if alone.shape != grey.shape:
                raise ValueError(f"face_alone must give {grey.shape}, gave {alone.shape}")
            field = _field_at_frame(alone)
            features = part_features(field)
    chosen = bank.choose(features, variation % len(bank), keep_base, outline=how_drawn == "outline")
    base = chosen["base"]
    canvas = image_of(bank, base)
    for part, groups in PART_LANDMARKS.items():
        canvas = _clone_part(canvas, image_of(bank, chosen[part]), bank.landmarks[chosen[part]],
                             bank.landmarks[base], groups, PART_MARGIN[part])
    if GEOMETRY_WEIGHT > 0:  # reading the drawn places is most of the warp's cost
        canvas = follow_geometry(canvas, bank.landmarks[base], bank.drawn_landmarks(field, features), GEOMETRY_WEIGHT)
    image = canvas if size == FRAME else cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return Composite(image, chosen, how_drawn)


def compose_sketch(grey: np.ndarray, variation: int = 0, bank: ExemplarBank | None = None) -> np.ndarray:
    """A framed line drawing (uint8, square) -> a pencil portrait composed from bank faces, same size.
    The drawing's strokes are not drawn over it: the portrait model would trace them
    (docs/freehand.md); the fidelity control acts on the drawing before its parts are matched."""
    return compose_drawing(grey, "portrait", variation, bank=bank).image


def compose_photo(grey: np.ndarray, variation: int = 0, bank: ExemplarBank | None = None) -> np.ndarray:
    """A framed line drawing (uint8, square) -> an RGB face photo (uint8, same size) composed from the
    bank faces' photos: the parts ``compose_sketch`` would take, cut from the photos instead."""
    return compose_drawing(grey, "photo", variation, bank=bank).image
