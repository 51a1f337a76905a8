"""Face alignment: 5 landmarks (dlib's HOG detector + 5-point shape predictor from
``face-recognition-models``) -> similarity transform -> the canonical 256x256 geometry.

The canonical geometry is CUFS's own framing after sketch2face's pad-to-square: the mean 5-point
landmarks of the CUFS training photos (all 268 detected; measured with ``python -m sketch2face.data.align --measure
../shared/data/cufs/train/photos``). Aligning to it lets any photo or sketch be placed where the
models trained on CUFS expect a face. When no face is found, a warning names the input and the
documented fallback is used: pad to a square and resize (the same framing the pipeline uses).
"""
from __future__ import annotations

import argparse
import logging
import warnings
from dataclasses import dataclass

import cv2
import numpy as np

from .transforms import IMAGE_SUFFIXES, ImageInput, load_image, pad_to_square, prepare_photo, resize, to_grayscale, to_rgb

log = logging.getLogger(__name__)

#: Canonical 5-point landmarks at 256x256, in dlib's order: right eye outer, right eye inner,
#: left eye outer, left eye inner (image left/right as dlib defines them), nose base.
CANONICAL_LANDMARKS_256 = np.array([
    [163.68, 129.42], [143.38, 130.15], [91.96, 129.30], [112.32, 130.15], [128.12, 168.24],
], dtype=np.float64)
CANONICAL_SIZE = 256
#: A pixel whose brightest channel is at most this is black fill (JPEG leaves the padding of LFW's
#: deep-funnelled photos at 0-20).
BLACK_FILL = 24
#: A black border is cut off by a straight edge at least this share of the image's side long; beyond
#: the edge (away from the centre) at least BLACK_BEYOND_SHARE of the pixels are black fill.
BLACK_EDGE_SHARE = 0.08
BLACK_BEYOND_SHARE = 0.97
#: ... and the edge's line borders black along at least this share of its way across the frame.
BLACK_EDGE_CONTACT = 0.6


class NoFaceFoundWarning(UserWarning):
    """No face detected: the fallback framing was used."""


def detect_landmarks(image: np.ndarray, upsample: int = 1) -> np.ndarray | None:
    """uint8 greyscale or RGB image -> (5, 2) landmarks of the largest face, or None."""
    from ..identity import dlib_models

    dlib, detector, predictor, _ = dlib_models()
    rgb = np.ascontiguousarray(image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2))
    faces = detector(rgb, upsample)
    if not len(faces):
        return None
    box = max(faces, key=lambda r: r.width() * r.height())
    shape = predictor(rgb, box)
    return np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], dtype=np.float64)


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity (rotation, uniform scale, translation) mapping source points to target."""
    matrix, _ = cv2.estimateAffinePartial2D(source.astype(np.float32), target.astype(np.float32), method=cv2.LMEDS)
    if matrix is None:
        raise ValueError("landmarks are degenerate; cannot estimate a similarity transform")
    return matrix


@dataclass
class AlignedFace:
    image: np.ndarray
    """size x size (x3) uint8."""
    matrix: np.ndarray | None
    """2x3 transform from input to output pixels; None when the fallback framing was used."""
    landmarks: np.ndarray | None
    """Detected landmarks in input coordinates."""

    @property
    def found(self) -> bool:
        return self.matrix is not None


def fill_black_border(photo: np.ndarray) -> np.ndarray:
    """A photo (uint8 RGB) with black padding along its edges painted in from the picture next to it
    (OpenCV's Telea inpainting).

    LFW's deep-funnelled photos (93 % of them) and some FS2K, CUFS and UTKFace photos were rotated or
    padded with black; aligned, the black shows as wedges in the corners, and a composite built on
    such a photo has them too: the exemplar bank's photos are filled (``scripts/build_exemplar_bank.py``).
    Prepared training and benchmark photos are not: the published figures were measured on them as
    they are. Black fill is told from a dark background by its shape: it is cut off by a long straight
    edge with nothing but black beyond it, where a background ends at a head's curve. Whatever is left
    black (a dark background) is kept as it is.
    """
    fill = _black_fill(photo)
    if fill is None:
        return photo
    # one pixel more: the fill's edge is a blend of black and picture
    mask = cv2.dilate(fill.astype(np.uint8), np.ones((3, 3), np.uint8))
    return cv2.inpaint(np.ascontiguousarray(photo), mask, 5, cv2.INPAINT_TELEA)


def _black_fill(photo: np.ndarray) -> np.ndarray | None:
    """Where ``photo`` is black fill (``fill_black_border``), as a boolean mask, or None."""
    height, width = photo.shape[:2]
    black = photo.max(axis=2) <= BLACK_FILL
    _, labels = cv2.connectedComponents(black.astype(np.uint8), connectivity=8)
    touching = np.unique(np.r_[labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    at_edge = np.isin(labels, touching[touching > 0])
    if not at_edge.any():
        return None
    outline = cv2.morphologyEx(at_edge.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    shortest = max(8, int(BLACK_EDGE_SHARE * max(height, width)))
    edges = cv2.HoughLinesP(outline * 255, 1, np.pi / 360, threshold=int(0.8 * shortest),
                            minLineLength=shortest, maxLineGap=3)
    if edges is None:
        return None
    ys, xs = np.mgrid[:height, :width]
    centre = ((width - 1) / 2, (height - 1) / 2)
    near_outline = cv2.dilate(outline, np.ones((3, 3), np.uint8)).astype(bool)
    fill = np.zeros((height, width), bool)
    for x1, y1, x2, y2 in edges[:, 0].astype(np.float64):
        length = np.hypot(x2 - x1, y2 - y1)
        # a rotated or shifted photo's edge runs straight across the frame; a head's curve meets its
        # tangent over a short stretch only
        along = np.array([x2 - x1, y2 - y1]) / length * 4 * max(height, width)
        inside, start, end = cv2.clipLine((0, 0, width, height), tuple(int(v) for v in (x1, y1) - along),
                                          tuple(int(v) for v in (x2, y2) + along))
        steps = np.linspace(0.0, 1.0, max(2, int(np.hypot(end[0] - start[0], end[1] - start[1]))))
        chord_x = np.clip(np.round(start[0] + steps * (end[0] - start[0])).astype(int), 0, width - 1)
        chord_y = np.clip(np.round(start[1] + steps * (end[1] - start[1])).astype(int), 0, height - 1)
        if not inside or near_outline[chord_y, chord_x].mean() < BLACK_EDGE_CONTACT:
            continue
        normal = np.array([y2 - y1, x1 - x2]) / length
        if (centre[0] - x1) * normal[0] + (centre[1] - y1) * normal[1] > 0:
            normal = -normal  # pointing away from the centre
        distance = (xs - x1) * normal[0] + (ys - y1) * normal[1]
        beyond = distance > 2
        if beyond.sum() < 0.002 * height * width or black[beyond].mean() < BLACK_BEYOND_SHARE:
            continue
        fill |= (distance > -2) & at_edge
    return fill if fill.any() else None


def align_face(source: ImageInput, size: int = CANONICAL_SIZE, kind: str = "photo",
               landmarks: np.ndarray | None = None, name: str | None = None) -> AlignedFace:
    """Warp a photo (RGB, border replicated) or sketch (greyscale, white border) to the canonical geometry.

    Args:
        kind: "photo" or "sketch" (decides colour and how the border is filled).
        landmarks: (5, 2) points to use instead of detecting.
        name: how warnings refer to the input (default: its path when given one).
    """
    if kind not in ("photo", "sketch"):
        raise ValueError(f"kind must be photo or sketch, got {kind!r}")
    image = load_image(source)
    pixels = to_rgb(image) if kind == "photo" else to_grayscale(image)
    if landmarks is None:
        landmarks = detect_landmarks(pixels)
    if landmarks is None:
        label = name or (str(source) if isinstance(source, (str,)) or hasattr(source, "__fspath__") else "image")
        warnings.warn(f"{label}: no face found; using the centred pad-and-resize framing instead",
                      NoFaceFoundWarning, stacklevel=2)
        square, _ = pad_to_square(pixels, fill="edge" if kind == "photo" else 255)
        return AlignedFace(resize(square, (size, size)), None, None)
    target = CANONICAL_LANDMARKS_256 * (size / CANONICAL_SIZE)
    matrix = similarity_transform(landmarks, target)
    if kind == "photo":
        warped = cv2.warpAffine(pixels, matrix, (size, size), flags=cv2.INTER_AREA if matrix[0, 0] < 1 else cv2.INTER_CUBIC,
                                borderMode=cv2.BORDER_REPLICATE)
    else:
        warped = cv2.warpAffine(pixels, matrix, (size, size), flags=cv2.INTER_AREA if matrix[0, 0] < 1 else cv2.INTER_CUBIC,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    return AlignedFace(warped, matrix, landmarks)


def measure_template(folder: str, size: int = CANONICAL_SIZE) -> tuple[np.ndarray, int, int]:
    """Mean landmarks of the photos in ``folder`` after pad-to-square and resize to ``size``."""
    from pathlib import Path


    points, total = [], 0
    for path in sorted(Path(folder).iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        total += 1
        found = detect_landmarks(prepare_photo(path, size)[0])
        if found is not None:
            points.append(found)
    return np.mean(points, axis=0), len(points), total


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure the canonical landmark template from a photo folder.")
    parser.add_argument("--measure", required=True, help="folder of aligned photos (e.g. CUFS train photos)")
    args = parser.parse_args()
    template, found, total = measure_template(args.measure)
    print(f"faces found in {found} of {total} photos; mean 5-point landmarks at {CANONICAL_SIZE}x{CANONICAL_SIZE}:")
    print(np.array2string(template, precision=2, separator=", "))


if __name__ == "__main__":
    main()
