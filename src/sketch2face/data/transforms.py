"""Image <-> array conversions: reading any image mode, padding to the model's square frame,
and the one pair of functions that maps pixels to the model's [-1, 1] range and back."""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ImageInput = Union[str, os.PathLike, bytes, Image.Image, np.ndarray]

#: Largest image we agree to decode (pixels). Larger files are refused before decoding, which also
#: stops decompression bombs; 50 MP covers any scanned sketch.
MAX_INPUT_PIXELS = 50_000_000
#: File suffixes read as images when a folder is named.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
PAPER_WHITE = 255


class InputImageError(ValueError):
    """An input that is not a readable image; the message names the input and the reason."""


def _describe(source: ImageInput) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    if isinstance(source, np.ndarray):
        return f"<array {source.shape} {source.dtype}>"
    return f"<{type(source).__name__}>"


def load_image(source: ImageInput, max_pixels: int | None = None) -> Image.Image:
    """Open a path, encoded bytes, PIL image or NumPy array as a fully decoded PIL image.

    Raises:
        InputImageError: not an image, truncated, too large, or an unsupported array.
    """
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return _array_to_image(source)
    name = _describe(source)
    try:
        if isinstance(source, bytes):
            handle = io.BytesIO(source)
        else:
            path = Path(source)
            if not path.is_file():
                raise InputImageError(f"{name}: no such file")
            handle = path.open("rb")
        with handle:
            image = Image.open(handle)
            limit = MAX_INPUT_PIXELS if max_pixels is None else max_pixels
            if image.width * image.height > limit:
                raise InputImageError(
                    f"{name}: image is {image.width}x{image.height}, more than the "
                    f"{limit / 1_000_000:g} megapixel limit"
                )
            image.load()  # decode now so a truncated file fails here, not later
            image = ImageOps.exif_transpose(image)
    except InputImageError:
        raise
    except UnidentifiedImageError:
        raise InputImageError(f"{name}: not an image file (format not recognised)") from None
    except Image.DecompressionBombError as error:
        raise InputImageError(f"{name}: refused, image too large ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise InputImageError(f"{name}: cannot decode image ({error})") from None
    return image


def _array_to_image(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise InputImageError(f"{_describe(array)}: expected HxW, HxWx1, HxWx3 or HxWx4")
    if array.size == 0:
        raise InputImageError(f"{_describe(array)}: empty array")
    if array.dtype == np.uint8:
        return Image.fromarray(array)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise InputImageError(f"{_describe(array)}: contains NaN or infinity")
        # floats are taken as [0, 1] images (the usual convention); values outside are clipped
        return Image.fromarray((np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    if array.dtype == np.uint16:
        return Image.fromarray((array.astype(np.float32) / 257.0 + 0.5).astype(np.uint8))
    if array.dtype == np.bool_:
        return Image.fromarray(array.astype(np.uint8) * 255)
    raise InputImageError(f"{_describe(array)}: unsupported dtype {array.dtype}")


def to_grayscale(image: Image.Image) -> np.ndarray:
    """Any PIL mode -> HxW uint8, transparent areas becoming white paper."""
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        image = image.convert("RGBA")
        paper = Image.new("RGBA", image.size, (PAPER_WHITE,) * 4)
        image = Image.alpha_composite(paper, image).convert("L")
        return np.asarray(image, dtype=np.uint8)
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # high-bit-depth scans: stretch the used range to 8 bits rather than clip at 255
        values = np.asarray(image, dtype=np.float32)
        low, high = float(values.min()), float(values.max())
        if high <= low:
            return np.full(values.shape, PAPER_WHITE if high > 0 else 0, dtype=np.uint8)
        return ((values - low) / (high - low) * 255.0 + 0.5).astype(np.uint8)
    if mode == "1":
        image = image.convert("L")
    if mode == "CMYK" or mode == "YCbCr" or mode == "LAB" or mode == "HSV":
        image = image.convert("RGB")
    return np.asarray(image.convert("L"), dtype=np.uint8)


#: A drawing whose brightest paper (the 95th percentile of its blocks' brightness) reaches this is on
#: white paper and left alone: every CUFS and FS2K sketch's does (232-255), a drawing photographed
#: under room light does not (``whiten_paper``).
WHITE_PAPER = 225
#: The share of blocks that must be bare paper (or thin lines) for the paper's fitted illumination to
#: be trusted over shading (``whiten_paper``).
LINE_DRAWING_PAPER = 0.85
#: Grey levels a block may fall below the fitted paper and still be bare paper (noise, grain, a thin
#: line); blocks further below hold ink or shading.
PAPER_TOLERANCE = 12.0
#: Blocks per side in which the paper's brightness is sampled, on a copy at most this large.
PAPER_BLOCKS = 16
PAPER_SAMPLED = 512


def _quadratic_terms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)


class Paper(NamedTuple):
    illumination: np.ndarray
    """The bare paper's brightness everywhere (float32, the drawing's size)."""
    brightest: float
    """The 95th percentile of the blocks' brightness."""
    share: float
    """The share of blocks that the fitted illumination explains: bare paper, or thin lines on it."""


def _paper_levels(grey: np.ndarray) -> np.ndarray:
    """Each block's bright end (90th percentile), (rows, cols), on a copy at most PAPER_SAMPLED px on
    its long side: light varies slowly."""
    height, width = grey.shape
    scale = min(1.0, PAPER_SAMPLED / max(height, width))
    small = grey if scale == 1.0 else np.asarray(Image.fromarray(grey).resize(
        (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BOX))
    block = max(1, min(small.shape) // PAPER_BLOCKS)
    rows, cols = max(1, small.shape[0] // block), max(1, small.shape[1] // block)
    tiles = small[:rows * block, :cols * block].reshape(rows, block, cols, block).astype(np.float32)
    return np.percentile(tiles, 90, axis=(1, 3))


def paper_illumination(grey: np.ndarray, levels: np.ndarray | None = None) -> Paper:
    """The brightness of the bare paper under a drawing (``levels``: its ``_paper_levels``, when known).

    Each block's bright end is the paper's brightness there unless the block is full of ink; a
    quadratic surface is fitted to them and refitted without the blocks that fall more than
    PAPER_TOLERANCE below it, so uneven light (a window on one side, a phone's vignette) is followed
    and strokes and shading are not."""
    grid = _paper_levels(grey) if levels is None else levels
    rows, cols = grid.shape
    levels = grid.ravel()
    y, x = np.mgrid[0:rows, 0:cols]
    terms = _quadratic_terms((x.ravel() + 0.5) / cols * 2 - 1, (y.ravel() + 0.5) / rows * 2 - 1)
    keep = np.ones(len(levels), bool)
    for _ in range(4):
        coefficients, *_ = np.linalg.lstsq(terms[keep], levels[keep], rcond=None)
        keep = levels - terms @ coefficients > -PAPER_TOLERANCE
        if keep.sum() < terms.shape[1]:  # (almost) no bare paper: fit the bright end alone
            keep = levels >= np.percentile(levels, 75)
    surface = np.clip((terms @ coefficients).reshape(rows, cols), 1.0, 255.0).astype(np.float32)
    height, width = grey.shape
    full = np.asarray(Image.fromarray(surface, mode="F").resize((width, height), Image.Resampling.BILINEAR))
    return Paper(full, float(np.percentile(levels, 95)), float(keep.mean()))


def whiten_paper(grey: np.ndarray) -> np.ndarray:
    """A drawing photographed on grey or unevenly lit paper -> the same drawing on white paper.
    Without it the grey paper reads as shading, and a line drawing is taken for a pencil portrait
    and traced. A drawing that is mostly bare paper (lines) is divided by the paper's fitted
    illumination (a flat-field correction: uneven light goes too); one whose shading covers much of
    the paper, where light and shading cannot be told apart, by its brightest paper (levels: shading
    kept in proportion). Drawings that have white paper somewhere (scans, the canvas, every artist's
    sketch in CUFS and FS2K) are returned as they are, before any fitting: every input passes here."""
    if min(grey.shape) < PAPER_BLOCKS:  # too small to tell light from ink
        return grey
    levels = _paper_levels(grey)
    if np.percentile(levels, 95) >= WHITE_PAPER:
        return grey
    paper = paper_illumination(grey, levels)
    white = paper.illumination if paper.share >= LINE_DRAWING_PAPER else paper.brightest
    return np.clip(grey.astype(np.float32) / white * PAPER_WHITE + 0.5, 0, 255).astype(np.uint8)


#: Ruled or squared paper (``erase_ruled_lines``): printed lines straight across at least RULE_SPAN of the
#: drawing's width (or height), within RULE_TILT degrees of level (or upright), at least RULE_CONTRAST grey
#: levels below the paper, with paper on both sides RULE_HALF_WIDTH of the long side away (thin), and at
#: least RULE_COUNT of them in one direction: a page's rules come in families, a drawn line does not.
RULE_SPAN = 0.6
RULE_TILT = 3.0
RULE_CONTRAST = 20
RULE_HALF_WIDTH = 0.006
RULE_COUNT = 3
RULE_MIN_SIDE = 32
#: Rules are found on a copy at most this many pixels on its long side (a ruled page of 12 MP in
#: 0.15 s).
RULE_SAMPLED = 1024


def erase_ruled_lines(grey: np.ndarray) -> np.ndarray:
    """A drawing on ruled or squared paper (a notebook page, its margin line) -> the same drawing on plain
    paper. The printed lines are long, straight, thin and parallel, which a face's strokes are not; left
    in, they read as shading, and the portrait model traces the drawing with its stripes. Where a stroke
    crosses a rule and is clearly darker than the rule, the stroke is kept. A drawing without such lines
    is returned as it is."""
    import cv2

    height, width = grey.shape
    if min(height, width) < RULE_MIN_SIDE:  # no room for a family of rules
        return grey
    scale = min(1.0, RULE_SAMPLED / max(height, width))
    small = grey if scale == 1.0 else cv2.resize(grey, (max(1, round(width * scale)), max(1, round(height * scale))),
                                                  interpolation=cv2.INTER_AREA)
    paper = float(np.percentile(small, 90))  # on the copy: a 50 MP scan's percentile alone takes a second
    ink = (small < paper - RULE_CONTRAST).astype(np.uint8)
    rows, cols = small.shape
    # a page's rules run from edge to edge; most drawings leave the edges bare (12 ms of Hough saved)
    margin = max(1, min(rows, cols) // 10)
    if not ((ink[:, :margin].any() and ink[:, -margin:].any()) or (ink[:margin].any() and ink[-margin:].any())):
        return grey
    half = max(1, int(round(RULE_HALF_WIDTH * max(rows, cols))))
    found = cv2.HoughLinesP(ink * 255, 1, np.pi / 360, threshold=int(RULE_SPAN * min(rows, cols) * 0.5),
                            minLineLength=int(RULE_SPAN * min(rows, cols)), maxLineGap=max(3, 2 * half))
    if found is None:
        return grey
    rules: dict[str, list[np.ndarray]] = {"level": [], "upright": []}
    for x1, y1, x2, y2 in found[:, 0].astype(np.float64):
        angle = np.degrees(np.arctan2(y2 - y1, x2 - x1)) % 180
        direction = "level" if min(angle, 180 - angle) <= RULE_TILT else "upright" if abs(angle - 90) <= RULE_TILT else None
        if direction is None:
            continue
        # thin: paper on both sides, a little beyond the rule's width, for most of its length
        length = np.hypot(x2 - x1, y2 - y1)
        normal = np.array([y1 - y2, x2 - x1]) / length
        steps = np.linspace(0.0, 1.0, max(2, int(length) // 4))
        along = np.stack([x1 + steps * (x2 - x1), y1 + steps * (y2 - y1)], axis=1)
        beside = np.concatenate([along + normal * (2 * half + 1), along - normal * (2 * half + 1)])
        bx = np.clip(np.round(beside[:, 0]).astype(int), 0, cols - 1)
        by = np.clip(np.round(beside[:, 1]).astype(int), 0, rows - 1)
        if ink[by, bx].mean() <= 0.3:
            rules[direction].append(np.array([x1, y1, x2, y2]) / scale)
    if max(len(found_lines) for found_lines in rules.values()) < RULE_COUNT:
        return grey
    band = np.zeros((height, width), np.uint8)
    thickness = max(1, int(round((2 * half + 1) / scale)))
    for x1, y1, x2, y2 in rules["level"] + rules["upright"]:
        # across the whole drawing: a rule is broken where strokes cross it, a page's rule is not
        direction = np.array([x2 - x1, y2 - y1]) / np.hypot(x2 - x1, y2 - y1) * 2 * max(height, width)
        start, end = np.array([x1, y1]) - direction, np.array([x2, y2]) + direction
        cv2.line(band, tuple(int(v) for v in start.round()), tuple(int(v) for v in end.round()), 1, thickness)
    on_rules = (band > 0) & (grey < paper - RULE_CONTRAST)
    rule_grey = float(np.median(grey[on_rules])) if on_rules.any() else 0.0
    # a stroke crossing a rule: well darker than the rule's own grey
    erase = on_rules & (grey >= rule_grey - 2 * RULE_CONTRAST)
    cleaned = grey.copy()
    cleaned[erase] = int(round(paper))
    return cleaned


#: Grey levels at or above this are bare paper to ``strengthen_lines``: whitening leaves a photographed
#: paper's grain a few levels below white, and darkening or thickening would turn it into strokes.
LINE_PAPER = 240
#: A drawing whose darkest ink (the 1st percentile of its non-paper pixels) is lighter than this was
#: drawn faintly (a hard pencil, a grey pen, a light scan) and is darkened in proportion until its darkest
#: ink is at this grey: as dark as the freehand training procedures' lightest pen (they draw with 0-90),
#: and no darker, so that a faint pencil portrait's shading stays mid-grey, read as shading (of 100 CUFS
#: test and FS2K sketches lightened to ink 160, darkened to black 38 were read as lines, to this grey 4;
#: as drawn, 3 are: E29).
STRENGTHENED_INK = 80


def strengthen_lines(square: np.ndarray, size: int) -> np.ndarray:
    """A square drawing (uint8) -> size x size, its lines as dark and as wide as a pen on the canvas draws
    them. Shrinking a large scan turns a thin pencil line into a faint grey one, and a faint line reads
    as shading (``pipeline.drawing_kind``: the drawing would go to the portrait model, which traces it)
    and as paper (``fidelity.distance_field``: the composer would lose it). So bare paper (LINE_PAPER and
    above) is made white, faint ink is darkened (to STRENGTHENED_INK), and before shrinking by k >= 2
    every line is widened by 2k - 2 pixels (a minimum filter), so that it still covers a whole pixel
    after shrinking. For line drawings only: the pipeline judges the kind on this and gives portraits
    their plain copy."""
    lines = np.where(square >= LINE_PAPER, PAPER_WHITE, square).astype(np.uint8)
    ink = lines[lines < LINE_PAPER]
    darkest = float(np.percentile(ink, 1)) if ink.size else 0.0
    if darkest > STRENGTHENED_INK:
        darkness = (PAPER_WHITE - lines.astype(np.float32)) * (PAPER_WHITE - STRENGTHENED_INK) / (PAPER_WHITE - darkest)
        lines = np.clip(PAPER_WHITE - darkness + 0.5, 0, 255).astype(np.uint8)
    widen = int(round(square.shape[0] / size))
    if widen >= 2:
        import cv2

        lines = cv2.erode(lines, np.ones((2 * widen - 1, 2 * widen - 1), np.uint8))
    return resize(lines, (size, size))


def to_rgb(image: Image.Image) -> np.ndarray:
    """Any PIL mode -> HxWx3 uint8 (transparency over white)."""
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = image.convert("RGBA")
        paper = Image.new("RGBA", image.size, (PAPER_WHITE,) * 4)
        image = Image.alpha_composite(paper, image)
    elif image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return np.repeat(to_grayscale(image)[:, :, None], 3, axis=2)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


@dataclass(frozen=True)
class Frame:
    """Where the original image sits inside the padded square, for cropping the output back."""

    height: int
    width: int
    top: int
    left: int
    side: int


def pad_to_square(array: np.ndarray, fill: int | str = PAPER_WHITE) -> tuple[np.ndarray, Frame]:
    """Centre an HxW(xC) image in a square canvas; ``fill`` is a grey value or "edge" (replicate)."""
    height, width = array.shape[:2]
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    pads = [(top, side - height - top), (left, side - width - left)] + [(0, 0)] * (array.ndim - 2)
    if fill == "edge":
        padded = np.pad(array, pads, mode="edge")
    else:
        padded = np.pad(array, pads, mode="constant", constant_values=int(fill))
    return padded, Frame(height, width, top, left, side)


def resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize uint8 HxW(xC) to (width, height) with area averaging when shrinking, bicubic when enlarging."""
    import cv2

    width, height = size
    if (array.shape[1], array.shape[0]) == (width, height):
        return array
    shrinking = width < array.shape[1] or height < array.shape[0]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(array, (width, height), interpolation=interpolation)


def square_region(array: np.ndarray, left: int, top: int, side: int, fill: int = PAPER_WHITE
                  ) -> tuple[np.ndarray, Frame]:
    """The side x side square of ``array`` whose top-left corner is (left, top), which may reach past
    the image (filled with ``fill``): how a drawing found off centre is brought to the model's framing."""
    import cv2

    height, width = array.shape[:2]
    pads = (max(0, -top), max(0, top + side - height), max(0, -left), max(0, left + side - width))
    padded = cv2.copyMakeBorder(np.ascontiguousarray(array), *pads, cv2.BORDER_CONSTANT, value=fill)
    y, x = top + pads[0], left + pads[2]
    return padded[y:y + side, x:x + side], Frame(height, width, -top, -left, side)


def crop_to_frame(square: np.ndarray, frame: Frame) -> np.ndarray:
    """Inverse of ``pad_to_square`` (or ``square_region``) followed by a resize: map a square output
    back to the input's frame. Parts of the frame the square does not cover repeat its border."""
    import cv2

    full = resize(square, (frame.side, frame.side))
    top, left = frame.top, frame.left
    pads = (max(0, -top), max(0, top + frame.height - frame.side),
            max(0, -left), max(0, left + frame.width - frame.side))
    if any(pads):
        full = cv2.copyMakeBorder(np.ascontiguousarray(full), *pads, cv2.BORDER_REPLICATE)
        top, left = top + pads[0], left + pads[2]
    return full[top : top + frame.height, left : left + frame.width]


def to_model_range(pixels: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1]. The only place pixels enter the model's range."""
    return pixels.astype(np.float32) / 127.5 - 1.0


def style_planes(style_ids: np.ndarray | list[int], n_styles: int, size: int) -> np.ndarray:
    """One-hot style conditioning: (N,) style indices -> (N, n_styles, size, size) float32 planes,
    1 on the chosen style's plane and -1 elsewhere (the model's [-1, 1] input range)."""
    ids = np.asarray(style_ids, dtype=np.int64)
    planes = np.full((len(ids), n_styles, size, size), -1.0, dtype=np.float32)
    planes[np.arange(len(ids)), ids] = 1.0
    return planes


def from_model_range(values: np.ndarray) -> np.ndarray:
    """float [-1, 1] (any shape) -> uint8 [0, 255], clipping and rounding. The only way back."""
    return (np.clip((np.asarray(values, dtype=np.float32) + 1.0) * 127.5, 0.0, 255.0) + 0.5).astype(np.uint8)


def prepare_sketch(image: ImageInput, size: int) -> np.ndarray:
    """Any sketch image -> size x size uint8 greyscale, padded with white paper (never stretched)."""
    square, _ = pad_to_square(to_grayscale(load_image(image)), fill=255)
    return resize(square, (size, size))


def prepare_photo(image: ImageInput, size: int) -> tuple[np.ndarray, Frame]:
    """Any photo -> size x size x 3 uint8, padded by repeating the border (never stretched), and the
    frame that maps a result back to the photo's own size (``crop_to_frame``)."""
    square, frame = pad_to_square(to_rgb(load_image(image)), fill="edge")
    return resize(square, (size, size)), frame
