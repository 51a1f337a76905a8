"""Augmentation of training pairs: the same geometric change for sketch and photo, changes to the
sketch alone (stroke width, darkness, paper, erased face parts) and the facial regions they use."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .align import CANONICAL_LANDMARKS_256, CANONICAL_SIZE


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


def photographed(drawing: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A drawing on white paper (uint8 greyscale) as a phone photographs it under room light: light
    falling off from a random side with a vignette (bare paper between about 150 and 215), sensor
    noise, a slight blur and JPEG compression. What ``transforms.whiten_paper`` undoes."""
    height, width = drawing.shape
    y, x = np.mgrid[0:height, 0:width].astype(np.float32) / max(height, width)
    angle = rng.uniform(0, 2 * np.pi)
    across = (x - 0.5) * np.cos(angle) + (y - 0.5) * np.sin(angle)  # -0.7..0.7 towards the light
    vignette = (x - 0.5) ** 2 + (y - 0.5) ** 2
    light = rng.uniform(0.68, 0.78) + rng.uniform(0.12, 0.25) * across - rng.uniform(0.15, 0.35) * vignette
    noisy = drawing.astype(np.float32) * light + rng.normal(0, rng.uniform(2, 4), drawing.shape)
    blurred = cv2.GaussianBlur(np.clip(noisy, 0, 255).astype(np.uint8), (0, 0), rng.uniform(0.5, 0.9))
    _, encoded = cv2.imencode(".jpg", blurred, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 90))])
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)


def in_pencil(drawing: np.ndarray, ink: int) -> np.ndarray:
    """A drawing on white paper (uint8 greyscale) as a hard pencil or a grey pen draws it: its darkest
    ink at grey level ``ink``, everything else lightened in proportion. What
    ``transforms.strengthen_lines`` undoes."""
    if not 0 <= ink < 255:
        raise ValueError(f"ink must be a grey level in [0, 255), got {ink}")
    darkness = (255.0 - drawing.astype(np.float32)) * (255 - ink) / 255
    return np.clip(255.0 - darkness + 0.5, 0, 255).astype(np.uint8)
